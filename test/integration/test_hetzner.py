"""
The Hetzner integration end to end: real workers, a real redis-server, the
real libcurl against the fake Hetzner API over loopback sockets.
"""
import base64
import json
import os
import re
import subprocess
import time

import pytest

from conftest import BUILD, all_redis_bytes, enqueue, results, wait_for, wait_result

TOKEN = "A" * 60 + "acme"
TOKEN2 = "B" * 60 + "glob"
PROJECTS = f"""
project=acme token={TOKEN} servers=120 ssh_keys=3 firewalls=4 bind=direct rules=mixed private=5 pending=2 labels=env:prod,owner:jane.doe seed=7 v2_remove=10 v2_add=7 v2_change=5
project=globex token={TOKEN2} servers=30 ssh_keys=2 firewalls=2 bind=selector rules=ssh_office
project=empty token={"E" * 64} servers=0 ssh_keys=0 firewalls=0
"""

DEV_PUBLIC_KEY = "4DZtO8N2KwORe3PLUQ0UEUTf9skQiGElCMk5h6RYvkU="


@pytest.fixture
def env(redis_server, fake_factory, worker_factory):
    fake = fake_factory(PROJECTS)
    w = worker_factory(redis_server.url, fake.url, SLATE_VISIBILITY_TIMEOUT_MS=3000)
    return redis_server.client, fake, w


def connect(r, ws, integ, token, job_id=None, **extra):
    fields = dict(type="connect", workspace=ws, integration=integ, token=token, **extra)
    if job_id:
        fields["job_id"] = job_id
    return enqueue(r, **fields)


def hgetall(r, key):
    return {k.decode(): v.decode() for k, v in r.hgetall(key).items()}


def fetch_all(fake, token, coll):
    import urllib.request
    items, page = [], 1
    while page:
        req = urllib.request.Request(f"{fake.url}/{coll}?page={page}&per_page=50",
                                     headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req) as resp:
            body = json.load(resp)
        items += body[coll]
        page = body["meta"]["pagination"]["next_page"]
    return items


