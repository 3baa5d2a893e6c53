"""
The six tests of CHECKS.md against hand-made projects, compared result by
result with expectations written from CHECKS.md (not from what the worker
produced).

* `checks`: test/fake-hetzner/projects/checks.json, one server (or a few) per
  case of CHECKS.md; its expected `slate:{W}:integration:I:tests` (every
  field but `evaluated_at`) is test/integration/expected/checks-results.json.
* `nokeys`: two servers of checks.json (an office-only one and the malformed
  CIDR one) and no SSH keys: `hetzner.ssh_keys_inventoried` fails for the
  project as a whole, and `hetzner.ssh_not_public` is `error`, not pass.
* `empty`: no servers, keys or firewalls: connects; the asset tests are
  not_applicable, `hetzner.ssh_keys_inventoried` and `hetzner.cloud_linked`
  pass.

Finding lists are compared as sets (sorted by resource id); a reason that
names several rules ("; "-separated) is compared as a set of its items, since
CHECKS.md fixes what a reason names, not the order of the rules in it.

The cases of checks.json, by server (owners: members are alice@example.com
and bob.smith; asset_owners is set by the test before connecting):

  7001 no firewall (public v4+v6)           -> firewalled fail, ssh fail "no firewall applied"
  7002 direct binding, office /32 only     -> pass, pass; owner from asset_owners
                                              (alice@example.com) over label 'mallory'
  7003 label-selector binding, /24 + /48   -> pass, pass; owner from label bob.smith
  7004 pending-only binding (v4 only)      -> firewalled fail naming it; ssh fail
                                              "no firewall applied"; owner 'carol' inactive
  7005 private-only (ipv4, ipv6 null)      -> not_applicable for both firewall tests; no owner
  7006 tcp 22 from 0.0.0.0/0 only          -> ssh fail; asset_owners "" + label owner: no owner
  7007 tcp 20-30 from 0.0.0.0/0            -> ssh fail; owner 'Bob.Smith' (case) inactive
  7008 tcp any from 0.0.0.0/0, ::/0        -> ssh fail; empty owner label: no owner
  7009 tcp, port null                      -> ssh fail; asset_owners 'dave@example.com' inactive
  7010 tcp 2222, label ssh-port "2222"     -> ssh fail
  7011 tcp 2222, no ssh-port label         -> pass
  7012 tcp 1-65535 from 0.0.0.0/0          -> ssh fail
  7013 udp 22 from 0.0.0.0/0               -> pass
  7014 out tcp 22 to the world             -> pass
  7015 tcp 22 from ::/0 only (v6-only)     -> ssh fail
  7016 0.0.0.0/1 and 128.0.0.0/1 on two firewalls -> ssh fail
  7017 10.0.0.0/8                          -> ssh fail (as wide as the threshold)
  7018 10.0.0.0/9 + 10.128.0.0/9           -> ssh fail (adjacent /9s make a /8)
  7019 10.128.0.0/9 + 11.0.0.0/9 (22, 20-30) -> ssh fail (one range of 2^24, not a CIDR)
  7020 10.0.0.0/9 + 12.0.0.0/9             -> pass (not adjacent)
  7021 2001:db8::/32                       -> ssh fail (IPv6 threshold)
  7022 2001:db8::/33                       -> pass
  7023 office /32 only                     -> pass
  7024 applied office + pending world      -> firewalled pass; ssh fail naming the pending one
  7025 applied office + a world firewall whose applied_to alone reaches it
                                           -> firewalled pass; ssh fail (counts as pending)
  7026 reached only by a selector's applied_to_resources, own list empty
                                           -> firewalled fail (pending, named); ssh fail
                                              "no firewall applied"
  7027 tcp 22 from office + '10.0.0.300/32' -> ssh errors, not pass
  7028 tcp 80 from 'garbage' + tcp 22 office -> pass (rules that cannot reach SSH are not parsed)
  7029 10.1.2.3/8 (host bits set)          -> ssh fail
  7030 tcp rule without a port key, ::/0   -> ssh fail
  7031 tcp port 'ssh' (unknown syntax) from 0.0.0.0/0 -> ssh errors, not pass
  7032 10.0.0.0/9 and 10.128.0.0/9 on two firewalls -> ssh fail (judged per server: each
                                              firewall alone is below the threshold)
"""
import base64
import copy
import hashlib
import json
import os
import re

import pytest

from conftest import ROOT, enqueue, wait_result

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKS_JSON = os.path.join(ROOT, "test", "fake-hetzner", "projects", "checks.json")
EXPECTED = os.path.join(HERE, "expected", "checks-results.json")

