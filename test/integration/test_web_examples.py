"""
The web tier's examples of docs/web-tier.md (docs/examples/python and
docs/examples/node), run as a web tier would run them, against a real
redis-server, the fake Hetzner API and a real worker:

- enqueue_connect seals the token (read from stdin or a file, never argv) to
  the workers' public key and XADDs a connect whose only token field is
  token_sealed, which opens to exactly that token;
- read_results reads the job's result through its own consumer group,
  acknowledges it (nothing left pending), and exits 0 on success, 1 on a
  final failure;
- a reader that stopped before acknowledging gets its entries again;
- bad ids are refused before anything reaches Redis.

Every test runs once with the Python examples (/usr/bin/python3 with
python3-redis and python3-nacl) and once with the Node.js examples (`npm ci`
in a temporary copy of docs/examples/node).  Missing node or npm fails the
Node.js tests with a message saying so; SLATE_SKIP_NODE=1 skips them.
"""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import ROOT, SLOW, free_port, redis_values, results, wait_for

try:
    from nacl.public import PrivateKey, SealedBox
except ImportError as e:  # a missing dependency must fail, not skip
    raise ImportError("PyNaCl is required (apt-get install python3-nacl)") from e

EXAMPLES = os.path.join(ROOT, "docs", "examples")
PYTHON = "/usr/bin/python3"
DEV_PUBLIC_KEY = "4DZtO8N2KwORe3PLUQ0UEUTf9skQiGElCMk5h6RYvkU="
TOKEN = "W" * 60 + "webt"
OTHER_TOKEN = "Q" * 64  # well formed, but no project has it: 401
PROJECTS = (f"project=web token={TOKEN} servers=7 ssh_keys=2 firewalls=1 "
            "bind=direct rules=ssh_office\n")
JOBS = "slate:{q}:jobs"
RESULTS = "slate:{q}:results"


def dev_private_key():
    """The development key pair (SLATE_DEV_INSECURE_KEY=1: the secret is 32
    zero bytes), derived as docs/protocol.md says."""
    seed = hashlib.blake2b(b"slate-worker seal v1", key=bytes(32), digest_size=32).digest()
    sk = PrivateKey.from_seed(seed)
    assert bytes(sk.public_key) == base64.b64decode(DEV_PUBLIC_KEY)
    return sk


# ---- the two languages ----

class Examples:
    def __init__(self, lang, enqueue_cmd, read_cmd, cwd):
        self.lang = lang
        self.enqueue_cmd = enqueue_cmd
        self.read_cmd = read_cmd
        self.cwd = cwd

    def env(self, redis_url):
        e = {k: v for k, v in os.environ.items() if not k.startswith("SLATE_")}
        e["SLATE_REDIS_URL"] = redis_url
        e["SLATE_PUBLIC_KEY"] = DEV_PUBLIC_KEY
        return e

    def enqueue(self, redis_url, *args, token=None):
        return subprocess.run(self.enqueue_cmd + list(args), input=token, cwd=self.cwd,
                              env=self.env(redis_url), capture_output=True, timeout=60 * SLOW)

    def reader(self, redis_url, *args):
        """Starts read_results and waits until its group exists."""
        p = subprocess.Popen(self.read_cmd + list(args), cwd=self.cwd, env=self.env(redis_url),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = p.stderr.readline()
        if "read_results: reading" not in line:
            p.kill()
            out, err = p.communicate()
            raise AssertionError(f"{self.lang} read_results did not start: {line}{err}{out}")
        return p


def finish(p, timeout=60):
    try:
        out, err = p.communicate(timeout=timeout * SLOW)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError(f"read_results did not finish:\n{out}\n{err}")
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    return p.returncode, lines, err


def python_examples():
    probe = subprocess.run([PYTHON, "-c", "import redis, nacl.public"], capture_output=True,
                           text=True)
    if probe.returncode != 0:
        pytest.fail(f"{PYTHON} needs python3-redis and python3-nacl for the Python examples "
                    f"(apt-get install python3-redis python3-nacl):\n{probe.stderr}")
    d = os.path.join(EXAMPLES, "python")
    return Examples("python", [PYTHON, os.path.join(d, "enqueue_connect.py")],
                    [PYTHON, os.path.join(d, "read_results.py")], d)


@pytest.fixture(scope="session")
def node_dir(tmp_path_factory):
    """A copy of docs/examples/node with its packages installed by `npm ci`
    from package-lock.json, as a web tier's build would."""
    if os.environ.get("SLATE_SKIP_NODE") == "1":
        pytest.skip("SLATE_SKIP_NODE=1: the Node.js examples are not tested")
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found: the Node.js examples of docs/web-tier.md "
                    "cannot be tested (install nodejs and npm, Node.js 18 or newer), or set "
                    "SLATE_SKIP_NODE=1 to skip them")
    version = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < 18:
        pytest.fail(f"node {version} is too old for the examples (18 or newer)")
    src = os.path.join(EXAMPLES, "node")
    d = tmp_path_factory.mktemp("node-examples")
    for name in ("package.json", "package-lock.json", "enqueue_connect.js", "read_results.js"):
        shutil.copy(os.path.join(src, name), d / name)
    p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=d, capture_output=True,
                       text=True, timeout=600)
    if p.returncode != 0:
        pytest.fail(f"npm ci failed in a copy of docs/examples/node:\n{p.stdout}\n{p.stderr}")
    return str(d)