def test_connect_plain_token_syncs_everything(env):
    r, fake, w = env
    connect(r, "acme", "hz-prod", TOKEN, job_id="c1")
    res = wait_result(r, "c1", timeout=30)
    assert res["status"] == "succeeded", res
    summary = json.loads(res["summary"])
    assert summary["servers"] == 120 and summary["ssh_keys"] == 3 and summary["firewalls"] == 4
    assert summary["assets"] == {"added": 120, "changed": 0, "removed": 0}
    assert set(summary["tests"]) == {"hetzner.cloud_linked", "inventory.active_owners",
                                     "inventory.descriptions", "hetzner.servers_firewalled",
                                     "hetzner.ssh_not_public", "hetzner.ssh_keys_inventoried"}
    assert summary["tests"]["hetzner.cloud_linked"] == "pass"
    # Only GETs reached the API: three pages of servers, one of keys and of
    # firewalls (counted before this test fetches pages itself).
    reqs = fake.requests()
    assert reqs and all(q["method"] == "GET" for q in reqs)
    assert sorted(q["path"] for q in reqs) == ["/v1/firewalls", "/v1/servers", "/v1/servers",
                                                "/v1/servers", "/v1/ssh_keys"]

    integ = hgetall(r, "slate:{acme}:integration:hz-prod")
    assert integ["provider"] == "hetzner" and integ["status"] == "connected"
    assert integ["token_hint"] == "acme"
    assert TOKEN not in integ["token"]
    assert integ["servers"] == "120" and integ["ssh_keys"] == "3" and integ["firewalls"] == "4"
    assert integ["ratelimit_limit"] == "3600"
    assert "sync_progress" not in integ and "last_error" not in integ
    assert r.smembers("slate:{acme}:integrations") == {b"hz-prod"}

    # Every server is an asset with every key PROTOCOL.md lists, true to the API.
    servers = {s["id"]: s for s in fetch_all(fake, TOKEN, "servers")}
    assets = {k.decode(): json.loads(v) for k, v in r.hgetall("slate:{acme}:assets").items()}
    assert len(assets) == 120
    assert r.smembers("slate:{acme}:integration:hz-prod:assets") == {k.encode() for k in assets}
    keys = {"id", "category", "provider", "integration", "hetzner_id", "name", "region",
            "instance_type", "status", "ipv4", "ipv6", "labels", "created", "firewalls",
            "owner_label"}
    for aid, a in assets.items():
        assert set(a) == keys, a
        s = servers[a["hetzner_id"]]
        assert aid == f"hetzner:hz-prod:server:{s['id']}" == a["id"]
        assert a["category"] == "compute_instance" and a["provider"] == "hetzner"
        assert a["integration"] == "hz-prod"
        assert a["name"] == s["name"] and a["status"] == s["status"]
        assert a["region"] == s["location"]["name"]
        assert a["instance_type"] == s["server_type"]["name"]
        pn = s["public_net"]
        assert a["ipv4"] == (pn["ipv4"]["ip"] if pn.get("ipv4") else None)
        assert a["ipv6"] == (pn["ipv6"]["ip"] if pn.get("ipv6") else None)
        assert a["labels"] == s["labels"]
        assert a["owner_label"] == s["labels"].get("owner")
        assert a["firewalls"] == [{"id": f["id"], "status": f["status"]} for f in pn["firewalls"]]
        assert a["created"] == s["created"]

    api_keys = {k["id"]: k for k in fetch_all(fake, TOKEN, "ssh_keys")}
    stored = {int(k): json.loads(v) for k, v in r.hgetall("slate:{acme}:integration:hz-prod:ssh_keys").items()}
    assert set(stored) == set(api_keys)
    for kid, k in stored.items():
        assert k["name"] == api_keys[kid]["name"]
        assert k["fingerprint"] == api_keys[kid]["fingerprint"]
        assert re.fullmatch(r"SHA256:[A-Za-z0-9+/]{43}", k["sha256"]), k
        assert k["key_type"] == api_keys[kid]["public_key"].split()[0]
        assert isinstance(k["bits"], int)

    api_fws = {f["id"]: f for f in fetch_all(fake, TOKEN, "firewalls")}
    fws = {int(k): json.loads(v) for k, v in r.hgetall("slate:{acme}:integration:hz-prod:firewalls").items()}
    assert set(fws) == set(api_fws)
    for fid, f in fws.items():
        assert f["name"] == api_fws[fid]["name"]
        assert len(f["rules"]) == len(api_fws[fid]["rules"])
        reached = sorted({a["server"]["id"] for a in api_fws[fid]["applied_to"] if a["type"] == "server"})
        assert f["servers"] == reached

    tests = hgetall(r, "slate:{acme}:integration:hz-prod:tests")
    assert set(tests) == set(summary["tests"])
    for tid, body in tests.items():
        t = json.loads(body)
        assert t["id"] == tid and t["status"] == summary["tests"][tid]

    vendor = json.loads(r.hget("slate:{acme}:vendors", "hetzner"))
    assert vendor["name"] == "Hetzner Online GmbH" and vendor["integrations"] == ["hz-prod"]

    # The plaintext token was sealed into a new entry and is nowhere now.
    assert TOKEN.encode() not in all_redis_bytes(r)
    assert TOKEN not in w.log()
    assert r.xlen("slate:{q}:jobs") == 0


def test_sealed_token_from_pynacl_connects(env):
    nacl_public = pytest.importorskip("nacl.public")
    r, fake, w = env
    pk = nacl_public.PublicKey(base64.b64decode(DEV_PUBLIC_KEY))
    sealed = base64.b64encode(nacl_public.SealedBox(pk).encrypt(TOKEN2.encode())).decode()
    enqueue(r, type="connect", workspace="globex", integration="g1", token_sealed=sealed, job_id="s1")
    res = wait_result(r, "s1", timeout=30)
    assert res["status"] == "succeeded", res
    assert json.loads(res["summary"])["servers"] == 30
    assert TOKEN2.encode() not in all_redis_bytes(r)


def test_invalid_token_stores_nothing(env):
    r, fake, w = env
    connect(r, "acme", "hz-bad", "Z" * 64, job_id="bad")
    res = wait_result(r, "bad", timeout=30)
    assert res["status"] == "failed"
    assert res["error_code"] == "invalid_token"
    assert res["error"] == "Invalid API token"
    assert [k for k in r.scan_iter("slate:{acme}:*")] == []
    assert "Z" * 64 not in w.log()


