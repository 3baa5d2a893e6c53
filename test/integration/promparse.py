"""A strict parser of the Prometheus text exposition format 0.0.4 (stdlib only).

    import promparse
    fams = promparse.parse(text)
    fams["slate_jobs_total"] == {
        "type": "counter", "help": "Jobs finished.",
        "samples": [("slate_jobs_total", {"type": "sync", "status": "ok"}, 3.0), ...]}
    promparse.value(fams, "slate_jobs_total", type="sync", status="ok") == 3.0

It follows the grammar of Prometheus's own parser (expfmt's text_parse.go):
blanks and tabs between tokens, "# HELP name docstring" (escapes \\ and \\n),
"# TYPE name counter|gauge|histogram|summary|untyped", other "#" lines are
comments, empty lines are ignored, samples are `name{label="value",...} value
[timestamp]` with label-value escapes \\\\, \\" and \\n only, values as Go's
ParseFloat reads them (NaN, +Inf, -Inf included).  It is stricter than
Prometheus where our tests want to catch mistakes, and raises ParseError for:

- a malformed line, a bad name, a bad escape, a value or timestamp that does
  not parse, text that does not end with a newline;
- a sample whose family has no TYPE line before it (Prometheus would take it
  as untyped), a HELP or TYPE line repeated or after the family's samples, a
  family whose lines are not contiguous, a HELP without a TYPE;
- the same series twice (name and label set), a label name twice in one
  sample, the reserved label name __name__;
- a negative counter; a sample name that does not belong to its family's type
  (only name_bucket, name_sum, name_count in a histogram);
- histograms: a _bucket without a parseable `le`, `le` not increasing in the
  order written, counts that decrease (not cumulative), no le="+Inf" bucket,
  a missing _sum or _count, _count different from the +Inf bucket;
- summaries: a quantile sample without a `quantile` in [0, 1], a missing
  _sum or _count.

Timestamps are checked and dropped.  Values are Python floats.
"""
import math
import re

__all__ = ["ParseError", "parse", "value", "series"]

TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Go's strconv.ParseFloat, without hex floats and underscores (no exporter
# writes them): decimal, optional exponent; Inf/Infinity/NaN in any case.
FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?i:inf|infinity)|(?i:nan)")
TIMESTAMP = re.compile(r"-?\d+")
BLANKS = " \t"


class ParseError(ValueError):
    pass


def _parse_float(tok, lineno):
    if not FLOAT.fullmatch(tok):
        raise ParseError(f"line {lineno}: {tok!r} is not a number")
    return float(tok)


class _Line:
    """A cursor over one line."""

    def __init__(self, text, lineno):
        self.s = text
        self.i = 0
        self.lineno = lineno

    def error(self, msg):
        raise ParseError(f"line {self.lineno}: {msg}: {self.s!r}")

    def blanks(self):
        start = self.i
        while self.i < len(self.s) and self.s[self.i] in BLANKS:
            self.i += 1
        return self.i > start

    def at_end(self):
        return self.i >= len(self.s)

    def peek(self):
        return self.s[self.i] if self.i < len(self.s) else ""

    def match(self, regex, what):
        m = regex.match(self.s, self.i)
        if not m:
            self.error(f"expected {what}")
        self.i = m.end()
        return m.group(0)

    def token(self):
        start = self.i
        while self.i < len(self.s) and self.s[self.i] not in BLANKS:
            self.i += 1
        return self.s[start:self.i]

    def escaped(self, until, escapes):
        """Reads up to (not including) `until` (None: the end of the line),
        translating the escapes allowed."""
        out = []
        while True:
            if self.at_end():
                if until is None:
                    return "".join(out)
                self.error("unterminated label value")
            c = self.s[self.i]
            if c == until:
                return "".join(out)
            self.i += 1
            if c == "\\":
                if self.at_end() or self.s[self.i] not in escapes:
                    self.error("invalid escape sequence")
                out.append(escapes[self.s[self.i]])
                self.i += 1
            else:
                out.append(c)