@pytest.fixture(params=["python", "node"])
def examples(request):
    if request.param == "python":
        return python_examples()
    d = request.getfixturevalue("node_dir")
    return Examples("node", ["node", "enqueue_connect.js"], ["node", "read_results.js"], d)


# ---- helpers ----


def group_pending(r, group):
    for g in r.xinfo_groups(RESULTS):
        if g["name"].decode() == group:
            return g["pending"]
    raise AssertionError(f"no consumer group {group} on {RESULTS}")


# ---- tests ----

def test_connect_sealed_enqueued_and_result_read_and_acknowledged(
        examples, redis_server, fake_factory, worker_factory):
    fake = fake_factory(PROJECTS)
    r = redis_server.client
    url = redis_server.url
    job_id = f"{examples.lang}-connect-1"
    group = f"web-{examples.lang}"

    # The web tier enqueues while no worker runs yet: the entry is exactly
    # what the contract asks for, and the token in it is sealed.
    p = examples.enqueue(url, "--job-id", job_id, "acme", "hz-prod", token=(TOKEN + "\n").encode())
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout.decode().strip() == job_id
    assert TOKEN.encode() not in p.stdout + p.stderr
    (entry_id, fields), = r.xrange(JOBS)
    fields = {k.decode(): v.decode() for k, v in fields.items()}
    assert set(fields) == {"type", "workspace", "integration", "job_id", "token_sealed"}
    assert fields["type"] == "connect"
    assert (fields["workspace"], fields["integration"], fields["job_id"]) == \
        ("acme", "hz-prod", job_id)
    sealed = base64.b64decode(fields["token_sealed"], validate=True)
    assert SealedBox(dev_private_key()).decrypt(sealed) == TOKEN.encode()

    # The reader's group exists before the result is written ($: new results).
    reader = examples.reader(url, "--group", group, "--until", job_id, "--timeout", "60")
    worker_factory(url, fake.url)
    rc, lines, err = finish(reader)
    assert rc == 0, err
    mine = [x for x in lines if x["job_id"] == job_id]
    assert len(mine) == 1, lines
    res = mine[0]
    assert res["status"] == "succeeded" and res["final"] is True
    assert res["type"] == "connect" and res["attempt"] == "1"
    assert res["message"] == "Connected."
    summary = json.loads(res["summary"])
    assert (summary["servers"], summary["ssh_keys"], summary["firewalls"]) == (7, 2, 1)
    assert summary["assets"] == {"added": 7, "changed": 0, "removed": 0}
    assert len(summary["tests"]) == 6
    assert "error_code" not in res
    # The entry the reader printed is the one in the stream, and it is acknowledged.
    assert res["entry_id"] in [i.decode() for i, _ in r.xrange(RESULTS)]
    assert group_pending(r, group) == 0

    # What the worker stored; the token is nowhere in Redis in plain text.
    integ = {k.decode(): v.decode() for k, v in r.hgetall("slate:{acme}:integration:hz-prod").items()}
    assert integ["status"] == "connected"
    assert integ["token_hint"] == TOKEN[-4:]
    assert not any(TOKEN.encode() in v for v in redis_values(r))


def test_invalid_token_is_a_final_failure_with_its_message(
        examples, redis_server, fake_factory, worker_factory, tmp_path):
    fake = fake_factory(PROJECTS)
    r = redis_server.client
    url = redis_server.url
    job_id = f"{examples.lang}-bad-token"
    group = f"web-{examples.lang}"
    token_file = tmp_path / "token"
    token_file.write_text(OTHER_TOKEN + "\n")
    os.chmod(token_file, 0o600)

    reader = examples.reader(url, "--group", group, "--until", job_id, "--timeout", "60")
    worker_factory(url, fake.url)
    p = examples.enqueue(url, "--job-id", job_id, "--token-file", str(token_file), "acme", "hz-x")
    assert p.returncode == 0, p.stderr.decode()
    rc, lines, err = finish(reader)
    assert rc == 1, err
    res = [x for x in lines if x["job_id"] == job_id][-1]
    assert res["status"] == "failed" and res["final"] is True
    assert res["error_code"] == "invalid_token"
    assert res["error"] == "Invalid API token"
    assert "did not accept this API token" in res["message"]
    assert group_pending(r, group) == 0
    # Nothing stored for a token that does not connect.
    assert not r.exists("slate:{acme}:integration:hz-x")
    assert not any(OTHER_TOKEN.encode() in v for v in redis_values(r))