WS = "acme"
TOKENS = {"checks": "C" * 58 + "checks", "nokeys": "N" * 58 + "nokeys", "empty": "E" * 59 + "empty"}
MEMBERS = ["alice@example.com", "bob.smith"]
OWNERS = {  # set in slate:{W}:asset_owners before connecting
    "hetzner:checks:server:7002": "alice@example.com",
    "hetzner:checks:server:7006": "",
    "hetzner:checks:server:7009": "dave@example.com",
}

# CHECKS.md's table, exactly: id -> (title, ISO/IEC 27001:2022, SOC 2).
TABLE = {
    "hetzner.cloud_linked": ("Cloud infrastructure linked to SecureSlate",
                             ["A.5.9", "A.5.23"], ["CC6.1", "CC4.1"]),
    "inventory.active_owners": ("Inventory items have active owners", ["A.5.9"], ["CC6.1"]),
    "inventory.descriptions": ("Inventory items have descriptions (name, labels, or instance type)",
                               ["A.5.9"], ["CC6.1"]),
    "hetzner.servers_firewalled": ("Hetzner servers have firewalls applied",
                                   ["A.8.20", "A.8.22"], ["CC6.6"]),
    "hetzner.ssh_not_public": ("Hetzner SSH access is not open to the public internet",
                               ["A.8.20", "A.8.5"], ["CC6.6", "CC6.1"]),
    "hetzner.ssh_keys_inventoried": ("Hetzner SSH keys are inventoried",
                                     ["A.5.17", "A.5.9"], ["CC6.1", "CC6.2"]),
}
RESULT_KEYS = {"id", "title", "status", "evaluated_at", "checked", "failing", "not_applicable",
               "errors", "controls", "remediation"}
LISTS = ("failing", "not_applicable", "errors")


def load_expected():
    with open(EXPECTED) as f:
        return json.load(f)


def nokeys_project():
    """Servers 7002 and 7027 of checks.json with their firewalls, no SSH keys."""
    with open(CHECKS_JSON) as f:
        src = json.load(f)
    servers = [copy.deepcopy(s) for s in src["servers"] if s["id"] in (7002, 7027)]
    for s in servers:
        s["labels"]["owner"] = "bob.smith"
    fws = [copy.deepcopy(f) for f in src["firewalls"] if f["id"] in (7102, 7127)]
    for f in fws:
        f["applied_to"] = [a for a in f["applied_to"] if a["server"]["id"] in (7002, 7027)]
    return {"servers": servers, "firewalls": fws}


@pytest.fixture
def env(tmp_path, redis_server, fake_factory, worker_factory):
    nokeys = tmp_path / "nokeys.json"
    nokeys.write_text(json.dumps(nokeys_project()))
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"servers": [], "ssh_keys": [], "firewalls": []}))
    fake = fake_factory(
        f"project=checks token={TOKENS['checks']} file={CHECKS_JSON}\n"
        f"project=nokeys token={TOKENS['nokeys']} file={nokeys}\n"
        f"project=empty token={TOKENS['empty']} file={empty}\n")
    w = worker_factory(redis_server.url, fake.url)
    r = redis_server.client
    r.sadd(f"slate:{{{WS}}}:members", *MEMBERS)
    r.hset(f"slate:{{{WS}}}:asset_owners", mapping=OWNERS)
    return r, fake, w


def connect(r, integ):
    enqueue(r, type="connect", workspace=WS, integration=integ, token=TOKENS[integ],
            job_id=f"connect-{integ}")
    res = wait_result(r, f"connect-{integ}", timeout=30)
    assert res["status"] == "succeeded", res
    return res


def stored_tests(r, integ):
    raw = r.hgetall(f"slate:{{{WS}}}:integration:{integ}:tests")
    return {k.decode(): json.loads(v) for k, v in raw.items()}


def norm_finding(x):
    y = dict(x)
    if isinstance(y.get("reason"), str):
        y["reason"] = sorted(y["reason"].split("; "))
    return y


def normalise(result):
    """A result without evaluated_at, lists sorted by resource, reasons as item sets."""
    out = {k: v for k, v in result.items() if k != "evaluated_at"}
    for key in LISTS:
        if isinstance(out.get(key), list):
            out[key] = sorted((norm_finding(x) for x in out[key]),
                              key=lambda x: (x.get("resource", ""), json.dumps(x, sort_keys=True)))
    return out


