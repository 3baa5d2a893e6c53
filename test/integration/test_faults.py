"""
Faults, end to end: workers killed with SIGKILL mid-sync, Redis restarted
without persistence or frozen while results are computed, the fake Hetzner
API misbehaving in every way it knows (5xx, HTML 502, 429, stalled,
truncated, malformed, too deep and too big bodies), jobs that exhaust their
attempts, poison entries, leases left behind by a dead worker, and
scheduled syncs across three workers.

Every test checks the invariant of the queue: no job id ever has two final
results (succeeded, failed or dead).  Deadlines are short (visibility
timeout 1.5 s, retry base 100 ms) and scale with conftest.SLOW.
"""
import json
import os
import signal
import socket
import threading
import time
from collections import Counter, defaultdict

import pytest

from conftest import (SANITIZE, SLOW, RedisServer, Worker, enqueue, results, wait_for,
                      wait_result)

TOKEN = "A" * 60 + "acme"
TOKEN2 = "B" * 60 + "glob"
TOKEN3 = "C" * 60 + "init"
PROJECTS = f"""
project=acme token={TOKEN} servers=60 ssh_keys=2 firewalls=2 bind=direct rules=mixed
project=globex token={TOKEN2} servers=10 ssh_keys=1 firewalls=1
project=initech token={TOKEN3} servers=5 ssh_keys=1 firewalls=1
"""
FINAL = ("succeeded", "failed", "dead")
VT = 1500 * SLOW
# The small deadlines every test runs with.
FAST = dict(SLATE_VISIBILITY_TIMEOUT_MS=VT, SLATE_RETRY_BASE_MS=100, SLATE_SYNC_INTERVAL_S=0,
            SLATE_METRICS_ADDR="off")
# Resident memory a worker may use after any fault (the normal build; the
# sanitizers' shadow memory and quarantine need more).
RSS_LIMIT_KB = (64 if not SANITIZE else 512) * 1024


# ---- helpers ----

def job_results(r, job_id):
    return [x for x in results(r) if x.get("job_id") == job_id]


def assert_at_most_one_final(r):
    finals = Counter(x["job_id"] for x in results(r) if x["status"] in FINAL)
    twice = {j: n for j, n in finals.items() if n > 1}
    assert not twice, f"job ids with more than one final result: {twice}"
    return finals


def proc_status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def rss_kb(pid):
    return proc_status(pid, "VmRSS")


def connect(r, ws, integ, token, job_id):
    return enqueue(r, type="connect", workspace=ws, integration=integ, token=token, job_id=job_id)


def requests_since(fake, n):
    return fake.requests()[n:]


def pending_owner(r, entry_id):
    p = r.xpending_range("slate:{q}:jobs", "workers", entry_id, entry_id, 1)
    return p[0]["consumer"].decode() if p else None


