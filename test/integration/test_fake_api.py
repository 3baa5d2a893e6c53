"""Integration tests of fake-hetzner, the fake Hetzner Cloud API.

Starts $SLATE_BUILD_DIR/fake-hetzner (default /work/main/build) on a free
loopback port with a temporary projects file and checks pagination, object
shapes, auth, rate limiting, every fault knob, the version switch, the request
log and the admin interface; then points the official Python client
(python3-hcloud) at it.  Uses only the standard library and hcloud.

Run: python3 -m pytest -q test/integration/test_fake_api.py
"""

import base64
import hashlib
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import pytest

try:
    import hcloud
except ImportError:  # Debian's python3-hcloud under another interpreter
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import hcloud
    except ImportError:
        hcloud = None

BUILD_DIR = os.environ.get("SLATE_BUILD_DIR", "/work/main/build")
BINARY = os.path.join(BUILD_DIR, "fake-hetzner")
HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.normpath(os.path.join(HERE, "..", "fake-hetzner", "projects"))


def tok(name):
    """A 64-character alphanumeric token, like Hetzner's."""
    return (name * 64)[:64]


T_ACME = tok("acme")
T_EDGE = tok("edge")
T_LIM = tok("limited")
T_FAULT = tok("faults")
T_SLOW = tok("slow")
T_VER = tok("versioned")
T_SEL = tok("selector")
T_MIX = tok("mixed2")

PROJECTS = f"""
# generated: 120 servers, mixed bindings and every server class
project=acme token={T_ACME} servers=120 ssh_keys=3 firewalls=4 bind=mixed rules=mixed private=5 unbound=3 pending=2 ipv6_only=4 labels=env:prod,owner:jane.doe key_types=ed25519,rsa2048,rsa4096,ecdsa256 seed=42
project=edge token={T_EDGE} file={EXAMPLES}/edge.json version2={EXAMPLES}/edge-v2.json
project=limited token={T_LIM} servers=10
project=faults token={T_FAULT} servers=120 ssh_keys=2 firewalls=2   # count faults
project=slow token={T_SLOW} servers=5
project=versioned token={T_VER} servers=120 ssh_keys=3 firewalls=2 v2_remove=12 v2_add=5 v2_change=7
project=selector token={T_SEL} servers=30 firewalls=3 bind=selector rules=ssh_office
project=mixed2 token={T_MIX} servers=200 ssh_keys=0 firewalls=6 bind=mixed v2_remove=13 v2_add=9 private=7 unbound=5 pending=3
"""

ID_BASE = {"acme": 1000000, "versioned": 6000000, "selector": 7000000}
SIX_KEYS = {"page", "per_page", "previous_page", "next_page", "last_page",
            "total_entries"}


# ------------------------------------------------------------------ helpers

def start_fake(projects_text, extra_args=()):
    """Starts the fake; returns (proc, port, tmpdir)."""
    tmp = tempfile.mkdtemp(prefix="fake-hetzner-")
    path = os.path.join(tmp, "projects")
    with open(path, "w") as f:
        f.write(projects_text)
    log = os.path.join(tmp, "requests.jsonl")
    err = open(os.path.join(tmp, "stderr"), "w")
    proc = subprocess.Popen(
        [BINARY, "--listen", "127.0.0.1:0", "--projects", path,
         "--request-log", log, *extra_args],
        stdout=subprocess.PIPE, stderr=err)
    err.close()
    ready, _, _ = select.select([proc.stdout], [], [], 10)
    if not ready:
        proc.kill()
        raise RuntimeError("fake-hetzner did not start")
    line = proc.stdout.readline().decode()
    m = re.fullmatch(r"listening on (\d+)\n", line)
    if not m:
        proc.kill()
        raise RuntimeError(f"unexpected first line {line!r}")
    return proc, int(m.group(1)), tmp


