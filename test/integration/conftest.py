"""
Shared fixtures of the integration tests: a real redis-server, the fake
Hetzner API and real worker processes, each on a free loopback port, each
stopped when the test ends.

Environment: SLATE_BUILD_DIR (the CMake build to test, default ./build);
SLATE_SANITIZE=1 when that build has ASan/UBSan (LeakSanitizer then checks
every worker's exit, and a leak turns the exit code non-zero).
"""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest
import redis

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("SLATE_BUILD_DIR", os.path.join(ROOT, "build"))
SANITIZE = os.environ.get("SLATE_SANITIZE") == "1"
# Sanitized builds are slower: every deadline scales with this.
SLOW = 4 if SANITIZE else 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


class RedisServer:
    def __init__(self, tmp):
        self.port = free_port()
        self.tmp = tmp
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.tmp],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.client = redis.Redis(port=self.port)
        wait_for(self._ping, what="redis-server")

    def _ping(self):
        try:
            return self.client.ping()
        except redis.exceptions.ConnectionError:
            return False

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture
def redis_server(tmp_path):
    srv = RedisServer(str(tmp_path))
    yield srv
    srv.kill()


class Fake:
    """The fake Hetzner Cloud API (test/fake-hetzner)."""

    def __init__(self, tmp, projects):
        path = os.path.join(tmp, "projects.txt")
        with open(path, "w") as f:
            f.write(projects)
        self.log = os.path.join(tmp, "fake-requests.log")
        self.proc = subprocess.Popen(
            [os.path.join(BUILD, "fake-hetzner"), "--listen", "127.0.0.1:0",
             "--projects", path, "--request-log", self.log],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=os.path.join(ROOT, "test", "fake-hetzner"))
        line = self.proc.stdout.readline()
        assert line.startswith("listening on "), line + self.proc.stderr.read()
        self.port = int(line.split()[-1])
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def admin(self, project, **knobs):
        import urllib.request
        body = " ".join(f"{k}={v}" for k, v in knobs.items()).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/_fake/projects/{project}", data=body,
            method="POST")
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.read()

    def requests(self):
        out = []
        if os.path.exists(self.log):
            with open(self.log) as f:
                for line in f:
                    line = line.strip()
                    if line:
                        out.append(json.loads(line))
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def fake_factory(tmp_path):
    fakes = []

    def make(projects):
        f = Fake(str(tmp_path), projects)
        fakes.append(f)
        return f

    yield make
    for f in fakes:
        f.stop()


class Worker:
    def __init__(self, tmp, env, name):
        self.log_path = os.path.join(tmp, f"worker-{name}.log")
        self.logf = open(self.log_path, "w")
        self.proc = subprocess.Popen([os.path.join(BUILD, "slate-worker")], env=env,
                                     stdout=self.logf, stderr=self.logf)
        self.name = name

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def log_lines(self):
        out = []
        for line in self.log().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"raw": line})
        return out

    def wait_log(self, msg, timeout=10):
        return wait_for(lambda: msg in self.log(), timeout, what=f"'{msg}' in worker log")

    def metrics(self):
        """The worker's /metrics as {'name{labels}': value}."""
        self.wait_log("metrics and health endpoint listening")
        port = next(l["port"] for l in self.log_lines()
                    if l.get("msg") == "metrics and health endpoint listening")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            body = resp.read().decode()
        out = {}
        for line in body.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def stop(self, timeout=30):
        """SIGTERM; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("worker did not exit after SIGTERM:\n" + self.log()[-3000:])
        self.logf.close()
        return self.proc.returncode


@pytest.fixture
def worker_factory(tmp_path):
    workers = []
    counter = [0]

    def make(redis_url, hetzner_url="http://127.0.0.1:9/v1", wait_ready=True, **extra):
        counter[0] += 1
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLATE_")}
        env.update({
            "SLATE_REDIS_URL": redis_url,
            "SLATE_HETZNER_URL": hetzner_url,
            "SLATE_DEV_INSECURE_KEY": "1",
            "SLATE_CONSUMER": f"test-worker-{counter[0]}",
            "SLATE_READ_BLOCK_MS": "200",
            "SLATE_LOG_LEVEL": "debug",
            "SLATE_METRICS_ADDR": "127.0.0.1:0",
        })
        if SANITIZE:
            env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=23"
            env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:exitcode=24"
        env.update({k: str(v) for k, v in extra.items()})
        w = Worker(str(tmp_path), env, str(counter[0]))
        workers.append(w)
        if wait_ready:
            w.wait_log('"redis connected","conn":"reader"')
        return w

    yield make
    failures = []
    for w in workers:
        code = w.stop()
        if code != 0:
            failures.append(f"worker {w.name} exited {code}:\n{w.log()[-4000:]}")
    # A worker that leaks, trips a sanitizer or fails to close its loop fails
    # the test that ran it, even when its assertions passed.
    assert not failures, "\n".join(failures)


def results(r, prefix="slate"):
    """Every result entry as a dict of str."""
    out = []
    for _id, fields in r.xrange(f"{prefix}:{{q}}:results"):
        out.append({k.decode(): v.decode() for k, v in fields.items()})
    return out


def wait_result(r, job_id, statuses=("succeeded", "failed", "dead"), timeout=20, prefix="slate"):
    def find():
        for res in results(r, prefix):
            if res.get("job_id") == job_id and res.get("status") in statuses:
                return res
        return None
    return wait_for(find, timeout, what=f"a result for {job_id}")


def enqueue(r, prefix="slate", **fields):
    return r.xadd(f"{prefix}:{{q}}:jobs", fields).decode()


def redis_values(r):
    """Every key name and value in Redis, streams included, as bytes (small
    test databases only): where a secret must not be."""
    out = []
    for key in r.scan_iter(count=1000):
        out.append(key)
        t = r.type(key).decode()
        if t == "string":
            out.append(r.get(key))
        elif t == "hash":
            for k, v in r.hgetall(key).items():
                out += [k, v]
        elif t == "set":
            out += list(r.smembers(key))
        elif t == "zset":
            out += r.zrange(key, 0, -1)
        elif t == "list":
            out += r.lrange(key, 0, -1)
        elif t == "stream":
            for _id, fields in r.xrange(key):
                for k, v in fields.items():
                    out += [k, v]
    return out


def all_redis_bytes(r):
    """redis_values joined into one bytes object."""
    return b"\n".join(redis_values(r))