def diff_lists(key, want, got):
    """Readable lines for the differences of one finding list."""
    lines = []
    w = {x["resource"]: x for x in want}
    g = {x["resource"]: x for x in got}
    for res in sorted(set(w) | set(g)):
        if res not in g:
            lines.append(f"  {key}: missing {w[res]}")
        elif res not in w:
            lines.append(f"  {key}: unexpected {g[res]}")
        elif w[res] != g[res]:
            lines.append(f"  {key}: {res}: expected {w[res]}, got {g[res]}")
    if len(want) != len(w) or len(got) != len(g):
        lines.append(f"  {key}: a resource listed twice: expected {want}, got {got}")
    return lines


def compare(expected, stored):
    """Every difference between the expected results and the stored ones, as text."""
    problems = []
    if set(stored) != set(expected):
        problems.append(f"test ids: expected {sorted(expected)}, got {sorted(stored)}")
    for tid in sorted(expected):
        if tid not in stored:
            continue
        want, got = normalise(expected[tid]), normalise(stored[tid])
        lines = []
        for key in sorted(set(want) | set(got)):
            if key in LISTS and isinstance(got.get(key), list):
                lines += diff_lists(key, want.get(key, []), got[key])
            elif want.get(key) != got.get(key):
                lines.append(f"  {key}: expected {want.get(key)!r}, got {got.get(key)!r}")
        if lines:
            problems.append(f"{tid}:\n" + "\n".join(lines))
    return problems


def check_shape(results, summary_tests):
    """What every stored result must be, whatever the project (CHECKS.md)."""
    assert set(results) == set(TABLE)
    assert summary_tests == {tid: t["status"] for tid, t in results.items()}
    for tid, t in results.items():
        assert set(t) == RESULT_KEYS, (tid, sorted(t))
        title, iso, soc = TABLE[tid]
        assert t["id"] == tid and t["title"] == title
        assert t["controls"] == {"iso27001_2022": iso, "soc2": soc}
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", t["evaluated_at"]), t["evaluated_at"]
        assert isinstance(t["remediation"], str) and t["remediation"].strip()
        assert isinstance(t["checked"], int) and t["checked"] >= 0
        # The status follows from the lists (CHECKS.md's precedence).
        want = ("fail" if t["failing"] else "error" if t["errors"]
                else "pass" if t["checked"] > 0 else "not_applicable")
        assert t["status"] == want, (tid, t)


def assert_matches(expected, stored):
    problems = compare(expected, stored)
    assert not problems, "results differ from CHECKS.md's expectations:\n" + "\n".join(problems)


# ---- the fixture files themselves -------------------------------------------------


def test_expected_file_follows_checks_md_table():
    exp = load_expected()
    assert set(exp) == set(TABLE)
    for tid, t in exp.items():
        assert set(t) == RESULT_KEYS - {"evaluated_at"}, tid
        title, iso, soc = TABLE[tid]
        assert (t["id"], t["title"], t["controls"]) == (tid, title, {"iso27001_2022": iso, "soc2": soc})
        for key in LISTS:
            assert t[key] == sorted(t[key], key=lambda x: x["resource"]), (tid, key)


def test_project_file_is_consistent():
    with open(CHECKS_JSON) as f:
        proj = json.load(f)
    assert set(proj) == {"servers", "ssh_keys", "firewalls"}
    # Real OpenSSH keys with Hetzner's MD5 fingerprint of the blob.
    assert len(proj["ssh_keys"]) >= 2
    for k in proj["ssh_keys"]:
        kind, blob = k["public_key"].split()[:2]
        raw = base64.b64decode(blob)
        assert raw[4:4 + int.from_bytes(raw[:4], "big")].decode() == kind
        md5 = hashlib.md5(raw).hexdigest()
        assert k["fingerprint"] == ":".join(md5[i:i + 2] for i in range(0, 32, 2))
    # Every binding a server lists is in its firewall's applied_to, and the other
    # way round, except for the deliberate in-flux cases (7025, 7026).
    reach = set()
    for fw in proj["firewalls"]:
        for a in fw["applied_to"]:
            if a["type"] == "server":
                reach.add((fw["id"], a["server"]["id"]))
            for res in a.get("applied_to_resources") or []:
                reach.add((fw["id"], res["server"]["id"]))
    listed = {(b["id"], s["id"]) for s in proj["servers"] for b in s["public_net"]["firewalls"]}
    assert listed <= reach
    assert reach - listed == {(7125, 7025), (7126, 7026)}
    assert all(s["name"] for s in proj["servers"])


# ---- the worker against them ---------------------------------------------------------