@pytest.fixture
def killable(tmp_path):
    """Workers this test may SIGKILL (the shared factory would count their
    exit status as a failure).  Same environment as worker_factory."""
    made = []

    def make(redis_url, hetzner_url, name, **extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLATE_")}
        env.update({
            "SLATE_REDIS_URL": redis_url,
            "SLATE_HETZNER_URL": hetzner_url,
            "SLATE_DEV_INSECURE_KEY": "1",
            "SLATE_CONSUMER": f"killable-{name}",
            "SLATE_READ_BLOCK_MS": "200",
            "SLATE_LOG_LEVEL": "debug",
        })
        if SANITIZE:
            env["ASAN_OPTIONS"] = "detect_leaks=0"
        env.update({k: str(v) for k, v in extra.items()})
        w = Worker(str(tmp_path), env, f"killable-{name}")
        made.append(w)
        w.wait_log('"redis connected","conn":"reader"')
        return w

    yield make
    for w in made:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()
        w.logf.close()


class CountingProxy:
    """A TCP proxy on loopback that counts the bytes the upstream sends."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.down = 0           # upstream -> client
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self._pump, args=(c, u, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, True), daemon=True).start()

    def _pump(self, src, dst, count):
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                dst.sendall(b)
                if count:
                    with self.lock:
                        self.down += len(b)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self):
        self.closed = True
        self.sock.close()


# ---- a worker killed mid-sync ----

def test_kill9_mid_sync_other_worker_finishes(redis_server, fake_factory, killable):
    r = redis_server.client
    fake = fake_factory(PROJECTS)
    a = killable(redis_server.url, fake.url, "a", **FAST)
    b = killable(redis_server.url, fake.url, "b", **FAST)
    connect(r, "acme", "hz", TOKEN, "c")
    assert wait_result(r, "c", timeout=30)["status"] == "succeeded"

    fake.admin("acme", latency_ms=800)
    entry = enqueue(r, type="sync", workspace="acme", integration="hz", job_id="victim")
    owner = wait_for(lambda: pending_owner(r, entry), 10, what="the sync delivered")
    # Mid-sync: the first page requests are out and answered slowly.
    wait_for(lambda: '"job_id":"victim","from":"running","to":"fetching"' in a.log() + b.log(),
             10, what="the sync fetching")
    time.sleep(0.3)
    victim, other = (a, b) if owner == "killable-a" else (b, a)
    assert owner == f"killable-{victim.name.split('-')[1]}"
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait()
    killed_at = time.time()

    res = wait_result(r, "victim", timeout=30)
    took = time.time() - killed_at
    assert res["status"] == "succeeded", res
    # Not before the entry had been idle for the visibility timeout: the dead
    # worker had heartbeated it at most a third of it before it died.
    assert took >= (VT * 2 / 3) / 1000 - 0.1, took
    assert "took over a job whose worker stopped heartbeating" in other.log()
    assert other.proc.poll() is None
    # Exactly one final result for the job (the dead worker wrote nothing).
    finals = [x for x in job_results(r, "victim") if x["status"] in FINAL]
    assert len(finals) == 1, job_results(r, "victim")
    assert_at_most_one_final(r)
    assert r.xlen("slate:{q}:jobs") == 0
    assert r.xpending("slate:{q}:jobs", "workers")["pending"] == 0
    integ = r.hgetall("slate:{acme}:integration:hz")
    assert integ[b"status"] == b"connected" and b"sync_progress" not in integ


def test_lease_left_by_a_dead_worker_does_not_kill_the_takeover(redis_server, fake_factory,
                                                                 worker_factory):
    """A worker that dies mid-sync leaves the integration's lease behind for
    up to the visibility timeout, and the lease is renewed on its own timer:
    the worker that takes the job over can meet it.  It must wait for the
    lease, not burn its attempts against it and go dead."""
    r = redis_server.client
    fake = fake_factory(PROJECTS)
    worker_factory(redis_server.url, fake.url, **dict(FAST, SLATE_MAX_ATTEMPTS=3))
    connect(r, "acme", "hz", TOKEN, "c")
    assert wait_result(r, "c", timeout=30)["status"] == "succeeded"
    # What the dead worker left: its lease, with up to a visibility timeout
    # to live.
    r.set("slate:{acme}:integration:hz:lease", "dead-worker:1-0:42", px=VT)
    enqueue(r, type="sync", workspace="acme", integration="hz", job_id="after-crash")
    res = wait_result(r, "after-crash", timeout=30)
    tries = [(x["attempt"], x["status"], x.get("error_code"), x.get("error"))
             for x in job_results(r, "after-crash")]
    assert res["status"] == "succeeded", tries
    assert_at_most_one_final(r)


# ---- Redis restarted without persistence in the middle of a run ----

def test_redis_restart_mid_run_two_workers_recover(tmp_path, fake_factory, worker_factory):
    srv = RedisServer(str(tmp_path))
    fake = fake_factory(PROJECTS)
    ws = []
    try:
        ws = [worker_factory(srv.url, fake.url, SLATE_REDIS_TIMEOUT_MS=1000 * SLOW, **FAST)
              for _ in range(2)]
        r = srv.client
        names = (("acme", TOKEN), ("globex", TOKEN2), ("initech", TOKEN3))
        for ws_id, tok in names:
            connect(r, ws_id, "hz", tok, f"before-{ws_id}")
        for ws_id, _t in names:
            assert wait_result(r, f"before-{ws_id}", timeout=30)["status"] == "succeeded"
        # Work in flight when Redis goes: a slow sync of each integration
        # (one each: a second one would only wait for the first's lease).
        for ws_id, _t in names:
            fake.admin(ws_id, latency_ms=1500)
            enqueue(r, type="sync", workspace=ws_id, integration="hz", job_id=f"inflight-{ws_id}")

        def all_running():
            log = "".join(w.log() for w in ws)
            return r.xpending("slate:{q}:jobs", "workers")["pending"] == 3 and all(
                f'"job_id":"inflight-{x}","from":"running","to":"fetching"' in log
                for x, _t in names)
        wait_for(all_running, 10, what="three syncs fetching")
        srv.kill()
        for w in ws:
            w.wait_log("redis connection lost")
        time.sleep(0.5)
        srv.start()  # same port, no persistence: no stream, no group, no data
        for ws_id, _t in names:
            fake.admin(ws_id, latency_ms=0)
        r = srv.client
        # The syncs that were running when Redis went: their outcome,
        # computed while it was away, is written once it is back (the queue
        # lost their entries, so nobody else can hold them), and each ends
        # exactly once (the integrations are gone with the data: a retry
        # finds them not connected).
        for ws_id, _t in names:
            res = wait_result(r, f"inflight-{ws_id}", timeout=60)
            assert res["status"] in ("succeeded", "failed"), job_results(r, f"inflight-{ws_id}")
        # Everything enqueued now completes.
        jobs = []
        for ws_id, tok in names:
            connect(r, ws_id, "hz", tok, f"after-c-{ws_id}")
            jobs.append(f"after-c-{ws_id}")
        for ws_id, _t in names:
            assert wait_result(r, f"after-c-{ws_id}", timeout=60)["status"] == "succeeded"
        for ws_id, _t in names:
            # One sync per integration (more would only queue for its lease),
            # evaluates alongside.
            for i, t in enumerate(["sync"] + ["evaluate"] * 5):
                jid = f"after-{t}-{ws_id}-{i}"
                enqueue(r, type=t, workspace=ws_id, integration="hz", job_id=jid)
                jobs.append(jid)
        for jid in jobs:
            res = wait_result(r, jid, timeout=60)
            assert res["status"] == "succeeded", res
        assert_at_most_one_final(r)
        groups = r.xinfo_groups("slate:{q}:jobs")
        assert [g["name"] for g in groups] == [b"workers"]
        for w in ws:
            assert w.proc.poll() is None

        # Nothing is stuck: the runs that were in flight when Redis went
        # (their entries went with it) were dropped, not retried forever.
        def idle_workers():
            beats = [json.loads(v) for v in r.hvals("slate:{q}:workers")]
            return len(beats) == 2 and all(b["in_flight"] == 0 for b in beats)
        wait_for(idle_workers, 20, what="both workers idle with nothing in flight")
        assert r.xlen("slate:{q}:jobs") == 0
        for w in ws:
            assert w.stop() == 0
    finally:
        for w in ws:
            w.stop()
        srv.kill()


# ---- graceful shutdown past the drain timeout ----

def test_sigterm_past_drain_timeout_releases_for_prompt_takeover(redis_server, fake_factory,
                                                                 worker_factory):
    """A worker told to stop while a sync is stuck: after the drain timeout
    it hands the job back and exits 0; another worker takes it at its next
    reclaim (within a third of the visibility timeout, not after it)."""
    r = redis_server.client
    fake = fake_factory(PROJECTS)
    env = dict(FAST, SLATE_VISIBILITY_TIMEOUT_MS=6000 * SLOW, SLATE_DRAIN_TIMEOUT_MS=300)
    a = worker_factory(redis_server.url, fake.url, **env)
    connect(r, "acme", "hz", TOKEN, "c")
    assert wait_result(r, "c", timeout=30)["status"] == "succeeded"
    fake.admin("acme", latency_ms=3000)
    entry = enqueue(r, type="sync", workspace="acme", integration="hz", job_id="handed-back")
    wait_for(lambda: pending_owner(r, entry) == "test-worker-1" and
             '"job_id":"handed-back","from":"running","to":"fetching"' in a.log(), 10,
             what="the sync running")
    t0 = time.time()
    assert a.stop() == 0
    assert time.time() - t0 < 3.0 * SLOW, "the drain timeout was not honoured"
    assert "released" in a.log()
    assert job_results(r, "handed-back") == []  # the stopped worker wrote nothing
    fake.admin("acme", latency_ms=0)
    released_at = time.time()
    b = worker_factory(redis_server.url, fake.url, **env)
    b.wait_log("took over a job", timeout=6)
    took = time.time() - released_at
    # At the new worker's first reclaim: not a visibility timeout (6 s) later.
    assert took < 2.0 * SLOW + 1.5, took
    res = wait_result(r, "handed-back", timeout=30)
    assert res["status"] == "succeeded", job_results(r, "handed-back")
    assert len([x for x in job_results(r, "handed-back") if x["status"] in FINAL]) == 1


# ---- results computed while Redis is frozen ----

def test_result_computed_while_redis_is_frozen_is_written_once(redis_server, fake_factory,
                                                               worker_factory):
    """One worker; a connect whose answer (401: failed, no retry) arrives
    while redis-server is SIGSTOPped.  The result is kept and written once
    Redis answers again."""
    r = redis_server.client
    fake = fake_factory(PROJECTS)
    w = worker_factory(redis_server.url, fake.url, SLATE_REDIS_TIMEOUT_MS=700 * SLOW, **FAST)
    # The token is revoked (401), and the answer is slow.
    fake.admin("acme", latency_ms=1200, fail="401:3")
    n = len(fake.requests())
    connect(r, "acme", "hz", TOKEN, "frozen")
    wait_for(lambda: "fetching" in w.log(), 10, what="the connect fetching")
    os.kill(redis_server.proc.pid, signal.SIGSTOP)
    try:
        # The API answers (401) while Redis is frozen.
        wait_for(lambda: any(q["status"] == 401 for q in requests_since(fake, n)), 10,
                 what="the 401 answered")
        time.sleep(2.0 * SLOW)
        assert w.proc.poll() is None
    finally:
        os.kill(redis_server.proc.pid, signal.SIGCONT)
    res = wait_result(r, "frozen", timeout=30)
    assert res["status"] == "failed" and res["error_code"] == "invalid_token", res
    time.sleep(0.8)
    assert len(job_results(r, "frozen")) == 1, job_results(r, "frozen")
    log = w.log()
    assert "will retry" in log or "result is kept" in log, "the write was never retried"
    assert r.xlen("slate:{q}:jobs") == 0
    assert r.xpending("slate:{q}:jobs", "workers")["pending"] == 0
    # The worker serves on.
    enqueue(r, type="disconnect", workspace="acme", integration="x", job_id="after")
    assert wait_result(r, "after", timeout=20)["status"] == "succeeded"


def test_sync_while_redis_is_frozen_two_workers_one_final(redis_server, fake_factory,
                                                          worker_factory):
    """Two workers; Redis frozen (SIGSTOP) during a slow sync for longer than
    the visibility timeout, then thawed: whichever worker ends up with the
    job, it has exactly one final result, and it succeeds."""
    r = redis_server.client
    fake = fake_factory(PROJECTS)
    env = dict(FAST, SLATE_REDIS_TIMEOUT_MS=700 * SLOW)
    ws = [worker_factory(redis_server.url, fake.url, **env) for _ in range(2)]
    connect(r, "acme", "hz", TOKEN, "c")
    assert wait_result(r, "c", timeout=30)["status"] == "succeeded"
    fake.admin("acme", latency_ms=700)
    n = len(fake.requests())
    enqueue(r, type="sync", workspace="acme", integration="hz", job_id="away")
    wait_for(lambda: requests_since(fake, n), 10, what="the sync fetching")
    os.kill(redis_server.proc.pid, signal.SIGSTOP)
    try:
        # Every page is fetched while Redis is frozen (2 rounds of 700 ms).
        wait_for(lambda: len(requests_since(fake, n)) >= 4, 15, what="the sync's pages")
        time.sleep(max(VT / 1000 + 0.5, 2.0))
    finally:
        os.kill(redis_server.proc.pid, signal.SIGCONT)
    fake.admin("acme", latency_ms=0)
    res = wait_result(r, "away", timeout=60)
    assert res["status"] == "succeeded", job_results(r, "away")
    time.sleep(1.0)
    finals = [x for x in job_results(r, "away") if x["status"] in FINAL]
    assert len(finals) == 1, job_results(r, "away")
    assert_at_most_one_final(r)
    for w in ws:
        assert w.proc.poll() is None
    wait_for(lambda: r.xlen("slate:{q}:jobs") == 0 and
             r.xpending("slate:{q}:jobs", "workers")["pending"] == 0, 20,
             what="the queue empty")


# ---- the API misbehaving ----

# (id, knobs, worker env, expected [(attempt, status, error_code)], what the
# fake must have answered on /v1/servers: list of statuses, or None)
FAULTS = [
    ("503x2-retried-inside", dict(fail="503:2", fault_path="servers"), {},
     [(1, "succeeded", None)], [503, 503, 200, 200]),
    ("503x2-one-retry", dict(fail="503:2", fault_path="servers"), dict(SLATE_HTTP_RETRIES=1),
     [(1, "retrying", "hetzner_unavailable"), (2, "succeeded", None)], [503, 503, 200, 200]),
    ("503x1-no-retry", dict(fail="503:1"), dict(SLATE_HTTP_RETRIES=0),
     [(1, "retrying", "hetzner_unavailable"), (2, "succeeded", None)], None),
    ("503x2-no-retry", dict(fail="503:2", fault_path="servers"), dict(SLATE_HTTP_RETRIES=0),
     [(1, "retrying", "hetzner_unavailable"), (2, "retrying", "hetzner_unavailable"),
      (3, "succeeded", None)], [503, 503, 200, 200]),
    ("html502-retried-inside", dict(html502=1, fault_path="servers"), {},
     [(1, "succeeded", None)], [502, 200, 200]),
    ("html502-no-retry", dict(html502=1, fault_path="servers"), dict(SLATE_HTTP_RETRIES=0),
     [(1, "retrying", "hetzner_unavailable"), (2, "succeeded", None)], [502, 200, 200]),
    ("maintenance", {"fail": "maintenance:1", "fault_path": "servers"}, dict(SLATE_HTTP_RETRIES=0),
     [(1, "retrying", "hetzner_unavailable"), (2, "succeeded", None)], [403, 200, 200]),
    ("conflict", {"fail": "conflict:1", "fault_path": "servers"}, {},
     [(1, "succeeded", None)], [409, 200, 200]),
    ("stalled-body", dict(stall=1, stall_ms=8000, fault_path="servers"),
     dict(SLATE_HTTP_LOW_SPEED_S=1, SLATE_HTTP_RETRIES=0),
     [(1, "retrying", "timeout"), (2, "succeeded", None)], None),
    ("truncated-body", dict(truncate=1, fault_path="servers"), dict(SLATE_HTTP_RETRIES=0),
     [(1, "retrying", "hetzner_unavailable"), (2, "succeeded", None)], None),
    ("malformed-json", dict(malformed=1, fault_path="servers"), dict(SLATE_HTTP_RETRIES=0),
     [(1, "retrying", "hetzner_unavailable"), (2, "succeeded", None)], None),
    ("malformed-json-retried-inside", dict(malformed=1, fault_path="servers"), {},
     [(1, "succeeded", None)], None),
    ("deep-10000", dict(deep=1, deep_depth=10000, fault_path="servers"), {},
     [(1, "failed", "bad_response")], [200]),
    ("forbidden", {"fail": "403:1", "fault_path": "servers"}, {},
     [(1, "failed", "forbidden")], [403]),
]


@pytest.mark.parametrize("name,knobs,env,expected,servers_statuses", FAULTS,
                         ids=[f[0] for f in FAULTS])
def test_api_fault(name, knobs, env, expected, servers_statuses, redis_server, fake_factory,
                   worker_factory):
    r = redis_server.client
    fake = fake_factory(PROJECTS)
    w = worker_factory(redis_server.url, fake.url, **dict(FAST, **env))
    fake.admin("acme", **knobs)
    connect(r, "acme", "hz", TOKEN, "j")
    res = wait_result(r, "j", timeout=60)
    # Long enough for a wrongly scheduled retry (base 100 ms) to show up.
    time.sleep(0.4)
    got = [(int(x["attempt"]), x["status"], x.get("error_code")) for x in job_results(r, "j")]
    assert got == expected, [dict(x) for x in job_results(r, "j")]
    assert res["status"] == expected[-1][1]
    if servers_statuses is not None:
        seen = [q["status"] for q in fake.requests() if q["path"] == "/v1/servers"]
        assert seen == servers_statuses, seen
    if expected[-1][1] == "succeeded":
        assert json.loads(res["summary"])["servers"] == 60
        assert r.hget("slate:{acme}:integration:hz", "status") == b"connected"
    else:
        # Nothing stored by a connect that failed, and no retry pending.
        assert not r.exists("slate:{acme}:integration:hz")
    assert r.zcard("slate:{q}:delayed") == 0
    assert r.xlen("slate:{q}:jobs") == 0
    assert w.proc.poll() is None
    assert rss_kb(w.proc.pid) < RSS_LIMIT_KB
    for line in w.log().splitlines():
        assert TOKEN not in line


def test_hundred_megabyte_body_is_cut_off(redis_server, fake_factory, worker_factory, tmp_path):
    r = redis_server.client
    fake = fake_factory(PROJECTS)
    proxy = CountingProxy(fake.port)
    try:
        # Default SLATE_HTTP_MAX_BODY: 32 MiB.
        w = worker_factory(redis_server.url, f"http://127.0.0.1:{proxy.port}/v1", **FAST)
        before = rss_kb(w.proc.pid)
        fake.admin("acme", huge=1, huge_mb=100, fault_path="servers")
        t0 = time.time()
        connect(r, "acme", "hz", TOKEN, "big")
        res = wait_result(r, "big", timeout=60)
        took = time.time() - t0
        time.sleep(0.5)
        assert res["status"] == "failed" and res["error_code"] == "bad_response", res
        # Cut off by the byte cap, or sooner by the parser's bound on one JSON
        # token (the fake's huge body is one endless string).
        assert "exceeds" in res["error"] or "longer than" in res["error"], res
        assert [x["status"] for x in job_results(r, "big")] == ["failed"]
        # The transfer was stopped: far less than 100 MiB crossed the proxy
        # (at most 32 MiB read plus what the socket buffers held; the parser's
        # bound on one token stops this one-string body much sooner).
        down = proxy.down
        assert down < 48 * 1024 * 1024, down
        assert w.proc.poll() is None
        after = rss_kb(w.proc.pid)
        peak = proc_status(w.proc.pid, "VmHWM")
        with open(tmp_path / "huge-body-figures.txt", "w") as f:
            f.write(f"bytes through proxy {down}\nseconds {took:.2f}\n"
                    f"rss before {before} kB\nrss after {after} kB\npeak {peak} kB\n")
        assert after < RSS_LIMIT_KB, (before, after, peak)
        # And it still works.
        connect(r, "acme", "hz", TOKEN, "small")
        assert wait_result(r, "small", timeout=30)["status"] == "succeeded"
    finally:
        proxy.close()


def test_one_long_string_is_refused_promptly(redis_server, fake_factory, worker_factory):
    """A body that is one 16 MiB JSON string (within the body cap) must cost
    about what reading 16 MiB costs, not seconds of CPU: the parser must not
    rescan a string that arrives in pieces."""
    r = redis_server.client
    fake = fake_factory(PROJECTS)
    w = worker_factory(redis_server.url, fake.url,
                       **dict(FAST, SLATE_HTTP_MAX_BODY=16 * 1024 * 1024))
    fake.admin("acme", huge=1, huge_mb=100, fault_path="servers")
    t0 = time.time()
    connect(r, "acme", "hz", TOKEN, "long")
    res = wait_result(r, "long", timeout=60)
    took = time.time() - t0
    assert res["status"] == "failed" and res["error_code"] == "bad_response", res
    cpu = sum(int(x) for x in open(f"/proc/{w.proc.pid}/stat").read().split(")")[1].split()[11:13])
    assert took < 2.0 * SLOW, (f"16 MiB in one string took {took:.1f} s "
                               f"({cpu / os.sysconf('SC_CLK_TCK'):.1f} s of worker CPU)")


# ---- rate limits ----

def test_429_waits_for_the_budget_and_does_not_count_as_an_attempt(redis_server, fake_factory,
                                                                   worker_factory):
    r = redis_server.client
    fake = fake_factory(PROJECTS)
    # One attempt only: had the rate-limited attempt counted, the job would
    # be dead after it.
    worker_factory(redis_server.url, fake.url, **dict(FAST, SLATE_MAX_ATTEMPTS=1))
    # 36,000 requests an hour: the bucket refills at 10 a second.
    fake.admin("acme", limit=36000, ratelimit_remaining=0)
    t0 = time.time()
    connect(r, "acme", "hz", TOKEN, "rl")
    first = wait_result(r, "rl", statuses=("retrying", "succeeded", "failed", "dead"), timeout=30)
    assert first["status"] == "retrying" and first["error_code"] == "rate_limited", first
    # Due when the budget holds the sync's requests again (~1.3 s here).
    member = r.zrange("slate:{q}:delayed", 0, -1, withscores=True)
    res = wait_result(r, "rl", timeout=30)
    took = time.time() - t0
    assert res["status"] == "succeeded", job_results(r, "rl")
    assert res["attempt"] == "2"
    statuses = [(x["attempt"], x["status"], x.get("error_code")) for x in job_results(r, "rl")]
    assert statuses == [("1", "retrying", "rate_limited"), ("2", "succeeded", None)], statuses
    # The wait was the refill time of what the sync needs, not the hour it
    # takes the bucket to fill.
    assert took < 15 * SLOW, took
    assert len(member) == 1, member
    if member:
        fields = json.loads(member[0][0])
        assert fields["attempt"] == "2" and fields["rate_waits"] == "1", fields
        assert int(fields["rate_wait_ms"]) > 0
        assert "token" not in fields and "token_sealed" in fields
    assert any(q["status"] == 429 for q in fake.requests())


def test_sync_without_budget_waits_without_any_request(redis_server, fake_factory,
                                                       worker_factory):
    r = redis_server.client
    fake = fake_factory(PROJECTS)
    worker_factory(redis_server.url, fake.url, **dict(FAST, SLATE_MAX_ATTEMPTS=1))
    fake.admin("acme", limit=36000)
    connect(r, "acme", "hz", TOKEN, "c")
    assert wait_result(r, "c", timeout=30)["status"] == "succeeded"
    # Another worker has just used the project's budget up (as the shared
    # record says): 36,000/h, 0 left, seen now.
    sec, usec = r.time()
    now_ms = sec * 1000 + usec // 1000
    r.hset("slate:{acme}:integration:hz", mapping={
        "ratelimit_limit": 36000, "ratelimit_remaining": 0, "ratelimit_seen_ms": now_ms})
    n = len(fake.requests())
    enqueue(r, type="sync", workspace="acme", integration="hz", job_id="s")
    first = wait_result(r, "s", statuses=("retrying", "succeeded", "failed", "dead"), timeout=30)
    assert first["status"] == "retrying" and first["error_code"] == "rate_limited", first
    assert requests_since(fake, n) == []  # not one request spent
    res = wait_result(r, "s", timeout=30)
    assert res["status"] == "succeeded", job_results(r, "s")
    assert int(res["attempt"]) >= 2
    assert all(x["error_code"] == "rate_limited" for x in job_results(r, "s")
               if x["status"] == "retrying")
    assert all(q["status"] == 200 for q in requests_since(fake, n))


# ---- attempts exhausted ----

def test_dead_after_max_attempts(redis_server, fake_factory, worker_factory):
    r = redis_server.client
    fake = fake_factory(PROJECTS)
    w = worker_factory(redis_server.url, fake.url,
                       **dict(FAST, SLATE_MAX_ATTEMPTS=4, SLATE_HTTP_RETRIES=0))
    fake.admin("acme", fail="503:1000")
    connect(r, "acme", "hz", TOKEN, "doomed")
    res = wait_result(r, "doomed", timeout=60)
    time.sleep(0.5)
    got = [(x["attempt"], x["status"], x.get("error_code")) for x in job_results(r, "doomed")]
    assert got == [("1", "retrying", "hetzner_unavailable"), ("2", "retrying", "hetzner_unavailable"),
                   ("3", "retrying", "hetzner_unavailable"), ("4", "dead", "hetzner_unavailable")], got
    assert res["status"] == "dead"
    dead = r.xrange("slate:{q}:dead")
    assert len(dead) == 1
    d = {k.decode(): v.decode() for k, v in dead[0][1].items()}
    for k in ("job_id", "type", "workspace", "integration", "attempt", "error_code", "error",
              "attempts", "finished_at"):
        assert k in d, (k, d)
    assert d["job_id"] == "doomed" and d["type"] == "connect" and d["attempts"] == "4"
    assert d["workspace"] == "acme" and d["integration"] == "hz"
    assert d["error_code"] == "hetzner_unavailable"
    assert "token" not in d and "token_sealed" not in d
    blob = json.dumps(d)
    assert TOKEN not in blob
    assert r.xlen("slate:{q}:jobs") == 0
    assert r.zcard("slate:{q}:delayed") == 0
    assert r.xpending("slate:{q}:jobs", "workers")["pending"] == 0
    assert not r.exists("slate:{acme}:integration:hz")
    # Each attempt asked the API (at least once) and was refused.
    assert len([q for q in fake.requests() if q["status"] == 503]) >= 4
    assert w.proc.poll() is None


def test_sync_dead_marks_the_integration_and_keeps_the_inventory(redis_server, fake_factory,
                                                                 worker_factory):
    r = redis_server.client
    fake = fake_factory(PROJECTS)
    worker_factory(redis_server.url, fake.url,
                   **dict(FAST, SLATE_MAX_ATTEMPTS=3, SLATE_HTTP_RETRIES=0))
    connect(r, "acme", "hz", TOKEN, "c")
    assert wait_result(r, "c", timeout=30)["status"] == "succeeded"
    fake.admin("acme", fail="503:1000")
    enqueue(r, type="sync", workspace="acme", integration="hz", job_id="s")
    res = wait_result(r, "s", timeout=60)
    got = [(x["attempt"], x["status"]) for x in job_results(r, "s")]
    assert got == [("1", "retrying"), ("2", "retrying"), ("3", "dead")], got
    # Only the last attempt marks the record; the inventory stays.
    integ = r.hgetall("slate:{acme}:integration:hz")
    assert integ[b"status"] == b"error"
    assert r.hlen("slate:{acme}:assets") == 60
    assert json.loads(res["summary"])["tests"]["hetzner.cloud_linked"] == "fail"


# ---- poison entries ----

def _poison(r, fields, deliveries):
    """An entry delivered `deliveries` times to a consumer that is gone, idle
    far past any visibility timeout."""
    try:
        r.xgroup_create("slate:{q}:jobs", "workers", id="0", mkstream=True)
    except Exception:
        pass
    entry = r.xadd("slate:{q}:jobs", fields).decode()
    got = r.xreadgroup("workers", "ghost", {"slate:{q}:jobs": ">"}, count=1)
    assert got and got[0][1][0][0].decode() == entry
    for _ in range(deliveries - 1):
        r.xclaim("slate:{q}:jobs", "workers", "ghost", 0, [entry])
    r.xclaim("slate:{q}:jobs", "workers", "ghost", 0, [entry], idle=10 * 60 * 1000, justid=True)
    p = r.xpending_range("slate:{q}:jobs", "workers", entry, entry, 1)[0]
    assert p["times_delivered"] == deliveries, p
    return entry


def test_poison_entry_goes_to_dead(redis_server, worker_factory):
    r = redis_server.client
    # Delivered four times, its workers never finished it (they died):
    # past SLATE_MAX_DELIVERIES=3.
    poison = _poison(r, dict(type="sync", workspace="acme", integration="nope",
                             job_id="poison"), 4)
    # Delivered once before: a plain takeover, it runs (and fails
    # not_connected, since nothing is connected).
    once = _poison(r, dict(type="sync", workspace="acme", integration="nope",
                           job_id="once"), 1)
    w = worker_factory(redis_server.url, **FAST)
    res = wait_result(r, "poison", timeout=20)
    assert res["status"] == "dead", res
    assert "delivered" in res["error"]
    ok = wait_result(r, "once", timeout=20)
    assert ok["status"] == "failed" and ok["error_code"] == "not_connected", ok
    dead = [{k.decode(): v.decode() for k, v in f.items()} for _i, f in r.xrange("slate:{q}:dead")]
    assert [d["job_id"] for d in dead] == ["poison"]
    assert r.xlen("slate:{q}:jobs") == 0
    assert r.xpending("slate:{q}:jobs", "workers")["pending"] == 0
    time.sleep(1.0)
    assert len(job_results(r, "poison")) == 1 and len(job_results(r, "once")) == 1
    assert poison and once and w.proc.poll() is None


def test_poison_connect_dead_entry_holds_no_token(redis_server, worker_factory):
    nacl_public = pytest.importorskip("nacl.public")
    import base64
    r = redis_server.client
    pk = nacl_public.PublicKey(base64.b64decode("4DZtO8N2KwORe3PLUQ0UEUTf9skQiGElCMk5h6RYvkU="))
    sealed = base64.b64encode(nacl_public.SealedBox(pk).encrypt(TOKEN.encode())).decode()
    _poison(r, dict(type="connect", workspace="acme", integration="hz", job_id="pc",
                    token_sealed=sealed), 5)
    worker_factory(redis_server.url, **FAST)
    res = wait_result(r, "pc", timeout=20)
    assert res["status"] == "dead"
    dead = r.xrange("slate:{q}:dead")
    blob = b"".join(k + b"=" + v for _i, f in dead for k, v in f.items())
    assert sealed.encode() not in blob and TOKEN.encode() not in blob
    assert b"token" not in b"".join(k for _i, f in dead for k in f)
    assert r.xlen("slate:{q}:jobs") == 0


def test_entry_whose_workers_keep_dying_goes_to_dead(redis_server, fake_factory, killable):
    """The real thing: every worker that takes the job dies (SIGKILL) while
    running it.  After SLATE_MAX_DELIVERIES deliveries it is dead, not
    handed around forever."""
    r = redis_server.client
    fake = fake_factory(PROJECTS)
    env = dict(FAST, SLATE_MAX_DELIVERIES=2)
    current = killable(redis_server.url, fake.url, "p0", **env)
    connect(r, "acme", "hz", TOKEN, "c")
    assert wait_result(r, "c", timeout=30)["status"] == "succeeded"
    fake.admin("acme", latency_ms=int(VT * 4))  # never finishes in time
    entry = enqueue(r, type="sync", workspace="acme", integration="hz", job_id="cursed")

    def running(w):
        return lambda: pending_owner(r, entry) == w.name and any(
            '"cursed"' in line and '"to":"fetching"' in line for line in w.log().splitlines())

    for i in range(1, 3):
        wait_for(running(current), 20, what=f"delivery {i} running")
        current.proc.kill()
        current.proc.wait()
        # Its lease would outlive the takeover (see the lease test): gone.
        r.delete("slate:{acme}:integration:hz:lease")
        current = killable(redis_server.url, fake.url, f"p{i}", **env)
    # Third delivery: dead at once.
    res = wait_result(r, "cursed", timeout=20)
    assert res["status"] == "dead", job_results(r, "cursed")
    assert [x["status"] for x in job_results(r, "cursed")] == ["dead"]
    assert r.xlen("slate:{q}:dead") == 1
    assert r.xlen("slate:{q}:jobs") == 0
    assert current.proc.poll() is None


# ---- scheduled syncs ----

def test_scheduled_syncs_once_per_interval_across_three_workers(redis_server, fake_factory,
                                                                worker_factory):
    r = redis_server.client
    fake = fake_factory(PROJECTS)
    ws = [worker_factory(redis_server.url, fake.url, **dict(FAST, SLATE_SYNC_INTERVAL_S=2))
          for _ in range(3)]
    pairs = [("acme", "hz", TOKEN), ("globex", "g1", TOKEN2), ("initech", "i1", TOKEN3)]
    for ws_id, integ, tok in pairs:
        connect(r, ws_id, integ, tok, f"c-{ws_id}")
    for ws_id, _i, _t in pairs:
        assert wait_result(r, f"c-{ws_id}", timeout=30)["status"] == "succeeded"
    members = {m.decode(): s for m, s in r.zrange("slate:{q}:schedule", 0, -1, withscores=True)}
    assert set(members) == {f"{w}/{i}" for w, i, _t in pairs}
    t0 = time.time()
    window = 7.0
    time.sleep(window)
    t_end_ms = int(time.time() * 1000)
    # Let the syncs of the last slots finish.
    time.sleep(2.0)

    slots = defaultdict(list)
    for res in results(r):
        jid = res["job_id"]
        if not jid.startswith("sched:"):
            continue
        _s, w, i, due = jid.split(":")
        slots[(w, i)].append(int(due))
    finals = assert_at_most_one_final(r)
    for ws_id, integ, _t in pairs:
        dues = sorted(set(slots[(ws_id, integ)]))
        in_window = [d for d in dues if d <= t_end_ms]
        # One slot every 2 s over ~7 s: three or four, never more.
        assert 3 <= len(in_window) <= 4, (ws_id, dues)
        for a, b in zip(dues, dues[1:]):
            assert b - a == 2000, (ws_id, dues)
        for d in dues:
            jid = f"sched:{ws_id}:{integ}:{d}"
            if d <= t_end_ms - 1000:
                assert finals.get(jid) == 1, (jid, [x for x in results(r) if x["job_id"] == jid])
        for d in dues:
            rs = [x for x in results(r) if x["job_id"] == f"sched:{ws_id}:{integ}:{d}"]
            assert all(x["type"] == "sync" and x["status"] in ("succeeded",) for x in rs), rs
    # Each slot was one job: as many sync requests as slots (and the connect).
    # Disconnecting stops the schedule.
    enqueue(r, type="disconnect", workspace="acme", integration="hz", job_id="d")
    assert wait_result(r, "d")["status"] == "succeeded"
    assert r.zscore("slate:{q}:schedule", "acme/hz") is None
    gone_at = int(time.time() * 1000)
    time.sleep(2.3)
    later = [x for x in results(r) if x["job_id"].startswith("sched:acme:hz:")
             and int(x["job_id"].split(":")[-1]) > gone_at]
    assert later == [], later
    for w in ws:
        assert w.proc.poll() is None
    assert t0
