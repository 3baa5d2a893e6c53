"""
slatectl, the operators' command, end to end: the real binary against a real
redis-server, real workers and the fake Hetzner API.

Every figure `status` prints is checked against what the test put in Redis;
every exit status of the contract is exercised (0 ok, 1 outcome failed,
2 usage/config, 3 Redis unreachable); the token of `enqueue connect` is read
from a file, never seen in `ps` and never written to Redis in plain text.
"""
import base64
import hashlib
import json
import os
import pty
import re
import select
import signal
import subprocess
import time

import pytest

from conftest import BUILD, SLOW, all_redis_bytes, enqueue, free_port, results, wait_for, wait_result

try:
    from nacl.public import PrivateKey, SealedBox
except ImportError as e:  # a missing dependency must fail, not skip
    raise ImportError("PyNaCl is required (apt-get install python3-nacl)") from e

CTL = os.path.join(BUILD, "slatectl")
TOKEN = "A" * 60 + "acme"
BAD_TOKEN = "Z" * 64
PROJECTS = f"""
project=acme token={TOKEN} servers=120 ssh_keys=3 firewalls=4 bind=direct rules=mixed private=5 pending=2 labels=env:prod seed=7
"""
DEV_PUBLIC_KEY = "4DZtO8N2KwORe3PLUQ0UEUTf9skQiGElCMk5h6RYvkU="