class _Family:
    def __init__(self, name):
        self.name = name
        self.type = None
        self.help = None
        self.samples = []


def _family_of(fam, name):
    """Whether sample `name` belongs to family `fam` (by the family's type)."""
    if fam is None or fam.type is None:
        return False
    if name == fam.name:
        return True
    if fam.type == "histogram":
        return name in (fam.name + "_bucket", fam.name + "_sum", fam.name + "_count")
    if fam.type == "summary":
        return name in (fam.name + "_sum", fam.name + "_count")
    return False


def _parse_sample(line, lineno):
    ln = _Line(line, lineno)
    ln.blanks()
    name = ln.match(METRIC_NAME, "a metric name")
    labels = {}
    if ln.peek() == "{":
        ln.i += 1
        while True:
            ln.blanks()
            if ln.peek() == "}":
                ln.i += 1
                break
            lname = ln.match(LABEL_NAME, "a label name")
            if lname == "__name__":
                ln.error("label name __name__ is reserved")
            if lname in labels:
                ln.error(f"label {lname} repeated")
            ln.blanks()
            if ln.peek() != "=":
                ln.error("expected '='")
            ln.i += 1
            ln.blanks()
            if ln.peek() != '"':
                ln.error("expected '\"'")
            ln.i += 1
            labels[lname] = ln.escaped('"', {"\\": "\\", '"': '"', "n": "\n"})
            ln.i += 1
            ln.blanks()
            if ln.peek() == ",":
                ln.i += 1
            elif ln.peek() != "}":
                ln.error("expected ',' or '}'")
        ln.blanks()
    elif not ln.blanks():
        ln.error("expected a blank after the metric name")
    if ln.at_end():
        ln.error("no value")
    v = _parse_float(ln.token(), lineno)
    ln.blanks()
    if not ln.at_end():
        ts = ln.token()
        if not TIMESTAMP.fullmatch(ts) or not -(2**63) <= int(ts) < 2**63:
            ln.error("bad timestamp")
        ln.blanks()
        if not ln.at_end():
            ln.error("junk after the timestamp")
    return name, labels, v


def _check_histogram(fam):
    groups = {}
    for name, labels, v in fam.samples:
        if name == fam.name:
            raise ParseError(f"histogram {fam.name}: a plain sample {name}")
        rest = {k: x for k, x in labels.items() if k != "le"}
        key = tuple(sorted(rest.items()))
        g = groups.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if name.endswith("_bucket"):
            if "le" not in labels:
                raise ParseError(f"histogram {fam.name}: a bucket without le")
            le = labels["le"]
            if not FLOAT.fullmatch(le):
                raise ParseError(f"histogram {fam.name}: le={le!r} is not a number")
            le = float(le)
            if math.isnan(le):
                raise ParseError(f"histogram {fam.name}: le=NaN")
            if math.isnan(v) or v < 0:
                raise ParseError(f"histogram {fam.name}: bucket count {v}")
            g["buckets"].append((le, v))
        else:
            if "le" in labels:
                raise ParseError(f"histogram {fam.name}: le on {name}")
            g["sum" if name.endswith("_sum") else "count"] = v
    for key, g in groups.items():
        where = f"histogram {fam.name}{dict(key)}"
        b = g["buckets"]
        for (le0, c0), (le1, c1) in zip(b, b[1:]):
            if not le1 > le0:
                raise ParseError(f"{where}: le not increasing ({le0} then {le1})")
            if c1 < c0:
                raise ParseError(f"{where}: buckets not cumulative ({c0} then {c1})")
        if not b or b[-1][0] != math.inf:
            raise ParseError(f"{where}: no le=\"+Inf\" bucket")
        if g["sum"] is None:
            raise ParseError(f"{where}: no _sum")
        if g["count"] is None:
            raise ParseError(f"{where}: no _count")
        if g["count"] != b[-1][1]:
            raise ParseError(f"{where}: _count {g['count']} != +Inf bucket {b[-1][1]}")