def stop_fake(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            return proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    return proc.returncode


class Fake:
    def __init__(self, port, tmp):
        self.port = port
        self.tmp = tmp

    def request(self, path, token=None, method="GET", body=None, timeout=10,
                headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        return r.status, hdrs, data

    def get_json(self, path, token, **kw):
        status, hdrs, data = self.request(path, token, **kw)
        return status, hdrs, json.loads(data)

    def admin(self, project, words):
        status, _, data = self.request(f"/_fake/projects/{project}",
                                       method="POST", body=words)
        assert status == 200, data
        return json.loads(data)

    def knobs(self, project):
        status, _, data = self.request(f"/_fake/projects/{project}")
        assert status == 200
        return json.loads(data)

    def log(self, project=None, since=0):
        q = f"?since={since}" + (f"&project={project}" if project else "")
        status, _, data = self.request("/_fake/requests" + q)
        assert status == 200
        return json.loads(data)

    def all_items(self, kind, token, per_page=50):
        items, page = [], 1
        while page:
            status, _, d = self.get_json(f"/v1/{kind}?page={page}&per_page={per_page}",
                                         token)
            assert status == 200
            items += d[kind]
            page = d["meta"]["pagination"]["next_page"]
        return items


@pytest.fixture(scope="module")
def fake():
    assert os.access(BINARY, os.X_OK), f"build {BINARY} first"
    proc, port, tmp = start_fake(PROJECTS)
    try:
        yield Fake(port, tmp)
    finally:
        rc = stop_fake(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    assert rc == 0


RESET = ("fail=none html502=0 stall=0 truncate=0 malformed=0 deep=0 huge=0 "
         "fault_path=any fault_page=0 latency_ms=0 version=1 null_totals=0 "
         "limit=3600 ratelimit_remaining=3600 retry_after=0 huge_length=0")


@pytest.fixture
def faults(fake):
    fake.admin("faults", RESET)
    yield fake
    fake.admin("faults", RESET)


def ssh_blob_info(public_key):
    """(type, bits, blob) parsed from an OpenSSH public key line."""
    kind, b64 = public_key.split()[:2]
    blob = base64.b64decode(b64)
    fields, off = [], 0
    while off < len(blob):
        (n,) = struct.unpack(">I", blob[off:off + 4])
        fields.append(blob[off + 4:off + 4 + n])
        off += 4 + n
    assert off == len(blob)
    assert fields[0].decode() == kind
    if kind == "ssh-ed25519":
        assert len(fields) == 2 and len(fields[1]) == 32
        bits = 256
    elif kind == "ssh-rsa":
        e, n = (int.from_bytes(x, "big") for x in fields[1:3])
        assert e == 65537 and n % 2 == 1 and fields[2][0] == 0
        bits = n.bit_length()
    else:
        assert kind.startswith("ecdsa-sha2-nistp")
        assert fields[1].decode() == kind[len("ecdsa-sha2-"):]
        assert fields[2][0] == 4
        bits = int(kind[len("ecdsa-sha2-nistp"):])
    return kind, bits, blob


# --------------------------------------------------------------- pagination

def test_pagination_120_servers(fake):
    ids = []
    for page in (1, 2, 3):
        status, _, d = fake.get_json(f"/v1/servers?page={page}&per_page=50", T_ACME)
        assert status == 200
        assert set(d) == {"servers", "meta"}
        assert set(d["meta"]) == {"pagination"}
        p = d["meta"]["pagination"]
        assert set(p) == SIX_KEYS
        assert p == {"page": page, "per_page": 50,
                     "previous_page": page - 1 if page > 1 else None,
                     "next_page": page + 1 if page < 3 else None,
                     "last_page": 3, "total_entries": 120}
        assert len(d["servers"]) == (50 if page < 3 else 20)
        ids += [s["id"] for s in d["servers"]]
    assert ids == sorted(ids) and len(set(ids)) == 120
    assert ids[0] == ID_BASE["acme"] + 1

    # past the end: empty list, correct meta
    _, _, d = fake.get_json("/v1/servers?page=4&per_page=50", T_ACME)
    assert d["servers"] == []
    assert d["meta"]["pagination"] == {"page": 4, "per_page": 50, "previous_page": 3,
                                       "next_page": None, "last_page": 3,
                                       "total_entries": 120}
    # defaults: page 1, 25 per page
    _, _, d = fake.get_json("/v1/servers", T_ACME)
    assert len(d["servers"]) == 25 and d["meta"]["pagination"]["last_page"] == 5
    # per_page above 50 is clamped
    _, _, d = fake.get_json("/v1/servers?per_page=500", T_ACME)
    assert len(d["servers"]) == 50 and d["meta"]["pagination"]["per_page"] == 50
    # invalid values are 422 invalid_input
    for q in ("page=0", "page=abc", "per_page=0", "per_page=-3"):
        status, _, d = fake.get_json(f"/v1/servers?{q}", T_ACME)
        assert status == 422 and d["error"]["code"] == "invalid_input", q


def test_empty_project_first_page(fake):
    _, _, d = fake.get_json("/v1/firewalls", T_LIM)
    assert d == {"firewalls": [], "meta": {"pagination": {
        "page": 1, "per_page": 25, "previous_page": None, "next_page": None,
        "last_page": 1, "total_entries": 0}}}


def test_null_totals(faults):
    faults.admin("faults", "null_totals=1")
    _, _, d = faults.get_json("/v1/servers?per_page=50", T_FAULT)
    p = d["meta"]["pagination"]
    assert p["last_page"] is None and p["total_entries"] is None
    assert p["next_page"] == 2


# ------------------------------------------------------------------- shapes

def test_server_shape(fake):
    servers = fake.all_items("servers", T_ACME)
    assert len(servers) == 120
    want = {"id", "name", "status", "created", "public_net", "private_net",
            "server_type", "location", "image", "iso", "rescue_enabled", "locked",
            "backup_window", "outgoing_traffic", "ingoing_traffic",
            "included_traffic", "protection", "labels", "volumes",
            "load_balancers", "primary_disk_size", "placement_group"}
    ipv4s, ipv6s, statuses, locations = set(), set(), set(), set()
    for i, s in enumerate(servers):
        assert set(s) == want, s["id"]
        assert "datacenter" not in s
        assert s["location"]["name"] in {"fsn1", "nbg1", "hel1", "ash", "hil"}
        assert set(s["location"]) >= {"id", "name", "city", "country", "network_zone"}
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|\+00:00)", s["created"])
        assert s["labels"]["env"] == "prod" and s["labels"]["owner"] == "jane.doe"
        assert "role" in s["labels"]
        assert s["name"].startswith("acme-") and s["name"].endswith(f"-{i + 1:04d}")
        pn = s["public_net"]
        assert set(pn) >= {"ipv4", "ipv6", "floating_ips", "firewalls"}
        # classes, from the end: private [115,120), unbound [112,115),
        # pending [110,112), ipv6-only [106,110)
        if i >= 115:
            assert pn["ipv4"] is None and pn["ipv6"] is None
            assert pn["firewalls"] == [] and len(s["private_net"]) == 1
        elif 106 <= i < 110:
            assert pn["ipv4"] is None and pn["ipv6"] is not None
        else:
            assert pn["ipv4"] is not None and pn["ipv6"] is not None
        if pn["ipv4"] is not None:
            assert pn["ipv4"]["ip"] not in ipv4s
            ipv4s.add(pn["ipv4"]["ip"])
        if pn["ipv6"] is not None:
            assert pn["ipv6"]["ip"].endswith("/64")
            assert pn["ipv6"]["ip"] not in ipv6s
            ipv6s.add(pn["ipv6"]["ip"])
        statuses.add(s["status"])
        locations.add(s["location"]["name"])
        assert s["server_type"]["name"] and s["server_type"]["cores"] > 0
    assert len(ipv4s) == 120 - 5 - 4 and len(ipv6s) == 115
    assert {"running", "off"} <= statuses and len(locations) >= 3
    unbound = [s for s in servers[112:115]]
    assert all(s["public_net"]["firewalls"] == [] for s in unbound)
    pending = servers[110:112]
    for s in pending:
        assert s["public_net"]["firewalls"]
        assert all(f["status"] == "pending" for f in s["public_net"]["firewalls"])
    assert all(f["status"] == "applied" for s in servers[:110]
               for f in s["public_net"]["firewalls"])


def check_bindings(servers, firewalls):
    """applied_to and public_net.firewalls agree; ids ascend; rule keys."""
    by_id = {s["id"]: s for s in servers}
    kinds = set()
    from_firewalls = {}
    for fw in firewalls:
        assert set(fw) == {"id", "name", "labels", "created", "rules", "applied_to"}
        for r in fw["rules"]:
            assert set(r) == {"description", "direction", "source_ips",
                              "destination_ips", "protocol", "port"}
            if r["direction"] == "in":
                assert r["destination_ips"] == [] and r["source_ips"]
            else:
                assert r["source_ips"] == [] and r["destination_ips"]
            if r["protocol"] in ("icmp", "esp", "gre"):
                assert r["port"] is None
        direct = []
        for a in fw["applied_to"]:
            kinds.add(a["type"])
            if a["type"] == "server":
                assert a.get("label_selector") is None
                direct.append(a["server"]["id"])
                from_firewalls.setdefault(a["server"]["id"], set()).add(fw["id"])
            else:
                assert a["type"] == "label_selector"
                key, val = a["label_selector"]["selector"].split("=")
                ids = [res["server"]["id"] for res in a["applied_to_resources"]]
                assert ids == sorted(ids)
                for res in a["applied_to_resources"]:
                    sid = res["server"]["id"]
                    assert res["type"] == "server"
                    assert by_id[sid]["labels"][key] == val
                    from_firewalls.setdefault(sid, set()).add(fw["id"])
        assert direct == sorted(direct) and len(set(direct)) == len(direct)
    from_servers = {s["id"]: {f["id"] for f in s["public_net"]["firewalls"]}
                    for s in servers if s["public_net"]["firewalls"]}
    assert from_servers == from_firewalls
    return kinds, from_servers


def test_firewall_bindings_consistent(fake):
    servers = fake.all_items("servers", T_ACME)
    firewalls = fake.all_items("firewalls", T_ACME)
    assert len(firewalls) == 4
    kinds, bound = check_bindings(servers, firewalls)
    assert kinds == {"server", "label_selector"}      # bind=mixed
    assert any(len(v) == 2 for v in bound.values())   # i % 7 == 0: two firewalls
    for version in (1, 2):
        fake.admin("mixed2", f"version={version}")
        servers = fake.all_items("servers", T_MIX)
        kinds, bound = check_bindings(servers, fake.all_items("firewalls", T_MIX))
        assert kinds == {"server", "label_selector"}
        assert len(bound) == len(servers) - 7 - 5
    fake.admin("mixed2", "version=1")


def test_selector_project(fake):
    servers = fake.all_items("servers", T_SEL)
    firewalls = fake.all_items("firewalls", T_SEL)
    for fw in firewalls:
        assert [a["type"] for a in fw["applied_to"]] == ["label_selector"]
        assert fw["rules"][0]["source_ips"] == ["203.0.113.7/32"]
        assert fw["rules"][0]["port"] == "22"
    total = sum(len(fw["applied_to"][0]["applied_to_resources"]) for fw in firewalls)
    assert total == len(servers) == 30


def test_ssh_keys_are_real(fake):
    keys = fake.all_items("ssh_keys", T_ACME)
    assert len(keys) == 3
    want = [("ssh-ed25519", 256), ("ssh-rsa", 2048), ("ssh-rsa", 4096)]
    for k, (kind, bits) in zip(keys, want):
        assert set(k) == {"id", "name", "fingerprint", "public_key", "labels", "created"}
        got_kind, got_bits, blob = ssh_blob_info(k["public_key"])
        assert (got_kind, got_bits) == (kind, bits)
        md5 = hashlib.md5(blob).hexdigest()
        assert k["fingerprint"] == ":".join(md5[i:i + 2] for i in range(0, 32, 2))
    # the edge file's keys were made by ssh-keygen: same checks hold
    for k in fake.all_items("ssh_keys", T_EDGE):
        _, _, blob = ssh_blob_info(k["public_key"])
        md5 = hashlib.md5(blob).hexdigest()
        assert k["fingerprint"] == ":".join(md5[i:i + 2] for i in range(0, 32, 2))


def test_get_by_id_and_filters(fake):
    status, _, d = fake.get_json(f"/v1/servers/{ID_BASE['acme'] + 7}", T_ACME)
    assert status == 200 and d["server"]["id"] == ID_BASE["acme"] + 7
    status, _, d = fake.get_json("/v1/servers/42", T_ACME)
    assert status == 404 and d["error"]["code"] == "not_found"
    status, _, d = fake.get_json("/v1/firewalls/9104", T_EDGE)
    assert status == 200 and d["firewall"]["name"] == "edge-selector-no-resources"
    _, _, d = fake.get_json("/v1/servers?name=edge-private", T_EDGE)
    assert [s["id"] for s in d["servers"]] == [9003]
    _, _, d = fake.get_json("/v1/servers?label_selector=role%3D%3Ddb&per_page=50", T_ACME)
    assert d["servers"] and all(s["labels"]["role"] == "db" for s in d["servers"])
    assert d["meta"]["pagination"]["total_entries"] == len(d["servers"])
    _, _, d = fake.get_json("/v1/servers?label_selector=env%3Dprod,role%20in%20(db,web)"
                            "&per_page=50", T_ACME)
    assert {s["labels"]["role"] for s in d["servers"]} <= {"db", "web"}
    _, _, d = fake.get_json("/v1/servers?label_selector=!env", T_EDGE)
    assert [s["name"] for s in d["servers"]] == ["edge-no-firewall", "edge-selector"]


# --------------------------------------------------------------------- auth

UNAUTH = {"error": {"code": "unauthorized", "message": "unable to authenticate",
                    "details": None}}


def test_unauthorized(fake):
    for headers in ({}, {"Authorization": "Bearer " + tok("nobody")},
                    {"Authorization": "Basic " + T_ACME},
                    {"Authorization": "Bearer"}, {"Authorization": "Bearer "},
                    {"Authorization": T_ACME}):
        status, hdrs, data = fake.request("/v1/servers", headers=headers)
        assert status == 401, headers
        assert json.loads(data) == UNAUTH
        assert hdrs["content-type"] == "application/json"


def test_writes_are_token_readonly_and_logged(fake):
    since = fake.log()[-1]["seq"] if fake.log() else 0
    for method, path in (("POST", "/v1/servers"), ("DELETE", "/v1/servers/1000001"),
                         ("PUT", "/v1/firewalls/1800001"), ("PATCH", "/v1/ssh_keys")):
        status, _, data = fake.request(path, T_ACME, method=method,
                                       body=b'{"name":"x"}')
        assert status == 401
        assert json.loads(data) == {"error": {
            "code": "token_readonly",
            "message": "The token is only allowed to perform GET requests",
            "details": None}}
    entries = fake.log("acme", since)
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("POST", "/v1/servers", 401), ("DELETE", "/v1/servers/1000001", 401),
        ("PUT", "/v1/firewalls/1800001", 401), ("PATCH", "/v1/ssh_keys", 401)]
    # the same lines are in the --request-log file
    with open(os.path.join(fake.tmp, "requests.jsonl")) as f:
        lines = [json.loads(x) for x in f]
    assert entries[-1] in lines
    assert set(lines[0]) == {"seq", "time", "method", "path", "query", "project",
                             "status", "correlation_id"}


def test_unknown_paths(fake):
    status, hdrs, data = fake.request("/v1/volumes", T_ACME)
    assert status == 404 and json.loads(data)["error"]["code"] == "not_found"
    assert json.loads(data)["error"]["details"] is None
    assert "ratelimit-remaining" in hdrs
    status, _, data = fake.request("/nothing/here")
    assert status == 404 and json.loads(data)["error"]["code"] == "not_found"


def test_headers_on_every_response(fake):
    fake.admin("limited", "ratelimit_remaining=1")
    cases = [("/v1/servers", T_ACME, "GET"), ("/v1/servers", None, "GET"),
             ("/v1/servers", T_ACME, "POST"), ("/v1/volumes", T_ACME, "GET"),
             ("/v1/servers", T_LIM, "GET"), ("/v1/servers", T_LIM, "GET")]
    corr = set()
    statuses = []
    for path, token, method in cases:
        status, h, _ = fake.request(path, token, method=method)
        statuses.append(status)
        assert h["content-type"] == "application/json"
        assert re.fullmatch(r"[0-9a-f]{16}", h["x-correlation-id"])
        corr.add(h["x-correlation-id"])
        assert int(h["ratelimit-limit"]) > 0
        assert 0 <= int(h["ratelimit-remaining"]) <= int(h["ratelimit-limit"])
        assert int(h["ratelimit-reset"]) >= int(time.time())
    assert statuses == [200, 401, 401, 404, 200, 429]
    assert len(corr) == len(cases)
    fake.admin("limited", "ratelimit_remaining=3600")


# --------------------------------------------------------------- rate limit

def test_rate_limit(fake):
    fake.admin("limited", "limit=3600 ratelimit_remaining=2")
    s1, h1, _ = fake.request("/v1/servers", T_LIM)
    s2, h2, _ = fake.request("/v1/servers", T_LIM)
    s3, h3, d3 = fake.request("/v1/servers", T_LIM)
    assert (s1, s2, s3) == (200, 200, 429)
    assert (h1["ratelimit-remaining"], h2["ratelimit-remaining"],
            h3["ratelimit-remaining"]) == ("1", "0", "0")
    assert json.loads(d3) == {"error": {
        "message": "limit of 3600 requests per hour reached",
        "code": "rate_limit_exceeded", "details": None}}
    # the bucket is full again after (3600 - level) seconds at 1/s
    assert abs(int(h3["ratelimit-reset"]) - (time.time() + 3600)) < 5
    assert "retry-after" not in h3
    # the limit is part of the message; Retry-After on request
    fake.admin("limited", "limit=7200 ratelimit_remaining=0 retry_after=7")
    s, h, d = fake.request("/v1/servers", T_LIM)
    assert s == 429 and h["ratelimit-limit"] == "7200" and h["retry-after"] == "7"
    assert json.loads(d)["error"]["message"] == "limit of 7200 requests per hour reached"
    # refill at limit/3600 per second: 36000/h is 10/s
    fake.admin("limited", "limit=36000 ratelimit_remaining=0 retry_after=0")
    time.sleep(0.35)
    s, h, _ = fake.request("/v1/servers", T_LIM)
    assert s == 200
    assert fake.knobs("limited")["limit"] == 36000
    fake.admin("limited", "limit=3600 ratelimit_remaining=3600")


# ------------------------------------------------------------------- faults

FAIL_CASES = [
    ("500:1", 500, "server_error"), ("502:1", 502, "bad_gateway"),
    ("503:2", 503, "unavailable"), ("504:1", 504, "timeout"),
    ("409:1", 409, "conflict"), ("403:1", 403, "forbidden"),
    ("maintenance:1", 403, "maintenance"), ("429:1", 429, "rate_limit_exceeded"),
    ("conflict:1", 409, "conflict"),
]


@pytest.mark.parametrize("spec,status,code", FAIL_CASES)
def test_fail_knob(faults, spec, status, code):
    faults.admin("faults", f"fail={spec}")
    count = int(spec.split(":")[1])
    for _ in range(count):
        s, h, data = faults.request("/v1/servers", T_FAULT)
        assert s == status
        body = json.loads(data)
        assert set(body["error"]) == {"code", "message", "details"}
        assert body["error"]["code"] == code and body["error"]["message"]
        assert "ratelimit-limit" in h and "x-correlation-id" in h
    s, _, _ = faults.request("/v1/servers", T_FAULT)
    assert s == 200
    assert faults.knobs("faults")["fail"] is None


def test_html502(faults):
    faults.admin("faults", "html502=1")
    s, h, data = faults.request("/v1/servers", T_FAULT)
    assert s == 502 and h["content-type"].startswith("text/html")
    assert b"<html>" in data
    with pytest.raises(ValueError):
        json.loads(data)
    assert faults.request("/v1/servers", T_FAULT)[0] == 200


def test_fault_path_and_page(faults):
    faults.admin("faults", "fail=500:1 fault_path=firewalls")
    assert faults.request("/v1/servers", T_FAULT)[0] == 200
    assert faults.request("/v1/ssh_keys", T_FAULT)[0] == 200
    assert faults.request("/v1/firewalls", T_FAULT)[0] == 500
    assert faults.request("/v1/firewalls", T_FAULT)[0] == 200
    faults.admin("faults", "fail=503:1 fault_path=servers fault_page=2")
    assert faults.request("/v1/servers?page=1&per_page=50", T_FAULT)[0] == 200
    assert faults.request("/v1/servers?page=3&per_page=50", T_FAULT)[0] == 200
    assert faults.request("/v1/servers?page=2&per_page=50", T_FAULT)[0] == 503
    assert faults.request("/v1/servers?page=2&per_page=50", T_FAULT)[0] == 200


def test_malformed(faults):
    faults.admin("faults", "malformed=1 fault_path=ssh_keys")
    s, _, data = faults.request("/v1/ssh_keys", T_FAULT)
    assert s == 200 and data == b'{"ssh_keys": [ {"id": 1,,'
    with pytest.raises(ValueError):
        json.loads(data)
    assert faults.get_json("/v1/ssh_keys", T_FAULT)[0] == 200


def test_truncate(faults):
    faults.admin("faults", "truncate=1")
    c = http.client.HTTPConnection("127.0.0.1", faults.port, timeout=5)
    c.request("GET", "/v1/servers?per_page=50",
              headers={"Authorization": f"Bearer {T_FAULT}"})
    r = c.getresponse()
    assert r.status == 200
    length = int(r.getheader("Content-Length"))
    with pytest.raises(http.client.IncompleteRead) as e:
        r.read()
    assert 0 < len(e.value.partial) < length
    c.close()
    assert faults.request("/v1/servers", T_FAULT)[0] == 200


def test_stall(faults):
    faults.admin("faults", "stall=1 stall_ms=5000")
    c = http.client.HTTPConnection("127.0.0.1", faults.port, timeout=1)
    c.request("GET", "/v1/servers", headers={"Authorization": f"Bearer {T_FAULT}"})
    start = time.time()
    r = c.getresponse()         # headers and part of the body arrive
    assert r.status == 200
    partial = r.fp.read1(4096) if hasattr(r.fp, "read1") else b""
    assert partial.startswith(b'{"servers":[')
    with pytest.raises((socket.timeout, TimeoutError)):
        r.read()
    # other requests are served meanwhile
    assert faults.request("/v1/servers", T_FAULT)[0] == 200
    assert time.time() - start < 4.5
    c.close()
    # with a patient client the body completes after stall_ms
    faults.admin("faults", "stall=1 stall_ms=300")
    t0 = time.time()
    s, _, data = faults.request("/v1/ssh_keys", T_FAULT, timeout=5)
    assert s == 200 and time.time() - t0 >= 0.29
    assert len(json.loads(data)["ssh_keys"]) == 2


def test_deep(faults):
    faults.admin("faults", "deep=1 deep_depth=10000")
    s, _, data = faults.request("/v1/servers", T_FAULT)
    assert s == 200
    assert data.startswith(b'{"servers":' + b"[" * 10000 + b"]" * 10000 + b",")
    with pytest.raises((RecursionError, ValueError)):
        json.loads(data)
    assert faults.request("/v1/servers", T_FAULT)[0] == 200


def test_huge_chunked_then_stop_reading(faults):
    faults.admin("faults", "huge=2 huge_mb=64")
    c = http.client.HTTPConnection("127.0.0.1", faults.port, timeout=5)
    c.request("GET", "/v1/servers", headers={"Authorization": f"Bearer {T_FAULT}"})
    r = c.getresponse()
    assert r.status == 200 and r.getheader("Content-Length") is None
    assert r.getheader("Transfer-Encoding") == "chunked"
    got = b""
    while len(got) < 3 * 1024 * 1024:
        chunk = r.read(65536)
        assert chunk
        got += chunk
    assert got.startswith(b'{"servers":[{"id":1,"name":"xxxx')
    c.close()                   # stop reading: the fake must not care
    assert faults.request("/v1/ssh_keys", T_FAULT)[0] == 200
    # huge_length=1 announces the size; the body is exactly huge_mb MiB, valid JSON
    faults.admin("faults", "huge=1 huge_mb=3 huge_length=1")
    s, h, data = faults.request("/v1/servers", T_FAULT, timeout=10)
    assert s == 200 and int(h["content-length"]) == 3 * 1024 * 1024 == len(data)
    assert len(json.loads(data)["servers"][0]["name"]) > 3_000_000


def test_latency_does_not_block(faults):
    faults.admin("faults", "latency_ms=300")
    t0 = time.time()
    assert faults.request("/v1/servers", T_FAULT)[0] == 200
    assert time.time() - t0 >= 0.29
    faults.admin("faults", "latency_ms=100")
    # 500 concurrent connections, each one request: about 100 ms in total
    n = 500
    socks = []
    req = (f"GET /v1/ssh_keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {T_FAULT}"
           f"\r\nConnection: close\r\n\r\n").encode()
    t0 = time.time()
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", faults.port), timeout=10)
        s.sendall(req)
        socks.append(s)
    done, bufs = 0, {s: b"" for s in socks}
    open_socks = set(socks)
    while open_socks and time.time() - t0 < 15:
        ready, _, _ = select.select(list(open_socks), [], [], 1)
        for s in ready:
            chunk = s.recv(65536)
            if chunk:
                bufs[s] += chunk
            else:
                open_socks.discard(s)
                s.close()
                done += 1
    elapsed = time.time() - t0
    assert done == n
    assert all(b.startswith(b"HTTP/1.1 200") for b in bufs.values())
    assert elapsed < 5, elapsed


def test_admin_interface(fake):
    k = fake.knobs("acme")
    assert k["project"] == "acme" and k["version"] == 1
    assert k["counts"] == {"servers": 120, "ssh_keys": 3, "firewalls": 4}
    status, _, data = fake.request("/_fake/projects/acme", method="POST",
                                   body="fail=999:1")
    assert status == 400 and "fail" in json.loads(data)["error"]
    status, _, data = fake.request("/_fake/projects/acme", method="POST",
                                   body="servers=3")
    assert status == 400
    status, _, _ = fake.request("/_fake/projects/nope")
    assert status == 404
    # a bad word leaves the others unapplied
    status, _, _ = fake.request("/_fake/projects/acme", method="POST",
                                body="latency_ms=5 version=9")
    assert status == 400 and fake.knobs("acme")["latency_ms"] == 0
    # & separated, url-encoded, and the query-string form
    fake.admin("acme", "fail=503%3A0&latency_ms=0")
    status, _, _ = fake.request("/_fake/projects/acme?latency_ms=0", method="POST")
    assert status == 200
    status, _, data = fake.request("/_fake/projects")
    assert [p["project"] for p in json.loads(data)][:2] == ["acme", "edge"]
    # reset-log empties the log
    fake.request("/v1/servers", T_LIM)
    assert fake.log()
    assert fake.request("/_fake/reset-log", method="POST")[0] == 200
    assert fake.log() == []
    assert fake.request("/_fake/health")[0] == 200
    # edge has a version 2; a generated project always has one
    fake.admin("edge", "version=2")
    fake.admin("edge", "version=1")


# ------------------------------------------------------------------ version

def test_version_switch_generated(fake):
    base = ID_BASE["versioned"]
    v1 = fake.all_items("servers", T_VER)
    k1 = fake.all_items("ssh_keys", T_VER)
    f1 = fake.all_items("firewalls", T_VER)
    fake.admin("versioned", "version=2")
    try:
        v2 = fake.all_items("servers", T_VER)
        k2 = fake.all_items("ssh_keys", T_VER)
        f2 = fake.all_items("firewalls", T_VER)
    finally:
        fake.admin("versioned", "version=1")
    ids1 = {s["id"] for s in v1}
    ids2 = {s["id"] for s in v2}
    assert ids1 - ids2 == {base + 1 + i for i in range(12)}          # removed
    assert ids2 - ids1 == {base + 1 + i for i in range(120, 125)}    # added
    old = {s["id"]: s for s in v1}
    changed = [s for s in v2 if s["id"] in old and s != old[s["id"]]]
    assert [s["id"] for s in changed] == [base + 1 + i for i in range(12, 19)]
    for s in changed:
        o = old[s["id"]]
        assert s["name"] == o["name"] + "-renamed"
        assert s["labels"] == {**o["labels"], "changed": "v2"}
        assert s["status"] == ("off" if o["status"] == "running" else "running")
    assert [k["id"] for k in k2] == [k["id"] for k in k1[1:]] + [k1[-1]["id"] + 1]
    assert len(f2[0]["rules"]) == len(f1[0]["rules"]) + 1
    assert f2[0]["rules"][-1]["description"] == "added in v2"
    assert f2[1]["rules"] == f1[1]["rules"]
    # back to version 1: identical data
    assert fake.all_items("servers", T_VER) == v1


def page_items(fake, kind, token, page, per_page):
    """The raw bytes of a page's item list (between '[' and '],"meta"')."""
    status, _, data = fake.request(f"/v1/{kind}?page={page}&per_page={per_page}", token)
    assert status == 200
    head = b'{"' + kind.encode() + b'":['
    assert data.startswith(head)
    return data[len(head):data.rindex(b'],"meta":')]


def test_cached_items_same_bytes(fake):
    """Generated items are rendered once and then copied (cache.c, chunks
    of 64): a page's bytes are the same however the list is cut, equal to
    the items fetched one by one, and follow the version both ways, also
    while it flips under concurrent requests."""
    kinds = ("servers", "ssh_keys", "firewalls")
    want = {}       # (version, kind) -> [item bytes]
    try:
        for version in (1, 2, 1, 2):
            fake.admin("mixed2", f"version={version}")
            for kind in kinds:
                n = fake.get_json(f"/v1/{kind}?per_page=1", T_MIX)[2]["meta"]["pagination"]["total_entries"]
                one = [page_items(fake, kind, T_MIX, i + 1, 1) for i in range(n)]
                assert [json.loads(item)["id"] for item in one] == sorted(
                    json.loads(item)["id"] for item in one)
                assert want.setdefault((version, kind), one) == one
                singular = kind[:-1]
                for item in one[::7] + one[-1:]:
                    m = re.match(rb'\{"id":(\d+),', item)
                    status, _, data = fake.request(f"/v1/{kind}/{int(m.group(1))}", T_MIX)
                    assert status == 200
                    assert data == b'{"' + singular.encode() + b'":' + item + b"}"
                for per_page in (7, 25, 50):
                    got = [page_items(fake, kind, T_MIX, p + 1, per_page)
                           for p in range(-(-n // per_page))]
                    assert b",".join(got) == b",".join(one)
        assert want[(1, "servers")] != want[(2, "servers")]

        # Pages while the version flips: each is all of v1 or all of v2.
        pages = [(kind, p) for kind in kinds for p in range(1, 6)]
        bad, stop = [], threading.Event()

        def flip():
            v = 1
            while not stop.is_set():
                v = 3 - v
                fake.admin("mixed2", f"version={v}")

        def fetch(k):
            for kind, p in pages[k::4] * 3:
                got = page_items(fake, kind, T_MIX, p, 50)
                if all(got != b",".join(want[(v, kind)][(p - 1) * 50:p * 50])
                       for v in (1, 2)):
                    bad.append((kind, p))

        flipper = threading.Thread(target=flip)
        flipper.start()
        workers = [threading.Thread(target=fetch, args=(k,)) for k in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        stop.set()
        flipper.join()
        assert bad == []
    finally:
        fake.admin("mixed2", "version=1")


def test_version_switch_hand_written(fake):
    v1 = {s["id"]: s for s in fake.all_items("servers", T_EDGE)}
    fake.admin("edge", "version=2")
    try:
        v2 = {s["id"]: s for s in fake.all_items("servers", T_EDGE)}
        keys2 = fake.all_items("ssh_keys", T_EDGE)
    finally:
        fake.admin("edge", "version=1")
    assert set(v1) - set(v2) == {9006} and set(v2) - set(v1) == {9007}
    assert v2[9001]["name"] == "edge-v6-only-renamed" and v2[9001]["status"] == "off"
    assert 9205 not in {k["id"] for k in keys2}


# ------------------------------------------------------------ edge project

def test_edge_project_served_verbatim(fake):
    with open(os.path.join(EXAMPLES, "edge.json")) as f:
        want = json.load(f)
    for kind in ("servers", "ssh_keys", "firewalls"):
        assert fake.all_items(kind, T_EDGE, per_page=2) == want[kind]


# ---------------------------------------------------------- official client

needs_hcloud = pytest.mark.skipif(hcloud is None, reason="python3-hcloud missing")


@needs_hcloud
def test_hcloud_client_generated(fake):
    client = hcloud.Client(token=T_ACME, api_endpoint=f"http://127.0.0.1:{fake.port}/v1")
    servers = client.servers.get_all()
    keys = client.ssh_keys.get_all()
    firewalls = client.firewalls.get_all()
    assert (len(servers), len(keys), len(firewalls)) == (120, 3, 4)
    assert servers[0].id == ID_BASE["acme"] + 1
    assert servers[0].name.startswith("acme-") and servers[0].name.endswith("-0001")
    assert servers[0].labels["env"] == "prod"
    assert servers[-1].public_net.ipv4 is None and servers[-1].public_net.ipv6 is None
    assert servers[0].public_net.ipv4.ip == "203.0.113.1"
    assert servers[0].public_net.ipv6.ip == "2001:db8:1::/64"
    assert servers[110].public_net.firewalls[0].status == "pending"
    assert keys[0].public_key.startswith("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5")
    assert len(keys[0].fingerprint) == 47
    assert firewalls[0].name == "fw-0-ssh-open"
    assert firewalls[0].rules[0].port == "22"
    assert firewalls[0].rules[0].source_ips == ["0.0.0.0/0", "::/0"]
    kinds = {a.type for fw in firewalls for a in fw.applied_to}
    assert kinds == {"server", "label_selector"}
    sel = [a for a in firewalls[1].applied_to if a.type == "label_selector"][0]
    assert sel.label_selector.selector == "fw=fw-1"


@needs_hcloud
def test_hcloud_client_edge(fake):
    client = hcloud.Client(token=T_EDGE, api_endpoint=f"http://127.0.0.1:{fake.port}/v1")
    servers = {s.name: s for s in client.servers.get_all()}
    keys = client.ssh_keys.get_all()
    firewalls = {f.name: f for f in client.firewalls.get_all()}
    assert (len(servers), len(keys), len(firewalls)) == (6, 5, 5)
    assert servers["edge-private"].public_net.ipv4 is None
    assert servers["edge-private"].public_net.ipv6 is None
    assert servers["edge-v6-only"].public_net.ipv4 is None
    assert servers["edge-v4-only"].public_net.ipv6 is None
    assert servers["edge-v4-only"].public_net.firewalls[0].status == "pending"
    rules = firewalls["edge-any-port"].rules
    assert rules[0].port == "any" and rules[1].port is None
    assert rules[1].protocol == "icmp" and rules[1].description is None
    out = firewalls["edge-udp-out-v6"].rules
    assert [(r.direction, r.protocol, r.port) for r in out] == [
        ("in", "udp", "22"), ("out", "tcp", "22"), ("in", "tcp", "22")]
    assert out[2].source_ips == ["::/0"]
    sel = firewalls["edge-selector-no-resources"].applied_to[0]
    assert sel.type == "label_selector" and sel.label_selector.selector == "env==nowhere"
    assert {k.name for k in keys} >= {"jane-laptop", "legacy-rsa1024"}


@needs_hcloud
def test_hcloud_client_errors(fake):
    client = hcloud.Client(token=tok("wrong"), api_endpoint=f"http://127.0.0.1:{fake.port}/v1")
    with pytest.raises(hcloud.APIException) as e:
        client.servers.get_all()
    assert e.value.code == "unauthorized"


# ---------------------------------------------------------------- lifecycle

def run_bad(args, projects_text=None):
    tmp = tempfile.mkdtemp(prefix="fake-hetzner-bad-")
    argv = [BINARY, *args]
    if projects_text is not None:
        path = os.path.join(tmp, "projects")
        with open(path, "w") as f:
            f.write(projects_text)
        argv += ["--projects", path]
    try:
        p = subprocess.run(argv, capture_output=True, timeout=10)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return p.returncode, p.stderr.decode()


@pytest.mark.parametrize("args", [
    [], ["--listen", "127.0.0.1:0"], ["--projects", "/nonexistent"],
    ["--listen", "nonsense", "--projects", "/dev/null"],
    ["--listen", "127.0.0.1:99999", "--projects", "/dev/null"],
    ["--bogus"], ["--listen", "127.0.0.1:0", "--projects", "/nonexistent"],
    ["--listen", "127.0.0.1:0", "--threads", "0", "--projects", "/dev/null"],
])
def test_bad_flags_exit_2(args):
    rc, err = run_bad(args)
    assert rc == 2 and err.strip()


@pytest.mark.parametrize("text,needle", [
    ("project=a servers=3\n", "token"),
    (f"project=a token={T_ACME} servers=three\n", "servers"),
    (f"project=a token={T_ACME} colour=blue\n", "unknown key"),
    (f"project=a token={T_ACME} file=/nonexistent.json\n", "cannot open"),
    (f"project=a token={T_ACME}\nproject=a token={T_EDGE}\n", "twice"),
    (f"project=a token={T_ACME}\nproject=b token={T_ACME}\n", "token"),
    (f"project=a token={T_ACME} servers=3 private=4\n", "exceeds"),
    (f"project=a token={T_ACME} bind=sideways\n", "bind"),
    ("# nothing here\n", "no project"),
    (f"project=a token={T_ACME} fail=503\n", "fail"),
])
def test_bad_projects_file_exit_2(text, needle):
    rc, err = run_bad(["--listen", "127.0.0.1:0"], text)
    assert rc == 2 and needle in err, err


def test_sigint_and_sigterm_with_suspended_connections():
    for sig in (signal.SIGINT, signal.SIGTERM):
        proc, port, tmp = start_fake(f"project=p token={T_ACME} servers=3 stall=5 "
                                     f"latency_ms=0\n")
        try:
            socks = []
            for _ in range(3):       # stalled (suspended) connections
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(f"GET /v1/servers HTTP/1.1\r\nHost: x\r\nAuthorization: "
                          f"Bearer {T_ACME}\r\n\r\n".encode())
                socks.append(s)
            time.sleep(0.3)
            t0 = time.time()
            assert stop_fake(proc, sig) == 0
            assert time.time() - t0 < 5
        finally:
            for s in socks:
                s.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            shutil.rmtree(tmp, ignore_errors=True)