def test_checks_project_results_match_expected(env):
    r, fake, w = env
    res = connect(r, "checks")
    summary = json.loads(res["summary"])
    assert (summary["servers"], summary["ssh_keys"], summary["firewalls"]) == (32, 3, 30)
    stored = stored_tests(r, "checks")
    expected = load_expected()
    # Every difference is collected first, so that one run shows them all.
    problems = compare(expected, stored)
    want_summary = {tid: t["status"] for tid, t in expected.items()}
    if summary["tests"] != want_summary:
        problems.append(f"summary tests: expected {want_summary}, got {summary['tests']}")
    check_shape(stored, summary["tests"])

    # An evaluate job judges the same stored data the same way.
    enqueue(r, type="evaluate", workspace=WS, integration="checks", job_id="eval-checks")
    ev = wait_result(r, "eval-checks")
    assert ev["status"] == "succeeded", ev
    assert json.loads(ev["summary"]) == {"tests": summary["tests"]}
    again = stored_tests(r, "checks")
    assert {k: normalise(v) for k, v in again.items()} == {k: normalise(v) for k, v in stored.items()}

    assert not problems, "results differ from CHECKS.md's expectations:\n" + "\n".join(problems)


def expected_small(statuses, checked, failing=None, not_applicable=None, errors=None):
    """Expected results of a small project, built from checks-results.json's
    remediation texts and CHECKS.md's table."""
    base = load_expected()
    out = {}
    for tid, (title, iso, soc) in TABLE.items():
        out[tid] = {"id": tid, "title": title, "status": statuses[tid], "checked": checked[tid],
                    "failing": (failing or {}).get(tid, []),
                    "not_applicable": (not_applicable or {}).get(tid, []),
                    "errors": (errors or {}).get(tid, []),
                    "controls": {"iso27001_2022": iso, "soc2": soc},
                    "remediation": base[tid]["remediation"]}
    return out


def test_servers_without_ssh_keys(env):
    r, fake, w = env
    res = connect(r, "nokeys")
    summary = json.loads(res["summary"])
    assert (summary["servers"], summary["ssh_keys"], summary["firewalls"]) == (2, 0, 2)
    bad = {"resource": "hetzner:nokeys:server:7027", "name": "chk-bad-cidr",
           "reason": "firewall 'bad-cidr' (7127) allows tcp 22 from '10.0.0.300/32', "
                     "which is not a valid CIDR"}
    expected = expected_small(
        statuses={"hetzner.cloud_linked": "pass", "inventory.active_owners": "pass",
                  "inventory.descriptions": "pass", "hetzner.servers_firewalled": "pass",
                  "hetzner.ssh_not_public": "error", "hetzner.ssh_keys_inventoried": "fail"},
        checked={"hetzner.cloud_linked": 1, "inventory.active_owners": 2,
                 "inventory.descriptions": 2, "hetzner.servers_firewalled": 2,
                 "hetzner.ssh_not_public": 2, "hetzner.ssh_keys_inventoried": 1},
        failing={"hetzner.ssh_keys_inventoried": [
            {"resource": "hetzner:nokeys", "name": "nokeys",
             "reason": "the project has 2 servers but no SSH keys"}]},
        errors={"hetzner.ssh_not_public": [bad]})
    stored = stored_tests(r, "nokeys")
    assert_matches(expected, stored)
    check_shape(stored, summary["tests"])


def test_empty_project(env):
    r, fake, w = env
    res = connect(r, "empty")
    summary = json.loads(res["summary"])
    assert (summary["servers"], summary["ssh_keys"], summary["firewalls"]) == (0, 0, 0)
    assert summary["assets"] == {"added": 0, "changed": 0, "removed": 0}
    na = "not_applicable"
    expected = expected_small(
        statuses={"hetzner.cloud_linked": "pass", "inventory.active_owners": na,
                  "inventory.descriptions": na, "hetzner.servers_firewalled": na,
                  "hetzner.ssh_not_public": na, "hetzner.ssh_keys_inventoried": "pass"},
        checked={"hetzner.cloud_linked": 1, "inventory.active_owners": 0,
                 "inventory.descriptions": 0, "hetzner.servers_firewalled": 0,
                 "hetzner.ssh_not_public": 0, "hetzner.ssh_keys_inventoried": 1})
    stored = stored_tests(r, "empty")
    assert_matches(expected, stored)
    check_shape(stored, summary["tests"])
    integ = r.hgetall(f"slate:{{{WS}}}:integration:empty")
    assert integ[b"status"] == b"connected"
