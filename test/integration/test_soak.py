"""
A soak: 10,000 jobs (2,000 under the sanitizers) over 100 integrations in
25 workspaces, connect / sync / evaluate / disconnect mixed, run by two
workers while faults are injected at random through the fake API's admin
interface (503s, HTML 502s, 409s, maintenance, malformed and truncated
bodies, stalls, latency, an emptied rate budget).

Checked: every job id ends with exactly one final result (succeeded, failed
or dead; `retrying` results may be many); failures are only the ones the
mix can cause; the queue is empty at the end; and each worker's resident
memory at the end is within 10 % of what it was after the first thousand
jobs.  The figures are written to soak-figures.json in the test's tmp dir
(and printed).
"""
import base64
import json
import random
import threading
import time
from collections import Counter

import pytest

from conftest import SANITIZE, SLOW, wait_for

JOBS = 2000 if SANITIZE else 10000
CHECKPOINT = 1000
PROJECTS_N = 25
INTEGRATIONS_PER_WS = 4
MAX_OUTSTANDING = 1200
DEADLINE_S = 170 * SLOW
DEV_PUBLIC_KEY = "4DZtO8N2KwORe3PLUQ0UEUTf9skQiGElCMk5h6RYvkU="
FINAL = ("succeeded", "failed", "dead")


def token_of(p):
    return f"soak{p:02d}" + "T" * 56 + f"{p:04d}"


