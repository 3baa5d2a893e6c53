"""The metrics endpoint (src/metrics/) from outside, and the promparse parser.

The server under test is `test_metrics serve ADDR` (the unit-test binary of
src/metrics/ in a second role): it registers a fixed set of metrics, prints
"listening on PORT", toggles /readyz on SIGUSR1 and exits 0 on SIGTERM once
every handle is closed (under ASan a leak makes the exit code non-zero).

promparse is tested here too: on the real output, on the examples of the
format's documentation, and on malformed texts it must refuse.
"""
import math
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

import promparse
from promparse import ParseError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("SLATE_BUILD_DIR", os.path.join(ROOT, "build"))
BIN = os.path.join(BUILD, "test", "test_metrics")
SLOW = 4 if os.environ.get("SLATE_SANITIZE") == "1" else 1
PROM_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def wait_for(pred, timeout=5.0, what="condition"):
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Server:
    def __init__(self, addr):
        if not os.path.exists(BIN):
            pytest.skip(f"{BIN} is not built")
        self.host = "::1" if addr.startswith("[") else "127.0.0.1"
        self.family = socket.AF_INET6 if addr.startswith("[") else socket.AF_INET
        self.proc = subprocess.Popen([BIN, "serve", addr], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("listening on "), (line, self.proc.stderr.read())
        self.port = int(line.split()[2])

    def connect(self):
        s = socket.socket(self.family, socket.SOCK_STREAM)
        s.settimeout(10 * SLOW)
        s.connect((self.host, self.port))
        return s

    def raw(self, data):
        """Sends `data`, reads until the server closes; returns the bytes."""
        with self.connect() as s:
            s.sendall(data)
            chunks = []
            while True:
                c = s.recv(65536)
                if not c:
                    return b"".join(chunks)
                chunks.append(c)

    def request(self, method, path, version="HTTP/1.1"):
        resp = self.raw(f"{method} {path} {version}\r\nHost: x\r\n\r\n".encode())
        return split_response(resp)

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("the server did not exit on SIGTERM")
        err = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return rc, err


def split_response(resp):
    head, sep, body = resp.partition(b"\r\n\r\n")
    assert sep, resp
    lines = head.decode("ascii").split("\r\n")
    version, status, _reason = lines[0].split(" ", 2)
    assert version == "HTTP/1.1"
    headers = {}
    for line in lines[1:]:
        k, v = line.split(": ", 1)
        assert k.lower() not in headers
        headers[k.lower()] = v
    return int(status), headers, body


@pytest.fixture
def server():
    srv = Server("127.0.0.1:0")
    yield srv
    rc, err = srv.stop()
    assert rc == 0, err


def scrape(srv):
    status, headers, body = srv.request("GET", "/metrics")
    assert status == 200
    assert headers["content-type"] == PROM_TYPE
    assert int(headers["content-length"]) == len(body)
    return promparse.parse(body)


# ---- the endpoint -------------------------------------------------------------


def test_metrics_parse_and_values(server):
    fams = scrape(server)
    assert list(fams) == sorted(fams), "families are sorted by name"
    v = promparse.value

    jobs = fams["test_jobs_total"]
    assert jobs["type"] == "counter"
    assert jobs["help"] == "Jobs finished, by type and status."
    assert v(fams, "test_jobs_total", type="sync", status="ok") == 3
    assert v(fams, "test_jobs_total", type="connect", status="failed") == 1
    # Escaped on the wire, the original bytes after parsing.
    assert v(fams, "test_jobs_total", type='we"ird\\type\nx', status="ok") == 2

    temp = fams["test_temperature"]
    assert temp["type"] == "gauge"
    assert temp["help"] == "A gauge with a fraction.\nSecond line \\."
    assert temp["samples"] == [("test_temperature", {}, -3.5)]

    h = fams["test_duration_seconds"]
    assert h["type"] == "histogram"
    buckets = [(labels["le"], c) for labels, c in
               promparse.series(fams, "test_duration_seconds_bucket")
               if labels["type"] == "sync"]
    assert buckets == [("0.1", 2), ("0.5", 3), ("1", 4), ("2.5", 5), ("+Inf", 6)]
    assert v(fams, "test_duration_seconds_count", type="sync") == 6
    assert v(fams, "test_duration_seconds_sum", type="sync") == pytest.approx(12.15)
    assert v(fams, "test_duration_seconds_count", type="evaluate") == 1
    assert v(fams, "test_duration_seconds_bucket", type="evaluate", le="0.1") == 0
    assert v(fams, "test_duration_seconds_bucket", type="evaluate", le="0.5") == 1

    # max_series 3: the two oldest of five were evicted.
    kept = sorted(labels["integration"] for labels, _ in
                  promparse.series(fams, "test_per_integration"))
    assert kept == ["int-3", "int-4", "int-5"]

    assert v(fams, "test_big", k="int53") == 2**53
    assert v(fams, "test_big", k="huge") == 1e300
    assert v(fams, "test_big", k="tiny") == 1e-300
    assert v(fams, "test_big", k="third") == 1 / 3  # exact round trip
    assert math.isnan(v(fams, "test_big", k="nan"))
    assert v(fams, "test_big", k="inf") == math.inf
    assert v(fams, "test_big", k="ninf") == -math.inf


def test_exact_text_of_numbers(server):
    _, _, body = server.request("GET", "/metrics")
    text = body.decode()
    assert 'test_big{k="int53"} 9007199254740992\n' in text
    assert 'test_big{k="third"} 0.3333333333333333\n' in text
    assert 'test_big{k="nan"} NaN\n' in text
    assert 'test_big{k="inf"} +Inf\n' in text
    assert 'test_big{k="ninf"} -Inf\n' in text
    assert 'test_duration_seconds_bucket{type="sync",le="0.1"} 2\n' in text
    assert 'test_jobs_total{type="we\\"ird\\\\type\\nx",status="ok"} 2\n' in text
    assert "# HELP test_temperature A gauge with a fraction.\\nSecond line \\\\.\n" in text


def test_collect_runs_before_each_scrape(server):
    first = promparse.value(scrape(server), "test_scrapes_total")
    second = promparse.value(scrape(server), "test_scrapes_total")
    assert second == first + 1


def test_output_is_deterministic(server):
    def body():
        text = server.request("GET", "/metrics")[2].decode()
        return [ln for ln in text.split("\n") if not ln.startswith("test_scrapes_total ")]
    assert body() == body()


def test_health_and_readiness(server):
    status, headers, body = server.request("GET", "/healthz")
    assert (status, body) == (200, b"ok\n")
    assert headers["connection"] == "close"
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert server.request("GET", "/readyz")[::2] == (200, b"ready\n")
    server.proc.send_signal(signal.SIGUSR1)
    wait_for(lambda: server.request("GET", "/readyz")[0] == 503, what="/readyz 503")
    assert server.request("GET", "/readyz")[2] == b"toggled by SIGUSR1\n"
    assert server.request("GET", "/healthz")[0] == 200  # alive, just not ready
    server.proc.send_signal(signal.SIGUSR1)
    wait_for(lambda: server.request("GET", "/readyz")[0] == 200, what="/readyz 200")


def test_http_errors(server):
    status, headers, body = server.request("GET", "/nope")
    assert (status, body) == (404, b"not found\n")
    assert headers["connection"] == "close"
    status, headers, _ = server.request("POST", "/metrics")
    assert status == 405
    assert headers["allow"] == "GET, HEAD"
    assert server.request("PUT", "/healthz")[0] == 405
    assert split_response(server.raw(b"junk\r\n\r\n"))[0] == 400
    assert split_response(server.raw(b"GET /metrics HTTP/2.0\r\n\r\n"))[0] == 400
    assert split_response(server.raw(b"GET /metrics HTTP/1.1\r\nbad header\r\n\r\n"))[0] == 400
    # An oversized head, sent whole: 431, not a reset.
    big = b"GET /metrics HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 20000 + b"\r\n\r\n"
    assert split_response(server.raw(big))[0] == 431
    # The server still serves after all that.
    assert server.request("GET", "/healthz")[0] == 200


def test_head_and_http10(server):
    status, headers, body = server.request("HEAD", "/metrics")
    assert status == 200 and body == b""
    assert int(headers["content-length"]) > 1000
    status, _, body = server.request("GET", "/healthz", version="HTTP/1.0")
    assert (status, body) == (200, b"ok\n")
    status, _, body = server.request("GET", "/metrics?name[]=x")
    assert status == 200
    promparse.parse(body)


def test_idle_clients_do_not_block_scrapes(server):
    idle = [server.connect() for _ in range(10)]
    try:
        half = server.connect()
        half.sendall(b"GET /metr")
        idle.append(half)
        scrape(server)
        # Past 64 connections, new ones are closed at once...
        # (11 are open: 53 more fill the 64 places, the last 7 are refused).
        more = [server.connect() for _ in range(60)]
        idle.extend(more)
        for s in more[-7:]:
            s.settimeout(3)  # at once, not after the server's 5 s read timeout
            try:
                assert s.recv(1) == b""
            except ConnectionResetError:
                pass
    finally:
        for s in idle:
            s.close()
    # ...and once the idle ones are gone, scrapes work again.
    wait_for(lambda: _try_status(server, "/healthz") == 200, what="a free place")


def _try_status(server, path):
    try:
        return server.request("GET", path)[0]
    except (OSError, AssertionError):
        return None


def test_parallel_scrapes(server):
    errors = []

    def worker():
        try:
            for _ in range(5):
                scrape(server)
        except Exception as e:  # noqa: BLE001 (collected, then asserted)
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]