def test_reader_gets_back_what_it_did_not_acknowledge(examples, redis_server, worker_factory):
    r = redis_server.client
    url = redis_server.url
    group = f"web-{examples.lang}"
    # Results of two jobs; the group starts before them.
    r.xgroup_create(RESULTS, group, id="$", mkstream=True)
    worker_factory(url)
    for j in ("d1", "d2"):
        r.xadd(JOBS, {"type": "disconnect", "workspace": "acme", "integration": "gone",
                      "job_id": j})
    wait_for(lambda: {x["job_id"] for x in results(r)} >= {"d1", "d2"}, 20, what="two results")
    # A reader took both and stopped before acknowledging; one of them was
    # then trimmed from the stream (MAXLEN) while still pending.
    got = r.xreadgroup(group, "web-1", {RESULTS: ">"}, count=10)
    ids = [i.decode() for i, _ in got[0][1]]
    assert len(ids) == 2
    r.xdel(RESULTS, ids[0])
    assert group_pending(r, group) == 2

    # The same consumer, restarted: the pending entries come back first.
    reader = examples.reader(url, "--group", group, "--consumer", "web-1", "--until", "d2",
                             "--timeout", "30")
    rc, lines, err = finish(reader)
    assert rc == 0, err
    assert [x["job_id"] for x in lines] == ["d2"]
    assert lines[0]["entry_id"] == ids[1]
    assert lines[0]["message"] == "Disconnected."
    assert group_pending(r, group) == 0


def test_bad_ids_are_refused_before_redis(examples, redis_server):
    r = redis_server.client
    for args in (["ac me", "hz"], ["acme", "hz/1"], ["--job-id", "has space", "acme", "hz"]):
        p = examples.enqueue(redis_server.url, *args, token=TOKEN.encode())
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert b"must match" in p.stderr
    # A token the worker would refuse is refused here too, and never echoed.
    p = examples.enqueue(redis_server.url, "acme", "hz", token=b"has a space")
    assert p.returncode == 2 and b"Invalid API token" in p.stderr
    assert b"has a space" not in p.stdout + p.stderr
    assert r.xlen(JOBS) == 0


def test_unreachable_redis_is_exit_3(examples, tmp_path):
    url = f"redis://127.0.0.1:{free_port()}/0"
    p = examples.enqueue(url, "acme", "hz", token=TOKEN.encode())
    assert p.returncode == 3, (p.stdout, p.stderr)
    assert TOKEN.encode() not in p.stdout + p.stderr
    t0 = time.time()
    p = subprocess.run(examples.read_cmd + ["--timeout", "5"], cwd=examples.cwd,
                       env=examples.env(url), capture_output=True, timeout=60 * SLOW)
    assert p.returncode == 3, (p.stdout, p.stderr)
    assert time.time() - t0 < 30 * SLOW


def test_unix_socket_url_and_prefix(examples, tmp_path, worker_factory):
    """The URL forms the workers accept work in the examples too: a unix
    socket with a database number, and another prefix."""
    import redis as redis_py
    sock = str(tmp_path / "redis.sock")
    proc = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock,
                             "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.path.exists(sock), what="unix socket")
        r = redis_py.Redis(unix_socket_path=sock, db=2)
        wait_for(lambda: r.ping(), what="redis on the socket")
        url = f"unix://{sock}?db=2"
        reader = examples.reader(url, "--prefix", "tenant2", "--until", "u-1", "--timeout", "60")
        worker_factory(url, SLATE_PREFIX="tenant2", SLATE_MAX_ATTEMPTS=1, SLATE_HTTP_RETRIES=0)
        p = examples.enqueue(url, "--prefix", "tenant2", "--job-id", "u-1", "acme", "hz-u",
                             token=TOKEN.encode())
        assert p.returncode == 0, p.stderr.decode()
        rc, lines, err = finish(reader)
        # No Hetzner API behind this worker: with one attempt, the connect is dead.
        # What matters here is that both examples spoke to db 2 under tenant2.
        assert [x["job_id"] for x in lines if x["final"]] == ["u-1"]
        assert rc == 1 and lines[-1]["status"] == "dead", lines
        assert lines[-1]["error_code"] == "hetzner_unavailable"
        assert not redis_py.Redis(unix_socket_path=sock, db=0).keys("*")
        assert r.exists("tenant2:{q}:results") and not r.exists("slate:{q}:results")
    finally:
        proc.kill()
        proc.wait()
