"""
The queue contract of PROTOCOL.md against a real redis-server and real
worker processes: round trip, strict parsing of malformed jobs, Redis
refused and killed, configuration errors, orderly exit.
"""
import os
import subprocess
import time

import pytest

from conftest import BUILD, RedisServer, enqueue, results, wait_for, wait_result

JOBS = "slate:{q}:jobs"


def test_round_trip_acknowledges_and_deletes(redis_server, worker_factory):
    r = redis_server.client
    w = worker_factory(redis_server.url)
    jid = enqueue(r, type="disconnect", workspace="acme", integration="hz-1", job_id="job-1")
    res = wait_result(r, "job-1")
    assert res["status"] == "succeeded"
    assert res["type"] == "disconnect"
    assert res["workspace"] == "acme" and res["integration"] == "hz-1"
    assert res["attempt"] == "1"
    assert res["summary"] == '{"assets":{"removed":0}}'
    assert int(res["duration_ms"]) >= 0
    assert res["finished_at"].endswith("Z") and len(res["finished_at"]) == 20
    # Acknowledged and deleted in the same step as the result.
    assert r.xlen(JOBS) == 0
    assert r.xpending(JOBS, "workers")["pending"] == 0
    assert r.xrange(JOBS, jid, jid) == []
    assert w.proc.poll() is None


def test_group_created_from_zero_so_old_jobs_run(redis_server, worker_factory):
    r = redis_server.client
    # Enqueued before any worker ever ran (no group yet).
    jid = enqueue(r, type="disconnect", workspace="acme", integration="early")
    worker_factory(redis_server.url)
    assert wait_result(r, jid)["status"] == "succeeded"


MALFORMED = [
    ({"workspace": "acme", "integration": "i1"}, "'type' is missing"),
    ({"type": "reboot", "workspace": "acme", "integration": "i1"}, "type must be"),
    ({"type": "sync", "integration": "i1"}, "'workspace' is missing"),
    ({"type": "sync", "workspace": "acme"}, "'integration' is missing"),
    ({"type": "sync", "workspace": "ac{me}", "integration": "i1"}, "workspace must match"),
    ({"type": "sync", "workspace": "acme", "integration": "a/b"}, "integration must match"),
    ({"type": "sync", "workspace": "ac me", "integration": "i1"}, "workspace must match"),
    ({"type": "sync", "workspace": "acme", "integration": "i1", "job_id": "has space"}, "job_id must match"),
    ({"type": "sync", "workspace": "acme", "integration": "x" * 100_000}, "longer than 1024 bytes"),
    ({"type": "sync", "workspace": b"\xff\xfe", "integration": "i1"}, "not valid UTF-8"),
    ({"type": "sync", "workspace": "acme", "integration": "i1", "colour": "red"}, "unknown field 'colour'"),
    ({"type": "sync", "workspace": "acme", "integration": "i1", "attempt": "zero"}, "attempt must be"),
    ({"type": "sync", "workspace": "acme", "integration": "i1", "token": "abc"}, "only a connect may carry a token"),
    ({"type": "connect", "workspace": "acme", "integration": "i1"}, "needs token or token_sealed"),
    ({"type": "connect", "workspace": "acme", "integration": "i1", "token": "a", "token_sealed": "b"}, "not both"),
]


def test_malformed_jobs_get_invalid_job_and_worker_keeps_serving(redis_server, worker_factory):
    r = redis_server.client
    w = worker_factory(redis_server.url)
    ids = []
    for fields, _ in MALFORMED:
        ids.append(enqueue(r, **fields))
    good = enqueue(r, type="disconnect", workspace="acme", integration="still-ok", job_id="after")
    assert wait_result(r, "after")["status"] == "succeeded"
    for entry_id, (fields, reason) in zip(ids, MALFORMED):
        res = wait_result(r, entry_id)
        assert res["status"] == "failed", res
        assert res["error_code"] == "invalid_job", res
        assert reason in res["error"], (reason, res)
        # Bad values are never echoed; valid ones are.
        for k in ("workspace", "integration"):
            v = fields.get(k)
            if k in res:
                assert res[k] == v
        if fields.get("type") not in ("connect", "sync", "evaluate", "disconnect"):
            assert "type" not in res
    assert "x" * 100 not in str(results(r))
    # Every entry is gone, the secret-bearing ones included.
    assert r.xlen(JOBS) == 0
    assert w.proc.poll() is None
    assert good


def test_unknown_field_name_is_not_echoed_when_unprintable(redis_server, worker_factory):
    r = redis_server.client
    worker_factory(redis_server.url)
    jid = enqueue(r, **{"type": "sync", "workspace": "acme", "integration": "i1", "bad{key}": "1"})
    res = wait_result(r, jid)
    assert res["error_code"] == "invalid_job"
    assert "bad{key}" not in res["error"]


def test_refused_redis_is_reported_and_recovered(tmp_path, worker_factory):
    port_holder = RedisServer(str(tmp_path))
    port = port_holder.port
    port_holder.kill()  # nothing listens on this port now
    w = worker_factory(f"redis://127.0.0.1:{port}/0", wait_ready=False)
    w.wait_log("redis connection lost")
    time.sleep(0.5)
    assert w.proc.poll() is None
    # Redis appears on that port: the worker connects and serves.
    srv = RedisServer.__new__(RedisServer)
    srv.port, srv.tmp, srv.proc = port, str(tmp_path), None
    srv.start()
    try:
        jid = enqueue(srv.client, type="disconnect", workspace="acme", integration="i1")
        assert wait_result(srv.client, jid, timeout=20)["status"] == "succeeded"
    finally:
        assert w.stop() == 0
        srv.kill()