def test_sigterm_with_open_connections_exits_cleanly():
    srv = Server("127.0.0.1:0")
    held = [srv.connect() for _ in range(3)]
    held[0].sendall(b"GET /metrics HTTP/1.1\r\n")
    assert srv.request("GET", "/healthz")[0] == 200  # all three are accepted by now
    rc, err = srv.stop()
    for s in held:
        s.close()
    assert rc == 0, err
    assert "uv_loop_close" not in err


def test_ipv6_loopback():
    try:
        socket.socket(socket.AF_INET6).close()
    except OSError:
        pytest.skip("no IPv6")
    srv = Server("[::1]:0")
    try:
        assert srv.request("GET", "/healthz")[::2] == (200, b"ok\n")
        promparse.parse(srv.request("GET", "/metrics")[2])
    finally:
        rc, err = srv.stop()
    assert rc == 0, err


def test_bad_address_is_refused():
    if not os.path.exists(BIN):
        pytest.skip(f"{BIN} is not built")
    for addr in ("127.0.0.1:99999", "localhost:9464", "[::1]", "nonsense"):
        p = subprocess.run([BIN, "serve", addr], capture_output=True, text=True,
                           timeout=10 * SLOW)
        assert p.returncode == 1, (addr, p.stderr)
        assert "listen address" in p.stderr
        assert p.stdout == ""