def test_random_text_never_connects(env):
    r, fake, w = env
    for i, tok in enumerate(["hello world", "", "x" * 300, "tok\r\nX-Injected: 1", "caf\u00e9"]):
        connect(r, "acme", f"hz-{i}", tok, job_id=f"r{i}")
    for i in range(5):
        res = wait_result(r, f"r{i}", timeout=30)
        assert res["status"] == "failed" and res["error_code"] == "invalid_token", res
        assert res["error"] == "Invalid API token"
    # None of them was sent: syntax is checked before any request.
    assert fake.requests() == []
    assert [k for k in r.scan_iter("slate:{acme}:*")] == []


def test_failed_reconnect_keeps_old_token_and_data(env):
    r, fake, w = env
    connect(r, "acme", "hz", TOKEN, job_id="ok")
    assert wait_result(r, "ok", timeout=30)["status"] == "succeeded"
    before = hgetall(r, "slate:{acme}:integration:hz")
    connect(r, "acme", "hz", "Q" * 64, job_id="bad")
    assert wait_result(r, "bad", timeout=30)["error_code"] == "invalid_token"
    after = hgetall(r, "slate:{acme}:integration:hz")
    assert after["token"] == before["token"] and r.hlen("slate:{acme}:assets") == 120


def test_resync_after_data_switch(env):
    r, fake, w = env
    connect(r, "acme", "hz", TOKEN, job_id="c")
    assert wait_result(r, "c", timeout=30)["status"] == "succeeded"
    fake.admin("acme", version=2)
    enqueue(r, type="sync", workspace="acme", integration="hz", job_id="s2")
    res = wait_result(r, "s2", timeout=30)
    assert res["status"] == "succeeded", res
    s = json.loads(res["summary"])
    assert s["assets"] == {"added": 7, "changed": 5, "removed": 10}, s
    assert s["servers"] == 117
    assets = {json.loads(v)["hetzner_id"] for v in r.hvals("slate:{acme}:assets")}
    assert assets == {x["id"] for x in fetch_all(fake, TOKEN, "servers")}
    # A sync with nothing new changes nothing.
    enqueue(r, type="sync", workspace="acme", integration="hz", job_id="s3")
    s3 = json.loads(wait_result(r, "s3", timeout=30)["summary"])
    assert s3["assets"] == {"added": 0, "changed": 0, "removed": 0}


def test_vendor_shared_by_two_integrations(env):
    r, fake, w = env
    connect(r, "acme", "one", TOKEN, job_id="a")
    connect(r, "acme", "two", TOKEN2, job_id="b")
    assert wait_result(r, "a", timeout=30)["status"] == "succeeded"
    assert wait_result(r, "b", timeout=30)["status"] == "succeeded"
    vendor = json.loads(r.hget("slate:{acme}:vendors", "hetzner"))
    assert vendor["integrations"] == ["one", "two"]
    assert r.hlen("slate:{acme}:assets") == 150
    enqueue(r, type="disconnect", workspace="acme", integration="one", job_id="d1")
    res = wait_result(r, "d1")
    assert json.loads(res["summary"]) == {"assets": {"removed": 120}}
    vendor2 = json.loads(r.hget("slate:{acme}:vendors", "hetzner"))
    assert vendor2["integrations"] == ["two"] and vendor2["created_at"] == vendor["created_at"]
    assert r.hlen("slate:{acme}:assets") == 30
    assert not [k for k in r.scan_iter("slate:{acme}:integration:one*")]
    enqueue(r, type="disconnect", workspace="acme", integration="two", job_id="d2")
    wait_result(r, "d2")
    assert not r.hexists("slate:{acme}:vendors", "hetzner")
    assert r.hlen("slate:{acme}:assets") == 0
    # Idempotent.
    enqueue(r, type="disconnect", workspace="acme", integration="two", job_id="d3")
    assert wait_result(r, "d3")["status"] == "succeeded"


def test_disconnect_leaves_people_alone(env):
    r, fake, w = env
    r.sadd("slate:{acme}:members", "jane.doe")
    r.hset("slate:{acme}:asset_owners", "hetzner:hz:server:1", "jane.doe")
    connect(r, "acme", "hz", TOKEN, job_id="c")
    wait_result(r, "c", timeout=30)
    enqueue(r, type="disconnect", workspace="acme", integration="hz", job_id="d")
    wait_result(r, "d")
    left = sorted(k.decode() for k in r.scan_iter("slate:{acme}:*"))
    assert left == ["slate:{acme}:asset_owners", "slate:{acme}:generations", "slate:{acme}:members"]