def test_redis_killed_mid_run_recovers_and_recreates_group(tmp_path, worker_factory):
    srv = RedisServer(str(tmp_path))
    try:
        w = worker_factory(srv.url)
        j1 = enqueue(srv.client, type="disconnect", workspace="acme", integration="i1")
        wait_result(srv.client, j1)
        srv.kill()
        w.wait_log("redis connection lost")
        srv.start()  # no persistence: the group is gone
        j2 = enqueue(srv.client, type="disconnect", workspace="acme", integration="i2")
        assert wait_result(srv.client, j2, timeout=30)["status"] == "succeeded"
        assert w.proc.poll() is None
    finally:
        assert w.stop() == 0
        srv.kill()


def test_sigterm_exits_zero_and_closes_the_loop(redis_server, worker_factory):
    w = worker_factory(redis_server.url)
    assert w.stop() == 0
    log = w.log()
    assert '"loop_closed":"true"' in log
    # The worker's heartbeat record is removed on the way out.
    assert not redis_server.client.hexists("slate:{q}:workers", "test-worker-1")


@pytest.mark.parametrize("var,value,words", [
    ("SLATE_PREFIX", "bad prefix!", "SLATE_PREFIX"),
    ("SLATE_CONCURRENCY", "many", "SLATE_CONCURRENCY"),
    ("SLATE_VISIBILITY_TIMEOUT_MS", "-5", "SLATE_VISIBILITY_TIMEOUT_MS"),
    ("SLATE_REDIS_URL", "http://x", "SLATE_REDIS_URL"),
    ("SLATE_HETZNER_URL", "http://10.1.2.3/v1", "SLATE_HETZNER_URL"),
    ("SLATE_SECRET_KEY_FILE", "/nonexistent/key", "SLATE_SECRET_KEY_FILE"),
])
def test_bad_configuration_refused_with_the_variable_named(var, value, words):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLATE_")}
    env["SLATE_DEV_INSECURE_KEY"] = "1"
    env["SLATE_REDIS_URL"] = "redis://127.0.0.1:9/0"
    env[var] = value
    p = subprocess.run([os.path.join(BUILD, "slate-worker")], env=env, capture_output=True,
                       text=True, timeout=20)
    assert p.returncode == 2, p.stderr
    assert words in p.stderr


def test_missing_key_refused():
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLATE_")}
    p = subprocess.run([os.path.join(BUILD, "slate-worker")], env=env, capture_output=True,
                       text=True, timeout=20)
    assert p.returncode == 2
    assert "SLATE_SECRET_KEY_FILE" in p.stderr


def test_help_lists_every_variable():
    p = subprocess.run([os.path.join(BUILD, "slate-worker"), "--help"], capture_output=True,
                       text=True, timeout=20)
    assert p.returncode == 0
    for var in ("SLATE_REDIS_URL", "SLATE_PREFIX", "SLATE_HETZNER_URL", "SLATE_CA_FILE",
                "SLATE_SECRET_KEY_FILE", "SLATE_CONCURRENCY", "SLATE_VISIBILITY_TIMEOUT_MS",
                "SLATE_MAX_ATTEMPTS", "SLATE_RETRY_BASE_MS", "SLATE_HTTP_RETRIES",
                "SLATE_DRAIN_TIMEOUT_MS", "SLATE_FRESHNESS_S", "SLATE_RESULTS_MAXLEN",
                "SLATE_DEAD_MAXLEN"):
        assert var in p.stdout


def test_prefix_is_honoured(redis_server, worker_factory):
    r = redis_server.client
    worker_factory(redis_server.url, SLATE_PREFIX="tenant2")
    jid = enqueue(r, prefix="tenant2", type="disconnect", workspace="acme", integration="i1")
    assert wait_result(r, jid, prefix="tenant2")["status"] == "succeeded"
    assert not r.exists("slate:{q}:results")


def test_unix_socket_url(tmp_path, worker_factory):
    sock = str(tmp_path / "redis.sock")
    proc = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock,
                             "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import redis as redis_py
        wait_for(lambda: os.path.exists(sock), what="unix socket")
        r = redis_py.Redis(unix_socket_path=sock)
        wait_for(lambda: r.ping(), what="redis on the socket")
        w = worker_factory(f"unix://{sock}")
        jid = enqueue(r, type="disconnect", workspace="acme", integration="u1")
        assert wait_result(r, jid)["status"] == "succeeded"
        assert w.stop() == 0
    finally:
        proc.kill()
        proc.wait()


def test_stream_deleted_under_a_blocked_read_is_recovered(redis_server, worker_factory):
    r = redis_server.client
    w = worker_factory(redis_server.url)
    j1 = enqueue(r, type="disconnect", workspace="acme", integration="i1")
    wait_result(r, j1)
    r.delete("slate:{q}:jobs")  # a blocked XREADGROUP is unblocked with an error
    time.sleep(0.5)
    j2 = enqueue(r, type="disconnect", workspace="acme", integration="i2")
    assert wait_result(r, j2, timeout=20)["status"] == "succeeded"
    r.flushall()
    time.sleep(0.5)
    j3 = enqueue(r, type="disconnect", workspace="acme", integration="i3")
    assert wait_result(r, j3, timeout=20)["status"] == "succeeded"
    assert w.proc.poll() is None


def test_stray_arguments_are_refused():
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLATE_")}
    p = subprocess.run([os.path.join(BUILD, "slate-worker"), "--dev-insecure-key", "0",
                        "--metrics-addr=off"], env=env, capture_output=True, text=True, timeout=20)
    assert p.returncode == 2
    assert "unexpected argument '0'" in p.stderr