def test_port_in_use_is_refused(server):
    p = subprocess.run([BIN, "serve", f"127.0.0.1:{server.port}"], capture_output=True,
                       text=True, timeout=10 * SLOW)
    assert p.returncode == 1
    assert "Address already in use" in p.stderr


# ---- promparse ----------------------------------------------------------------

DOC_EXAMPLE = """\
# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
# TYPE msdos_file_access_time_seconds gauge
msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9

# Minimalistic line:
# TYPE metric_without_timestamp_and_labels untyped
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
# TYPE something_weird gauge
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="0.2"} 100392
http_request_duration_seconds_bucket{le="0.5"} 129389
http_request_duration_seconds_bucket{le="1"} 133988
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# Finally a summary, which has a complex representation, too:
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds{quantile="0.05"} 3272
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds{quantile="0.9"} 9001
rpc_duration_seconds{quantile="0.99"} 76656
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
"""


def test_promparse_accepts_the_documentation_example():
    fams = promparse.parse(DOC_EXAMPLE)
    assert list(fams) == ["http_requests_total", "msdos_file_access_time_seconds",
                          "metric_without_timestamp_and_labels", "something_weird",
                          "http_request_duration_seconds", "rpc_duration_seconds"]
    assert promparse.value(fams, "http_requests_total", method="post", code="400") == 3
    assert promparse.value(fams, "msdos_file_access_time_seconds",
                           path="C:\\DIR\\FILE.TXT",
                           error='Cannot find file:\n"FILE.TXT"') == 1.458255915e9
    assert fams["http_request_duration_seconds"]["help"] == \
        "A histogram of the request duration."
    assert promparse.value(fams, "something_weird", problem="division by zero") == math.inf
    assert len(fams["rpc_duration_seconds"]["samples"]) == 7
    assert promparse.parse("") == {}
    assert promparse.parse(b"# TYPE x gauge\nx{} 1\n")["x"]["samples"] == [("x", {}, 1.0)]
    # Blanks and a trailing comma, as Prometheus's own parser allows.
    fams = promparse.parse('# TYPE y counter\n  y{ a = "1" , b="2", } \t 5  \n')
    assert fams["y"]["samples"] == [("y", {"a": "1", "b": "2"}, 5.0)]


def _h(*lines):
    return "# TYPE h histogram\n" + "".join(ln + "\n" for ln in lines)


GOOD_H = ['h_bucket{le="1"} 1', 'h_bucket{le="+Inf"} 2', "h_sum 3", "h_count 2"]