def _check_summary(fam):
    groups = {}
    for name, labels, v in fam.samples:
        rest = {k: x for k, x in labels.items() if k != "quantile"}
        g = groups.setdefault(tuple(sorted(rest.items())), {"sum": None, "count": None})
        if name == fam.name:
            q = labels.get("quantile")
            if q is None or not FLOAT.fullmatch(q) or not 0 <= float(q) <= 1:
                raise ParseError(f"summary {fam.name}: bad or missing quantile {q!r}")
        else:
            if "quantile" in labels:
                raise ParseError(f"summary {fam.name}: quantile on {name}")
            g["sum" if name.endswith("_sum") else "count"] = v
    for key, g in groups.items():
        if g["sum"] is None or g["count"] is None:
            raise ParseError(f"summary {fam.name}{dict(key)}: no _sum or _count")


def _close(fam):
    if fam is None:
        return
    if fam.type is None:
        raise ParseError(f"family {fam.name}: HELP without TYPE")
    if fam.type == "counter":
        for name, labels, v in fam.samples:
            if v < 0:
                raise ParseError(f"counter {name}{labels}: negative value {v}")
    elif fam.type == "histogram":
        _check_histogram(fam)
    elif fam.type == "summary":
        _check_summary(fam)


def parse(text):
    """Parses an exposition (str, or UTF-8 bytes); returns
    {family: {"type", "help", "samples": [(name, labels, value)]}} in the
    order of the text.  Raises ParseError."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise ParseError(f"not UTF-8: {e}") from None
    if text and not text.endswith("\n"):
        raise ParseError("the text does not end with a newline")
    families = {}
    seen_series = set()
    cur = None
    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        if any(ord(c) < 0x20 and c != "\t" for c in line) or "\x7f" in line:
            raise ParseError(f"line {lineno}: a control character: {line!r}")
        stripped = line.lstrip(BLANKS)
        if not stripped:
            continue
        if stripped.startswith("#"):
            ln = _Line(line, lineno)
            ln.blanks()
            ln.i += 1
            ln.blanks()
            keyword = ln.token()
            if keyword not in ("HELP", "TYPE"):
                continue  # a comment
            if not ln.blanks():
                ln.error(f"{keyword} without a metric name")
            name = ln.match(METRIC_NAME, "a metric name")
            if not ln.at_end() and not ln.blanks():
                ln.error("junk after the metric name")
            if cur is None or cur.name != name:
                if name in families:
                    ln.error(f"family {name} is not contiguous or repeated")
                _close(cur)
                cur = families[name] = _Family(name)
            if keyword == "HELP":
                if cur.help is not None:
                    ln.error("a second HELP")
                if cur.samples:
                    ln.error("HELP after samples")
                cur.help = ln.escaped(None, {"\\": "\\", "n": "\n"})
            else:
                if cur.type is not None:
                    ln.error("a second TYPE")  # also after samples: they need a TYPE
                t = ln.token()
                ln.blanks()
                if t not in TYPES or not ln.at_end():
                    ln.error("unknown type")
                cur.type = t
            continue
        name, labels, v = _parse_sample(line, lineno)
        if not _family_of(cur, name):
            for fam in families.values():
                if fam is not cur and _family_of(fam, name):
                    raise ParseError(f"line {lineno}: family {fam.name} is not contiguous")
            raise ParseError(f"line {lineno}: sample {name} without a TYPE line for its family")
        key = (name, frozenset(labels.items()))
        if key in seen_series:
            raise ParseError(f"line {lineno}: series {name}{labels} repeated")
        seen_series.add(key)
        cur.samples.append((name, labels, v))
    _close(cur)
    return {
        f.name: {"type": f.type, "help": f.help, "samples": f.samples}
        for f in families.values()
    }


def series(families, name):
    """Every (labels, value) of sample `name`, whichever family holds it."""
    out = []
    for fam in families.values():
        out.extend((labels, v) for n, labels, v in fam["samples"] if n == name)
    return out


def value(families, name, **labels):
    """The value of the one sample `name` with exactly these labels, or None."""
    for got, v in series(families, name):
        if got == labels:
            return v
    return None