def test_sync_and_evaluate_of_unknown_integration(env):
    r, fake, w = env
    enqueue(r, type="sync", workspace="acme", integration="nope", job_id="s")
    enqueue(r, type="evaluate", workspace="acme", integration="nope", job_id="e")
    for j in ("s", "e"):
        res = wait_result(r, j)
        assert res["status"] == "failed" and res["error_code"] == "not_connected"


def test_evaluate_job_reads_stored_data(env):
    r, fake, w = env
    connect(r, "acme", "hz", TOKEN, job_id="c")
    first = json.loads(wait_result(r, "c", timeout=30)["summary"])["tests"]
    n = len(fake.requests())
    enqueue(r, type="evaluate", workspace="acme", integration="hz", job_id="e")
    res = wait_result(r, "e")
    assert res["status"] == "succeeded"
    assert json.loads(res["summary"]) == {"tests": first}
    assert len(fake.requests()) == n  # no API request
    # Owners changed by the web tier are seen by the next evaluate.
    r.sadd("slate:{acme}:members", "jane.doe")
    enqueue(r, type="evaluate", workspace="acme", integration="hz", job_id="e2")
    t = json.loads(wait_result(r, "e2")["summary"])["tests"]
    assert first["inventory.active_owners"] == "fail" and t["inventory.active_owners"] == "pass"


def test_sync_failing_for_good_keeps_inventory_and_marks_error(redis_server, fake_factory, worker_factory):
    fake = fake_factory(PROJECTS)
    w = worker_factory(redis_server.url, fake.url, SLATE_MAX_ATTEMPTS=1, SLATE_HTTP_RETRIES=0)
    r = redis_server.client
    connect(r, "acme", "hz", TOKEN, job_id="c")
    assert wait_result(r, "c", timeout=30)["status"] == "succeeded"
    fake.admin("acme", fail="503:100")
    enqueue(r, type="sync", workspace="acme", integration="hz", job_id="s")
    res = wait_result(r, "s", timeout=30)
    assert res["status"] == "dead" and res["error_code"] == "hetzner_unavailable", res
    assert json.loads(res["summary"])["tests"]["hetzner.cloud_linked"] == "fail"
    integ = hgetall(r, "slate:{acme}:integration:hz")
    assert integ["status"] == "error" and integ["last_error_code"] == "hetzner_unavailable"
    assert r.hlen("slate:{acme}:assets") == 120  # a failed collection is never "no resources"
    cl = json.loads(r.hget("slate:{acme}:integration:hz:tests", "hetzner.cloud_linked"))
    assert cl["status"] == "fail"
    fake.admin("acme", fail="503:0")
    enqueue(r, type="sync", workspace="acme", integration="hz", job_id="s2")
    assert wait_result(r, "s2", timeout=30)["status"] == "succeeded"
    integ = hgetall(r, "slate:{acme}:integration:hz")
    assert integ["status"] == "connected" and "last_error" not in integ


def test_disconnect_during_sync_leaves_nothing(env):
    r, fake, w = env
    connect(r, "acme", "hz", TOKEN, job_id="c")
    wait_result(r, "c", timeout=30)
    fake.admin("acme", latency_ms=1500)
    enqueue(r, type="sync", workspace="acme", integration="hz", job_id="s")
    wait_for(lambda: "fetching" in w.log() or b"sync_progress" in b"".join(
        r.hkeys("slate:{acme}:integration:hz")), 10, what="sync started")
    time.sleep(0.3)
    enqueue(r, type="disconnect", workspace="acme", integration="hz", job_id="d")
    assert wait_result(r, "d")["status"] == "succeeded"
    res = wait_result(r, "s", timeout=30)
    assert res["status"] == "failed" and res["error_code"] == "not_connected", res
    left = sorted(k.decode() for k in r.scan_iter("slate:{acme}:*"))
    assert left == ["slate:{acme}:generations"], left


def test_sigterm_finishes_in_flight_work(redis_server, fake_factory, worker_factory):
    fake = fake_factory(PROJECTS)
    w = worker_factory(redis_server.url, fake.url)
    r = redis_server.client
    fake.admin("acme", latency_ms=800)
    connect(r, "acme", "hz", TOKEN, job_id="slow")
    wait_for(lambda: len(fake.requests()) > 0 or "fetching" in w.log(), 10, what="work in flight")
    assert w.stop() == 0
    res = wait_result(r, "slow", timeout=5)
    assert res["status"] == "succeeded"
    assert r.xlen("slate:{q}:jobs") == 0