MALFORMED = {
    "no final newline": "# TYPE x gauge\nx 1",
    "crlf": "# TYPE x gauge\r\nx 1\r\n",
    "no value": "# TYPE x gauge\nx\n",
    "no value after labels": '# TYPE x gauge\nx{a="b"}\n',
    "bad value": "# TYPE x gauge\nx one\n",
    "python-only float": "# TYPE x gauge\nx 1_000\n",
    "junk after value": "# TYPE x gauge\nx 1 2 3\n",
    "bad timestamp": "# TYPE x gauge\nx 1 1.5\n",
    "bad metric name": "# TYPE x gauge\n1x 1\n",
    "bad label name": '# TYPE x gauge\nx{1a="b"} 1\n',
    "reserved label": '# TYPE x gauge\nx{__name__="b"} 1\n',
    "unquoted label": "# TYPE x gauge\nx{a=b} 1\n",
    "unterminated label": '# TYPE x gauge\nx{a="b} 1\n',
    "unclosed braces": '# TYPE x gauge\nx{a="b" 1\n',
    "missing comma": '# TYPE x gauge\nx{a="b" c="d"} 1\n',
    "bad escape": '# TYPE x gauge\nx{a="\\t"} 1\n',
    "bad help escape": "# HELP x a\\tb\n# TYPE x gauge\nx 1\n",
    "raw control char": '# TYPE x gauge\nx{a="\x01"} 1\n',
    "repeated label": '# TYPE x gauge\nx{a="1",a="2"} 1\n',
    "sample without TYPE": "x 1\n",
    "sample without TYPE after HELP": "# HELP x X.\nx 1\n",
    "sample of another family": "# TYPE x gauge\ny 1\n",
    "HELP without TYPE": "# HELP x X.\n",
    "unknown type": "# TYPE x gauges\nx 1\n",
    "TYPE without type": "# TYPE x\nx 1\n",
    "HELP without name": "# HELP\n",
    "second TYPE": "# TYPE x gauge\n# TYPE x gauge\nx 1\n",
    "second HELP": "# HELP x a\n# HELP x b\n# TYPE x gauge\nx 1\n",
    "TYPE after samples": "# TYPE x gauge\nx 1\n# TYPE x gauge\n",
    "HELP after samples": "# TYPE x gauge\nx 1\n# HELP x late\n",
    "not contiguous": "# TYPE x gauge\nx 1\n# TYPE y gauge\ny 1\nx{a=\"b\"} 2\n",
    "family repeated": "# TYPE x gauge\nx 1\n# TYPE y gauge\ny 1\n# TYPE x gauge\n",
    "duplicate series": '# TYPE x gauge\nx{a="1",b="2"} 1\nx{b="2",a="1"} 2\n',
    "duplicate unlabelled": "# TYPE x gauge\nx 1\nx 2\n",
    "negative counter": "# TYPE c counter\nc -1\n",
    "counter suffix": "# TYPE c counter\nc_total 1\n",
    "histogram plain sample": _h("h 1", *GOOD_H),
    "histogram no +Inf": _h('h_bucket{le="1"} 1', "h_sum 3", "h_count 1"),
    "histogram no buckets": _h("h_sum 3", "h_count 1"),
    "histogram no _sum": _h('h_bucket{le="1"} 1', 'h_bucket{le="+Inf"} 2', "h_count 2"),
    "histogram no _count": _h('h_bucket{le="1"} 1', 'h_bucket{le="+Inf"} 2', "h_sum 2"),
    "histogram not cumulative": _h('h_bucket{le="1"} 3', 'h_bucket{le="+Inf"} 2',
                                   "h_sum 3", "h_count 2"),
    "histogram le not increasing": _h('h_bucket{le="2"} 1', 'h_bucket{le="1"} 1',
                                      'h_bucket{le="+Inf"} 2', "h_sum 3", "h_count 2"),
    "histogram le repeated": _h('h_bucket{le="1"} 1', 'h_bucket{le="1.0"} 1',
                                'h_bucket{le="+Inf"} 2', "h_sum 3", "h_count 2"),
    "histogram bucket without le": _h('h_bucket 1', *GOOD_H),
    "histogram bad le": _h('h_bucket{le="x"} 1', *GOOD_H),
    "histogram count mismatch": _h('h_bucket{le="1"} 1', 'h_bucket{le="+Inf"} 2',
                                   "h_sum 3", "h_count 5"),
    "histogram le on _sum": _h('h_bucket{le="1"} 1', 'h_bucket{le="+Inf"} 2',
                               'h_sum{le="1"} 3', "h_count 2"),
    "histogram one labelled series incomplete": _h(
        *GOOD_H, 'h_bucket{k="a",le="1"} 1', 'h_sum{k="a"} 1', 'h_count{k="a"} 1'),
    "summary without quantile": "# TYPE s summary\ns 1\ns_sum 1\ns_count 1\n",
    "summary without count": '# TYPE s summary\ns{quantile="0.5"} 1\ns_sum 1\n',
    "not utf-8": b"# TYPE x gauge\nx{a=\"\xff\"} 1\n",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_promparse_rejects(name):
    with pytest.raises(ParseError):
        promparse.parse(MALFORMED[name])


def test_promparse_accepts_the_good_histogram():
    fams = promparse.parse(_h(*GOOD_H))
    assert promparse.value(fams, "h_bucket", le="+Inf") == 2
    assert promparse.value(fams, "h_sum") == 3