def rss_kb(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(field)


class ResultReader:
    """Reads the results stream incrementally."""

    def __init__(self, r):
        self.r = r
        self.last = "0-0"
        self.finals = Counter()
        self.final_of = {}
        self.statuses = Counter()
        self.retrying = 0
        self.n = 0

    def poll(self):
        while True:
            batch = self.r.xrange("slate:{q}:results", min=f"({self.last}", max="+", count=5000)
            if not batch:
                return
            for entry_id, f in batch:
                self.last = entry_id.decode()
                self.n += 1
                jid = f[b"job_id"].decode()
                st = f[b"status"].decode()
                code = f.get(b"error_code", b"").decode()
                self.statuses[(st, code)] += 1
                if st in FINAL:
                    self.finals[jid] += 1
                    self.final_of[jid] = (st, code, f[b"type"].decode() if b"type" in f else "")
                else:
                    self.retrying += 1


class FaultInjector(threading.Thread):
    KINDS = ["fail503", "html502", "conflict", "maintenance", "malformed", "truncate",
             "latency", "stall", "ratelimit"]

    def __init__(self, fake, projects, seed):
        super().__init__(daemon=True)
        self.fake = fake
        self.projects = projects
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.count = Counter()
        self.errors = 0

    def run(self):
        slow = {}
        while not self.stop.wait(self.rng.uniform(0.02, 0.1)):
            p = self.rng.choice(self.projects)
            kind = self.rng.choice(self.KINDS)
            knobs = {
                "fail503": {"fail": f"503:{self.rng.randint(1, 4)}"},
                "html502": {"html502": self.rng.randint(1, 2)},
                "conflict": {"fail": "conflict:1"},
                "maintenance": {"fail": "maintenance:1"},
                "malformed": {"malformed": 1},
                "truncate": {"truncate": 1},
                "latency": {"latency_ms": self.rng.randint(50, 400)},
                "stall": {"stall": 1, "stall_ms": 1500},
                "ratelimit": {"ratelimit_remaining": 0},
            }[kind]
            try:
                self.fake.admin(p, **knobs)
                self.count[kind] += 1
                if kind == "latency":
                    slow[p] = time.time() + self.rng.uniform(0.3, 1.5)
                for q, until in list(slow.items()):
                    if time.time() > until:
                        self.fake.admin(q, latency_ms=0)
                        del slow[q]
            except Exception:
                self.errors += 1
        for q in slow:
            self.fake.admin(q, latency_ms=0)


def test_soak_two_workers_random_faults(redis_server, fake_factory, worker_factory, tmp_path):
    nacl_public = pytest.importorskip("nacl.public")
    box = nacl_public.SealedBox(nacl_public.PublicKey(base64.b64decode(DEV_PUBLIC_KEY)))
    projects = [f"p{p:02d}" for p in range(PROJECTS_N)]
    # A generous budget (100 requests a second: the 429s come from the
    # injector emptying it), small inventories.
    spec = "\n".join(f"project={name} token={token_of(i)} servers={5 + i % 4 * 20} ssh_keys=2 "
                     f"firewalls=2 limit=360000" for i, name in enumerate(projects))
    fake = fake_factory(spec + "\n")
    r = redis_server.client
    env = dict(SLATE_VISIBILITY_TIMEOUT_MS=3000 * SLOW, SLATE_RETRY_BASE_MS=50,
               SLATE_MAX_ATTEMPTS=6, SLATE_HTTP_RETRIES=1, SLATE_SYNC_INTERVAL_S=0, SLATE_HTTP_LOW_SPEED_S=1,
               SLATE_METRICS_ADDR="off", SLATE_LOG_LEVEL="info")
    workers = [worker_factory(redis_server.url, fake.url, **env) for _ in range(2)]

    rng = random.Random(20261204)
    integrations = [(f"ws{p:02d}", f"hz{k}", p) for p in range(PROJECTS_N)
                    for k in range(INTEGRATIONS_PER_WS)]
    sealed = {p: base64.b64encode(box.encrypt(token_of(p).encode())).decode()
              for p in range(PROJECTS_N)}

    def job(n):
        ws, integ, p = integrations[n % len(integrations)] if n < len(integrations) \
            else rng.choice(integrations)
        if n < len(integrations):
            t = "connect"
        else:
            t = rng.choices(["connect", "sync", "evaluate", "disconnect"], [15, 45, 28, 12])[0]
        fields = dict(type=t, workspace=ws, integration=integ, job_id=f"soak-{n}")
        if t == "connect":
            if rng.random() < 0.5:
                fields["token"] = token_of(p)
            else:
                fields["token_sealed"] = sealed[p]
        return fields

    reader = ResultReader(r)
    injector = FaultInjector(fake, projects, seed=7)
    injector.start()
    t0 = time.time()
    enqueued = 0
    rss_checkpoint = None
    try:
        while True:
            reader.poll()
            done = len(reader.finals)
            if rss_checkpoint is None and done >= CHECKPOINT and \
                    all(reader.finals.get(f"soak-{n}") for n in range(CHECKPOINT)):
                rss_checkpoint = [rss_kb(w.proc.pid) for w in workers]
                t_checkpoint = time.time() - t0
            if enqueued < JOBS and enqueued - done < MAX_OUTSTANDING:
                pipe = r.pipeline(transaction=False)
                for n in range(enqueued, min(JOBS, enqueued + 250)):
                    pipe.xadd("slate:{q}:jobs", job(n))
                pipe.execute()
                enqueued = min(JOBS, enqueued + 250)
                continue
            if done >= JOBS:
                break
            assert time.time() - t0 < DEADLINE_S, (
                f"soak too slow: {done}/{JOBS} final after {time.time() - t0:.0f} s")
            for w in workers:
                assert w.proc.poll() is None, w.log()[-3000:]
            time.sleep(0.05)
    finally:
        injector.stop.set()
        injector.join(5)
    elapsed = time.time() - t0
    # Late duplicates would show up now.
    time.sleep(1.5)
    reader.poll()

    # The queue drains: nothing left behind.
    wait_for(lambda: r.xlen("slate:{q}:jobs") == 0 and r.zcard("slate:{q}:delayed") == 0 and
             r.xpending("slate:{q}:jobs", "workers")["pending"] == 0, 20, what="an empty queue")
    rss_end = [rss_kb(w.proc.pid) for w in workers]
    hwm = [rss_kb(w.proc.pid, "VmHWM") for w in workers]

    by_final = Counter((st, code, t) for st, code, t in reader.final_of.values())
    figures = {
        "jobs": JOBS,
        "seconds": round(elapsed, 1),
        "jobs_per_second": round(JOBS / elapsed, 1),
        "checkpoint_seconds": round(t_checkpoint, 1) if rss_checkpoint else None,
        "faults_injected": dict(injector.count),
        "faults_total": sum(injector.count.values()),
        "admin_errors": injector.errors,
        "results_total": reader.n,
        "retrying_results": reader.retrying,
        "final_results": sum(reader.finals.values()),
        "finals_by_status_code_type": {f"{s}/{c or '-'}/{t}": n
                                        for (s, c, t), n in sorted(by_final.items())},
        "all_results_by_status_code": {f"{s}/{c or '-'}": n
                                        for (s, c), n in sorted(reader.statuses.items())},
        "rss_kb_after_first_1000": rss_checkpoint,
        "rss_kb_end": rss_end,
        "peak_rss_kb": hwm,
        "api_requests": len(fake.requests()),
    }
    with open(tmp_path / "soak-figures.json", "w") as f:
        json.dump(figures, f, indent=2)
    print(json.dumps(figures, indent=2))

    ids = {f"soak-{n}" for n in range(JOBS)}
    missing = ids - set(reader.finals)
    assert not missing, f"{len(missing)} jobs without a final result, e.g. {sorted(missing)[:5]}"
    twice = {j: n for j, n in reader.finals.items() if n != 1}
    assert not twice, f"jobs with more than one final result: {list(twice.items())[:10]}"
    assert set(reader.finals) == ids
    # Failures for good are only what the mix causes: a sync or evaluate of
    # an integration that is not (or no longer) connected.
    bad = {k: v for k, v in by_final.items() if k[0] == "failed" and k[1] != "not_connected"}
    assert not bad, bad
    assert injector.count and sum(injector.count.values()) > 50
    assert by_final and sum(v for k, v in by_final.items() if k[0] == "succeeded") > JOBS // 2

    assert rss_checkpoint, "the first thousand jobs never all finished"
    for i, (a, b) in enumerate(zip(rss_checkpoint, rss_end)):
        assert b <= a * 1.10, (f"worker {i + 1}: RSS grew from {a} kB after the first "
                               f"{CHECKPOINT} jobs to {b} kB after {JOBS}", figures)