def test_stalled_body_times_out(redis_server, fake_factory, worker_factory):
    fake = fake_factory(PROJECTS)
    w = worker_factory(redis_server.url, fake.url, SLATE_HTTP_LOW_SPEED_S=1,
                       SLATE_HTTP_RETRIES=0, SLATE_MAX_ATTEMPTS=1)
    r = redis_server.client
    fake.admin("acme", stall=1, fault_path="servers")
    connect(r, "acme", "hz", TOKEN, job_id="st")
    res = wait_result(r, "st", timeout=30)
    assert res["error_code"] == "timeout", res
    assert w.proc.poll() is None


def test_body_over_the_cap_stops_the_transfer(redis_server, fake_factory, worker_factory):
    fake = fake_factory(PROJECTS)
    # Below the longest JSON token the parser lets through (about 460 KB), so
    # that the byte cap, not the parser, is what stops this one-string body.
    w = worker_factory(redis_server.url, fake.url, SLATE_HTTP_MAX_BODY=262144,
                       SLATE_MAX_ATTEMPTS=1)
    r = redis_server.client
    fake.admin("acme", huge=1, huge_mb=50, fault_path="servers")
    connect(r, "acme", "hz", TOKEN, job_id="big")
    res = wait_result(r, "big", timeout=30)
    assert res["error_code"] == "bad_response", res
    assert "exceeds" in res["error"]
    assert w.proc.poll() is None


def test_transient_errors_retried_inside_the_attempt(env):
    r, fake, w = env
    fake.admin("acme", fail="503:2")
    connect(r, "acme", "hz", TOKEN, job_id="t")
    res = wait_result(r, "t", timeout=30)
    assert res["status"] == "succeeded" and res["attempt"] == "1"


def test_malformed_json_is_transient_and_bad_shape_is_not(redis_server, fake_factory, worker_factory):
    fake = fake_factory(PROJECTS)
    w = worker_factory(redis_server.url, fake.url, SLATE_HTTP_RETRIES=0, SLATE_MAX_ATTEMPTS=1)
    r = redis_server.client
    fake.admin("acme", malformed=1, fault_path="servers")
    connect(r, "acme", "hz", TOKEN, job_id="m")
    assert wait_result(r, "m", timeout=30)["error_code"] == "hetzner_unavailable"
    fake.admin("acme", deep=1, deep_depth=10000, fault_path="servers")
    connect(r, "acme", "hz", TOKEN, job_id="d")
    assert wait_result(r, "d", timeout=30)["error_code"] == "bad_response"
    assert w.proc.poll() is None


def test_result_computed_while_redis_lost_its_data_is_written(tmp_path, fake_factory, worker_factory):
    from conftest import RedisServer
    srv = RedisServer(str(tmp_path))
    fake = fake_factory(PROJECTS)
    w = worker_factory(srv.url, fake.url)
    r = srv.client
    fake.admin("acme", latency_ms=1500)
    connect(r, "acme", "hz", TOKEN, job_id="lost")
    wait_for(lambda: "fetched" in w.log() or len(fake.requests()) > 0, 10, what="sync in flight")
    srv.kill()
    srv.start()  # no persistence: stream, group and entry are gone
    res = wait_result(srv.client, "lost", timeout=30)
    assert res["status"] in ("succeeded", "failed"), res
    time.sleep(1)
    finals = [x for x in results(srv.client) if x["job_id"] == "lost" and x["status"] != "retrying"]
    assert len(finals) == 1
    assert "written anyway" in w.log()
    assert w.stop() == 0
    srv.kill()


def test_lease_of_an_earlier_attempt_does_not_block_the_retry(env):
    r, fake, w = env
    connect(r, "acme", "hz", TOKEN, job_id="c")
    assert wait_result(r, "c", timeout=30)["status"] == "succeeded"
    lease = "slate:{acme}:integration:hz:lease"
    # Left behind by attempt 1 of job s (its release never reached Redis).
    r.set(lease, "s 1 gone-worker:1-0:42", px=60000)
    enqueue(r, type="sync", workspace="acme", integration="hz", job_id="other")
    res = wait_result(r, "other", statuses=("retrying",), timeout=30)
    assert "another sync" in res["error"]
    enqueue(r, type="sync", workspace="acme", integration="hz", job_id="s", attempt="2")
    assert wait_result(r, "s", timeout=30)["status"] == "succeeded"
    assert not r.exists(lease)