def ctl(*args, url=None, env=None, timeout=60, **kw):
    """Runs slatectl; returns the CompletedProcess (text)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("SLATE_")}
    if url:
        e["SLATE_REDIS_URL"] = url
    e["SLATE_REDIS_TIMEOUT_MS"] = "3000"
    e.update(env or {})
    return subprocess.run([CTL, *args], env=e, capture_output=True, text=True,
                          timeout=timeout * SLOW, **kw)


def status_json(url, *extra, env=None):
    p = ctl(*extra, "status", "--json", url=url, env=env)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def one_sentence(stderr):
    """Failures are one line on stderr, starting with slatectl:."""
    lines = [l for l in stderr.splitlines() if not l.startswith("slatectl: warning:")]
    assert len(lines) == 1 and lines[0].startswith("slatectl: "), stderr
    return lines[0]


def down_url():
    return f"redis://127.0.0.1:{free_port()}/0"


def write_token(tmp_path, token, name="token", newline=True):
    path = tmp_path / name
    path.write_text(token + ("\n" if newline else ""))
    os.chmod(path, 0o600)
    return str(path)


def dev_private_key():
    secret = bytes(32)
    seed = hashlib.blake2b(b"slate-worker seal v1", key=secret, digest_size=32).digest()
    return PrivateKey.from_seed(seed)


DEV = {"SLATE_DEV_INSECURE_KEY": "1"}


# ---- usage, help, configuration ----

def test_help_for_the_program_and_every_command():
    p = ctl("--help", url=down_url())
    assert p.returncode == 0
    for word in ("status", "watch", "enqueue", "dead", "integration show", "public-key",
                 "Exit status", "SLATE_REDIS_URL", "--prefix"):
        assert word in p.stdout, word
    for cmd in (["status"], ["watch"], ["enqueue"], ["dead"], ["dead", "list"], ["dead", "retry"],
                ["dead", "purge"], ["integration"], ["integration", "show"], ["public-key"]):
        p = ctl(*cmd, "--help", url=down_url())
        assert p.returncode == 0, (cmd, p.stderr)
        assert p.stdout.startswith("Usage: slatectl"), cmd
        assert p.stderr == ""
    p = ctl("help", "enqueue", url=down_url())
    assert p.returncode == 0 and "--token-file" in p.stdout and "--wait" in p.stdout
    assert ctl("help", url=down_url()).stdout.startswith("Usage: slatectl")


@pytest.mark.parametrize("args", [
    [],
    ["frobnicate"],
    ["status", "extra"],
    ["status", "--bogus"],
    ["status", "--prefix", "x"],            # global options go first
    ["enqueue"],
    ["enqueue", "sync", "acme"],
    ["enqueue", "resync", "acme", "hz"],
    ["enqueue", "sync", "ac me", "hz"],
    ["enqueue", "sync", "acme", "hz:1"],
    ["enqueue", "sync", "acme", "hz", "--job-id", "bad id"],
    ["enqueue", "connect", "acme", "hz"],   # no token file
    ["enqueue", "sync", "acme", "hz", "--token-file", "/etc/hostname"],
    ["enqueue", "sync", "acme", "hz", "--timeout", "5"],  # --timeout without --wait
    ["enqueue", "sync", "acme", "hz", "--wait", "--timeout", "soon"],
    ["enqueue", "sync", "acme", "hz", "--job-id"],
    ["dead"],
    ["dead", "resurrect"],
    ["dead", "retry"],
    ["dead", "retry", "not-an-id"],
    ["dead", "retry", "1-0", "--all"],
    ["dead", "list", "--count", "0"],
    ["integration"],
    ["integration", "show", "acme"],
    ["integration", "show", "acme", "h z"],
    ["watch", "--interval", "0"],
    ["public-key", "extra"],
])
def test_bad_usage_exits_2_before_touching_redis(args):
    # Redis is down: a usage error must be found first, and be exit 2, not 3.
    p = ctl(*args, url=down_url())
    assert p.returncode == 2, (args, p.stdout, p.stderr)
    one_sentence(p.stderr)


@pytest.mark.parametrize("env, words", [
    ({"SLATE_PREFIX": "bad prefix"}, "SLATE_PREFIX"),
    ({"SLATE_REDIS_URL": "http://localhost"}, "SLATE_REDIS_URL"),
    ({"SLATE_REDIS_TIMEOUT_MS": "soon"}, "SLATE_REDIS_TIMEOUT_MS"),
])
def test_bad_configuration_exits_2(env, words):
    p = ctl("status", env=env)
    assert p.returncode == 2, p.stderr
    assert words in one_sentence(p.stderr)


@pytest.mark.parametrize("args", [
    ["status"], ["status", "--json"], ["enqueue", "sync", "acme", "hz"], ["dead", "list"],
    ["dead", "retry", "--all"], ["dead", "purge"], ["integration", "show", "acme", "hz"],
    ["watch"],
])
def test_redis_down_exits_3(args):
    p = ctl(*args, url=down_url(), timeout=20)
    assert p.returncode == 3, (args, p.stdout, p.stderr)
    assert "not reachable" in one_sentence(p.stderr)


def test_wrong_password_is_a_configuration_error(redis_server):
    url = f"redis://:nope@127.0.0.1:{redis_server.port}/0"
    p = ctl("status", url=url)
    assert p.returncode == 2 and "password" in one_sentence(p.stderr)


def test_database_from_the_url_is_selected(redis_server):
    url = f"redis://127.0.0.1:{redis_server.port}/3"
    assert ctl("enqueue", "sync", "acme", "hz", url=url).returncode == 0
    r3 = type(redis_server.client)(port=redis_server.port, db=3)
    assert r3.xlen("slate:{q}:jobs") == 1
    assert redis_server.client.xlen("slate:{q}:jobs") == 0


# ---- public-key ----

def test_public_key_of_the_dev_key_matches_pynacl():
    p = ctl("public-key", env=DEV)
    assert p.returncode == 0, p.stderr
    assert p.stdout == DEV_PUBLIC_KEY + "\n"
    assert base64.b64encode(bytes(dev_private_key().public_key)).decode() == DEV_PUBLIC_KEY
    assert "development key" in p.stderr  # the loud warning


def test_public_key_of_a_key_file_matches_pynacl(tmp_path):
    secret = os.urandom(32)
    key = tmp_path / "secret.key"
    key.write_text(secret.hex() + "\n")
    os.chmod(key, 0o600)
    p = ctl("public-key", env={"SLATE_SECRET_KEY_FILE": str(key)})
    assert p.returncode == 0, p.stderr
    seed = hashlib.blake2b(b"slate-worker seal v1", key=secret, digest_size=32).digest()
    assert p.stdout.strip() == base64.b64encode(bytes(PrivateKey.from_seed(seed).public_key)).decode()
    assert p.stderr == ""
    os.chmod(key, 0o644)  # readable by others: refused as the worker refuses it
    p = ctl("public-key", env={"SLATE_SECRET_KEY_FILE": str(key)})
    assert p.returncode == 2 and "SLATE_SECRET_KEY_FILE" in one_sentence(p.stderr)
    p = ctl("public-key")
    assert p.returncode == 2 and "SLATE_SECRET_KEY_FILE" in one_sentence(p.stderr)


# ---- status ----

def test_status_counts_waiting_then_results(redis_server, worker_factory):
    url, r = redis_server.url, redis_server.client
    ids = []
    for i in range(5):
        p = ctl("enqueue", "evaluate", "acme", f"hz{i}", url=url)
        assert p.returncode == 0, p.stderr
        ids.append(p.stdout.strip())
    # The job id defaults to the stream entry id.
    assert ids == [e.decode() for e, _ in r.xrange("slate:{q}:jobs")]
    s = status_json(url)
    assert s["prefix"] == "slate"
    assert s["queue"]["waiting"] == 5 and s["queue"]["pending"] == 0
    assert s["queue"]["group_exists"] is False
    assert s["queue"]["results"] == 0 and s["queue"]["dead"] == 0 and s["workers"] == []
    text = ctl("status", url=url).stdout
    assert re.search(r"waiting\s+5\b", text) and re.search(r"results\s+0\b", text), text

    w = worker_factory(url, SLATE_VISIBILITY_TIMEOUT_MS=3000)
    wait_for(lambda: len(results(r)) == 5, 20, what="5 results")
    def heartbeat_failed():
        hb = r.hget("slate:{q}:workers", "test-worker-1")
        return hb and json.loads(hb)["failed"] == 5
    wait_for(heartbeat_failed, 10, what="a heartbeat counting 5 failed jobs")
    s = status_json(url, env={"SLATE_VISIBILITY_TIMEOUT_MS": "3000"})
    assert s["queue"]["waiting"] == 0 and s["queue"]["pending"] == 0
    assert s["queue"]["results"] == 5 and s["queue"]["group_exists"] is True
    (wk,) = [x for x in s["workers"] if x["name"] == "test-worker-1"]
    assert wk["pid"] == w.proc.pid and wk["stale"] is False and wk["failed"] == 5
    assert 0 <= wk["heartbeat_age_ms"] < 3000
    text = ctl("status", url=url, env={"SLATE_VISIBILITY_TIMEOUT_MS": "3000"}).stdout
    assert re.search(r"test-worker-1 .* s ago .* ok$", text, re.M), text
    assert re.search(r"results\s+5\b", text)

    # With the group in place and the worker gone, waiting counts new jobs.
    assert w.stop() == 0
    for i in range(3):
        ctl("enqueue", "sync", "acme", f"late{i}", url=url)
    s = status_json(url)
    assert s["queue"]["waiting"] == 3 and s["queue"]["stream_length"] == 3


def test_status_delayed_pending_and_stale_workers(redis_server):
    url, r = redis_server.url, redis_server.client
    now = int(time.time() * 1000)
    member = {"type": "sync", "workspace": "acme", "integration": "hz", "job_id": "d1",
              "attempt": "2"}
    r.zadd("slate:{q}:delayed", {json.dumps(member): now + 600000})
    member["job_id"] = "d2"
    r.zadd("slate:{q}:delayed", {json.dumps(member): now - 1000})

    def hb(age_ms):
        t = now - age_ms
        return json.dumps({"host": "box", "pid": 42,
                           "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t / 1000 - 60)),
                           "last_seen": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t / 1000)),
                           "last_seen_ms": t, "in_flight": 1, "done": 7, "failed": 2})
    # Visibility timeout 10 s: stale past 30 s.
    r.hset("slate:{q}:workers", mapping={"alive": hb(2000), "ghost": hb(300000),
                                         "garbled": "not json"})
    # One job held by a consumer that stopped: pending, and idle.
    enqueue(r, type="sync", workspace="acme", integration="hz", job_id="held")
    enqueue(r, type="sync", workspace="acme", integration="hz", job_id="free")
    r.xgroup_create("slate:{q}:jobs", "workers", id="0")
    r.xreadgroup("workers", "crashed", {"slate:{q}:jobs": ">"}, count=1)
    time.sleep(0.3)

    env = {"SLATE_VISIBILITY_TIMEOUT_MS": "10000"}
    s = status_json(url, env=env)
    q = s["queue"]
    assert q["delayed"] == 2 and q["delayed_due"] == 1
    assert q["pending"] == 1 and q["waiting"] == 1 and q["stream_length"] == 2
    assert q["waiting_from"] == "lag"
    (c,) = s["consumers"]
    assert c["name"] == "crashed" and c["pending"] == 1 and c["max_idle_ms"] >= 250
    assert c["overdue"] is False
    workers = {w["name"]: w for w in s["workers"]}
    assert workers["alive"]["stale"] is False and workers["alive"]["done"] == 7
    assert workers["ghost"]["stale"] is True and workers["ghost"]["heartbeat_age_ms"] >= 300000
    assert workers["garbled"]["malformed"] is True and workers["garbled"]["pid"] is None

    text = ctl("status", url=url, env=env).stdout
    assert re.search(r"delayed\s+2\s+1 due now", text), text
    assert re.search(r"pending\s+1\s+longest idle", text)
    assert re.search(r"^\s+ghost\s+box\s+42\s+5 min ago\s+1\s+7\s+2\s+stale$", text, re.M), text
    assert re.search(r"^\s+alive\s+box\s+42\s+\d\.\d s ago.*ok$", text, re.M), text
    assert re.search(r"^\s+crashed\s+1\s+", text, re.M)

    # Past the visibility timeout the held job is marked for takeover.
    s = status_json(url, env={"SLATE_VISIBILITY_TIMEOUT_MS": "300"})
    assert s["consumers"][0]["overdue"] is True


def test_status_never_prints_control_characters(redis_server):
    r = redis_server.client
    r.hset("slate:{q}:workers", "evil\x1b[2J",
           json.dumps({"host": "h\x1b]0;pwned\x07", "pid": 1, "last_seen_ms": 0}))
    p = ctl("status", url=redis_server.url)
    assert p.returncode == 0
    assert "\x1b" not in p.stdout and "\x07" not in p.stdout
    assert "evil?[2J" in p.stdout
    s = json.loads(ctl("status", "--json", url=redis_server.url).stdout)
    assert s["workers"][0]["name"] == "evil\x1b[2J"  # exact in JSON


def test_prefix_is_honoured(redis_server):
    url, r = redis_server.url, redis_server.client
    assert ctl("--prefix", "staging", "enqueue", "sync", "acme", "hz", url=url).returncode == 0
    assert ctl("enqueue", "sync", "acme", "hz", url=url,
               env={"SLATE_PREFIX": "other"}).returncode == 0
    assert r.xlen("staging:{q}:jobs") == 1 and r.xlen("other:{q}:jobs") == 1
    assert r.xlen("slate:{q}:jobs") == 0
    s = status_json(url, "--prefix", "staging")
    assert s["prefix"] == "staging" and s["queue"]["waiting"] == 1


# ---- enqueue ----

@pytest.fixture
def hz(redis_server, fake_factory, worker_factory):
    fake = fake_factory(PROJECTS)
    w = worker_factory(redis_server.url, fake.url, SLATE_VISIBILITY_TIMEOUT_MS=3000)
    return redis_server, fake, w


def connect_with_ctl(srv, tmp_path, job_id="c1", token=TOKEN, integration="hz"):
    path = write_token(tmp_path, token, name=f"token-{job_id}")
    return ctl("enqueue", "connect", "acme", integration, "--token-file", path, "--job-id",
               job_id, "--wait", "--timeout", "60", url=srv.url, env=DEV)


def test_enqueue_connect_waits_for_the_result_and_never_exposes_the_token(hz, tmp_path):
    srv, fake, w = hz
    path = write_token(tmp_path, TOKEN)
    # Started in the background, to look at `ps` while it runs.
    e = {k: v for k, v in os.environ.items() if not k.startswith("SLATE_")}
    e.update(DEV, SLATE_REDIS_URL=srv.url)
    proc = subprocess.Popen([CTL, "enqueue", "connect", "acme", "hz", "--token-file", path,
                             "--job-id", "c1", "--wait"], env=e, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert TOKEN not in ps
    with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
        assert TOKEN.encode() not in f.read()
    out, err = proc.communicate(timeout=60 * SLOW)
    assert proc.returncode == 0, (out, err)
    lines = out.splitlines()
    assert lines[0] == "c1"
    assert "job c1: succeeded" in out
    assert re.search(r"servers\s+120", out) and re.search(r"ssh_keys\s+3", out)
    assert re.search(r"assets\s+added 120, changed 0, removed 0", out), out
    assert re.search(r"pass\s+hetzner.cloud_linked", out), out
    assert TOKEN not in out and TOKEN not in err
    # Nowhere in Redis: not in the job (sealed by slatectl), results, record.
    assert TOKEN.encode() not in all_redis_bytes(srv.client)
    assert srv.client.hget("slate:{acme}:integration:hz", "status") == b"connected"


def test_enqueue_connect_writes_only_a_sealed_token(redis_server, tmp_path):
    # No worker: the job stays in the stream as slatectl wrote it.
    path = write_token(tmp_path, TOKEN)
    p = ctl("enqueue", "connect", "acme", "hz", "--token-file", path, url=redis_server.url,
            env=DEV)
    assert p.returncode == 0, p.stderr
    ((entry, fields),) = redis_server.client.xrange("slate:{q}:jobs")
    fields = {k.decode(): v.decode() for k, v in fields.items()}
    assert p.stdout.strip() == entry.decode()
    assert set(fields) == {"type", "workspace", "integration", "token_sealed"}
    assert SealedBox(dev_private_key()).decrypt(base64.b64decode(fields["token_sealed"])) == \
        TOKEN.encode()
    assert TOKEN.encode() not in all_redis_bytes(redis_server.client)


def test_enqueue_connect_from_stdin(redis_server):
    p = ctl("enqueue", "connect", "acme", "hz", "--token-file", "-", "--json",
            url=redis_server.url, env=DEV, input=TOKEN + "\n")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["job_id"] == out["entry_id"]
    ((_e, fields),) = redis_server.client.xrange("slate:{q}:jobs")
    assert SealedBox(dev_private_key()).decrypt(base64.b64decode(fields[b"token_sealed"])) == \
        TOKEN.encode()


@pytest.mark.parametrize("content, words", [
    ("", "empty"),
    ("\n", "empty"),
    ("two words\n", "not a valid"),
    ("line1\nline2\n", "not a valid"),
    ("x" * 257, "longer than"),
    ("x" * 5000, "longer than"),
])
def test_bad_token_files_exit_2_without_echoing(redis_server, tmp_path, content, words):
    path = tmp_path / "t"
    path.write_text(content)
    p = ctl("enqueue", "connect", "acme", "hz", "--token-file", str(path), url=redis_server.url,
            env=DEV)
    assert p.returncode == 2
    msg = one_sentence(p.stderr)
    assert words in msg
    assert "x" * 10 not in msg and "words" not in msg and "line1" not in msg
    assert redis_server.client.exists("slate:{q}:jobs") == 0


def test_token_file_missing_and_key_missing(redis_server, tmp_path):
    p = ctl("enqueue", "connect", "acme", "hz", "--token-file", str(tmp_path / "nope"),
            url=redis_server.url, env=DEV)
    assert p.returncode == 2 and "cannot be opened" in one_sentence(p.stderr)
    path = write_token(tmp_path, TOKEN)
    p = ctl("enqueue", "connect", "acme", "hz", "--token-file", path, url=redis_server.url)
    assert p.returncode == 2 and "SLATE_SECRET_KEY_FILE" in one_sentence(p.stderr)
    assert redis_server.client.exists("slate:{q}:jobs") == 0


def test_enqueue_invalid_token_exits_1_with_the_error(hz, tmp_path):
    srv, fake, w = hz
    p = connect_with_ctl(srv, tmp_path, job_id="bad", token=BAD_TOKEN)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "job bad: failed" in p.stdout
    assert re.search(r"error\s+invalid_token: Invalid API token", p.stdout), p.stdout
    assert "invalid_token" in one_sentence(p.stderr)
    assert BAD_TOKEN not in p.stdout + p.stderr
    assert BAD_TOKEN.encode() not in all_redis_bytes(srv.client)


def test_wait_prints_retrying_attempts_and_progress(redis_server, fake_factory, worker_factory,
                                                    tmp_path):
    fake = fake_factory(PROJECTS)
    worker_factory(redis_server.url, fake.url, SLATE_HTTP_RETRIES=0, SLATE_RETRY_BASE_MS=200,
                   SLATE_MAX_ATTEMPTS=3, SLATE_VISIBILITY_TIMEOUT_MS=3000)
    assert connect_with_ctl(redis_server, tmp_path).returncode == 0
    fake.admin("acme", fail="503:1", latency_ms=400)
    p = ctl("enqueue", "sync", "acme", "hz", "--job-id", "s1", "--wait", "--timeout", "60",
            url=redis_server.url)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert re.search(r"^attempt 1: retrying \(hetzner_unavailable: ", p.stdout, re.M), p.stdout
    assert "job s1: succeeded" in p.stdout
    assert re.search(r"attempt\s+2", p.stdout)
    # Not a terminal: progress comes as plain "done/known pages" lines.
    assert re.search(r"^\d+/\d+ pages$", p.stderr, re.M), p.stderr
    assert "\x1b" not in p.stderr


def test_wait_json_and_timeout(redis_server, worker_factory):
    url = redis_server.url
    worker_factory(url)
    p = ctl("enqueue", "evaluate", "acme", "nothing", "--job-id", "e1", "--wait", "--json",
            url=url)
    assert p.returncode == 1
    res = json.loads(p.stdout)
    assert res["job_id"] == "e1" and res["status"] == "failed"
    assert res["error_code"] == "not_connected"
    # An older result of the same job id is never taken for the new job's.
    p = ctl("enqueue", "evaluate", "acme", "nothing", "--job-id", "e1", "--wait", "--json",
            url=url)
    assert json.loads(p.stdout)["entry_id"] != res["entry_id"]


def test_wait_timeout_exits_1(redis_server):
    # No worker: nothing ever finishes.
    t0 = time.time()
    p = ctl("enqueue", "sync", "acme", "hz", "--job-id", "slow", "--wait", "--timeout", "1",
            url=redis_server.url)
    assert p.returncode == 1 and time.time() - t0 < 10
    assert "within 1 s" in one_sentence(p.stderr)
    assert p.stdout == "slow\n"


# ---- dead ----

def test_dead_list_retry_and_purge(redis_server, fake_factory, worker_factory, tmp_path):
    fake = fake_factory(PROJECTS)
    worker_factory(redis_server.url, fake.url, SLATE_MAX_ATTEMPTS=1, SLATE_HTTP_RETRIES=0,
                   SLATE_VISIBILITY_TIMEOUT_MS=3000)
    url, r = redis_server.url, redis_server.client
    assert connect_with_ctl(redis_server, tmp_path).returncode == 0
    assert ctl("dead", "list", url=url).stdout == "No dead jobs.\n"

    fake.admin("acme", fail="503:100")
    p = ctl("enqueue", "sync", "acme", "hz", "--job-id", "s1", "--wait", url=url)
    assert p.returncode == 1 and "job s1: dead" in p.stdout, p.stdout
    assert "dead" in one_sentence(p.stderr)

    p = ctl("dead", "list", url=url)
    assert p.returncode == 0
    ((entry, _f),) = r.xrange("slate:{q}:dead")
    entry = entry.decode()
    assert "1 dead job" in p.stdout
    row = [l for l in p.stdout.splitlines() if l.startswith(entry)][0]
    for word in ("sync", "acme/hz", "s1", "hetzner_unavailable"):
        assert word in row, row
    d = json.loads(ctl("dead", "list", "--json", url=url).stdout)
    assert d["total"] == 1
    (e,) = d["entries"]
    assert e["entry_id"] == entry and e["job_id"] == "s1" and e["attempts"] == "1"
    assert "token" not in e and "token_sealed" not in e

    # Retry after the fault is cleared: the job comes back and succeeds.
    fake.admin("acme", fail="none")
    p = ctl("dead", "retry", entry, url=url)
    assert p.returncode == 0, p.stderr
    assert entry in p.stdout and "s1" in p.stdout
    assert r.xlen("slate:{q}:dead") == 0
    res = wait_result(r, "s1", statuses=("succeeded",), timeout=30)
    assert res["attempt"] == "1"
    assert ctl("dead", "retry", entry, url=url).returncode == 1  # gone now

    # A dead connect cannot be retried: its token was never kept.
    fake.admin("acme", fail="503:100")
    p = connect_with_ctl(redis_server, tmp_path, job_id="c2", integration="hz2")
    assert p.returncode == 1
    p = ctl("enqueue", "sync", "acme", "hz", "--job-id", "s2", "--wait", url=url)
    assert p.returncode == 1
    dead = {f[b"job_id"].decode(): e.decode() for e, f in r.xrange("slate:{q}:dead")}
    assert set(dead) == {"c2", "s2"}
    p = ctl("dead", "retry", dead["c2"], url=url)
    assert p.returncode == 1
    msg = one_sentence(p.stderr)
    assert "connect" in msg and "token" in msg and "--token-file" in msg
    assert r.xlen("slate:{q}:dead") == 2

    fake.admin("acme", fail="none")
    p = ctl("dead", "retry", "--all", url=url)
    assert p.returncode == 1  # the connect is left behind, and said so
    assert "Retried 1 dead job." in p.stdout
    assert "1 connect job" in one_sentence(p.stderr)
    assert wait_result(r, "s2", statuses=("succeeded",), timeout=30)
    assert [f[b"job_id"] for _e, f in r.xrange("slate:{q}:dead")] == [b"c2"]

    p = ctl("dead", "purge", url=url)
    assert p.returncode == 0 and p.stdout == "Removed 1 dead job.\n"
    assert r.exists("slate:{q}:dead") == 0
    assert ctl("dead", "purge", url=url).stdout == "Removed 0 dead jobs.\n"
    assert ctl("dead", "retry", "--all", url=url).stdout == "Retried 0 dead jobs.\n"


def test_dead_entry_without_a_job_cannot_be_retried(redis_server):
    r = redis_server.client
    bad = r.xadd("slate:{q}:dead", {"error_code": "internal",
                                    "error": "a delayed job could not be read back",
                                    "attempts": "0"}).decode()
    p = ctl("dead", "retry", bad, url=redis_server.url)
    assert p.returncode == 1 and "valid job" in one_sentence(p.stderr)
    assert ctl("dead", "retry", "1-1", url=redis_server.url).returncode == 1
    p = ctl("dead", "list", "--count", "1", url=redis_server.url)
    assert p.returncode == 0 and bad in p.stdout


# ---- integration show ----

def test_integration_show(hz, tmp_path):
    srv, fake, w = hz
    assert connect_with_ctl(srv, tmp_path).returncode == 0
    url, r = srv.url, srv.client
    p = ctl("integration", "show", "acme", "hz", "--limit", "0", url=url)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert re.search(r"status\s+connected", out)
    assert re.search(r"inventory\s+120 servers, 3 SSH keys, 4 firewalls; 120 assets", out), out
    assert re.search(r"rate limit\s+\d+ of 3600 requests left", out), out
    assert re.search(r"token\s+\.\.\.acme", out)
    assert TOKEN not in out
    assert "Tests (6)" in out
    tests = {k.decode(): json.loads(v) for k, v in r.hgetall("slate:{acme}:integration:hz:tests").items()}
    failing = [(t, f) for t, res in tests.items() for f in res["failing"]]
    assert failing, "the fixture has failing resources"
    for t, res in tests.items():
        assert re.search(rf"{res['status']}\s+{re.escape(t)}", out), t
    for t, f in failing:
        assert f"failing: {f['name']}" in out and f["reason"] in out, f

    # The default limit keeps a long list short.
    big = max(tests.values(), key=lambda t: len(t["failing"]))
    if len(big["failing"]) > 3:
        short = ctl("integration", "show", "acme", "hz", "--limit", "3", url=url).stdout
        assert f"and {len(big['failing']) - 3} more failing" in short

    j = json.loads(ctl("integration", "show", "acme", "hz", "--json", url=url).stdout)
    assert j["workspace"] == "acme" and j["integration"] == "hz" and j["assets"] == 120
    assert "token" not in j["record"] and j["record"]["token_hint"] == "acme"
    assert j["record"]["servers"] == "120"
    assert j["tests"] == tests

    p = ctl("integration", "show", "acme", "nope", url=url)
    assert p.returncode == 1 and "not connected" in one_sentence(p.stderr)


# ---- watch ----

def test_watch_redraws_under_a_pty_and_exits_0_on_sigint(redis_server):
    enqueue(redis_server.client, type="sync", workspace="acme", integration="hz")
    e = {k: v for k, v in os.environ.items() if not k.startswith("SLATE_")}
    e["SLATE_REDIS_URL"] = redis_server.url
    master, slave = pty.openpty()
    proc = subprocess.Popen([CTL, "watch", "--interval", "0.2"], env=e, stdin=slave,
                            stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    out = b""
    deadline = time.time() + 1.0 * SLOW
    while time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                out += os.read(master, 65536)
            except OSError:
                break
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 0
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                break
            chunk = os.read(master, 65536)
            if not chunk:
                break
            out += chunk
    except OSError:
        pass
    os.close(master)
    text = out.decode(errors="replace")
    assert text.count("\x1b[H") >= 2, text  # redrawn in place, more than once
    assert re.search(r"waiting\s+1", text), text
    assert "Ctrl-C" in text