def test_many_big_syncs_at_once_store_every_server(redis_server, fake_factory, worker_factory):
    """Enough work at once that pages are held back by the Redis write
    backlog: every integration still gets its whole project, never part."""
    big = "G" * 60 + "bigp"
    fake = fake_factory(f"project=big token={big} servers=1000 ssh_keys=3 firewalls=3 "
                        f"bind=mixed rules=mixed limit=1000000000\n")
    r = redis_server.client
    worker_factory(redis_server.url, fake.url, SLATE_CONCURRENCY=48, SLATE_LOG_LEVEL="info")
    n = 24 if os.environ.get("SLATE_SANITIZE") == "1" else 48
    for i in range(n):
        connect(r, "ws", f"b{i}", big, job_id=f"big-{i}")
    for i in range(n):
        res = wait_result(r, f"big-{i}", timeout=120)
        assert res["status"] == "succeeded", res
        assert json.loads(res["summary"])["servers"] == 1000
        assert r.scard(f"slate:{{ws}}:integration:b{i}:assets") == 1000
        assert r.hget(f"slate:{{ws}}:integration:b{i}", "servers") == b"1000"
    assert r.hlen("slate:{ws}:assets") == 1000 * n
    assert not [k for k in r.scan_iter("slate:{ws}:*staging*")]


def test_small_projects_held_staged_or_spilled_store_the_same(redis_server, fake_factory,
                                                              worker_factory):
    """A small project's pages are kept for the commit, or staged in Redis page
    by page (SLATE_SYNC_HOLD_BYTES=0), or kept and then staged when the worker
    keeps more than the cap: whichever way, every integration ends with the
    same inventory and the same test results, and nothing staged is left."""
    tok = "H" * 60 + "hold"
    fake = fake_factory(f"project=mid token={tok} servers=180 ssh_keys=4 firewalls=3 "
                        f"bind=mixed rules=mixed private=9 pending=5 limit=1000000000\n")
    r = redis_server.client
    n = 12
    modes = {"held": {}, "staged": {"SLATE_SYNC_HOLD_BYTES": "0"},
             "spilled": {"SLATE_SYNC_HOLD_BYTES": "100000"}}
    stored = {}
    for mode, env in modes.items():
        w = worker_factory(redis_server.url, fake.url, SLATE_CONCURRENCY=n, **env)
        for i in range(n):
            connect(r, mode, f"i{i}", tok, job_id=f"{mode}-{i}")
        for i in range(n):
            res = wait_result(r, f"{mode}-{i}", timeout=60)
            assert res["status"] == "succeeded", res
            assert json.loads(res["summary"])["servers"] == 180
        pages = {path: w.metrics().get(f'slate_sync_pages_total{{path="{path}"}}', 0)
                 for path in ("held", "staged", "spilled")}
        # 180 servers are 4 pages.
        if mode == "held":
            assert pages == {"held": 4 * n, "staged": 0, "spilled": 0}, pages
        elif mode == "staged":
            assert pages == {"held": 0, "staged": 4 * n, "spilled": 0}, pages
        else:
            assert pages["spilled"] > 0 and pages["held"] + pages["staged"] + pages["spilled"] \
                == 4 * n, pages
        assert w.stop() == 0
        assert not [k for k in r.scan_iter(f"slate:{{{mode}}}:*staging*")]
        for i in range(n):
            integ = f"i{i}"

            def norm(v):
                v = v.decode().replace(f"hetzner:{integ}:", "hetzner:I:")
                v = v.replace(f'"integration":"{integ}"', '"integration":"I"')
                return re.sub(r'"evaluated_at":"[^"]*"', "", v)
            tests = {k.decode(): norm(v) for k, v in
                     r.hgetall(f"slate:{{{mode}}}:integration:{integ}:tests").items()}
            ids = r.smembers(f"slate:{{{mode}}}:integration:{integ}:assets")
            assert len(ids) == 180
            assets = sorted(norm(r.hget(f"slate:{{{mode}}}:assets", a)) for a in ids)
            stored[(mode, i)] = (tests, assets)
    first = stored[("held", 0)]
    assert len(first[0]) == 6 and any('"failing":[{' in t for t in first[0].values())
    for key, value in stored.items():
        assert value == first, key
