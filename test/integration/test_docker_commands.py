"""
The Docker setup without a Docker engine: the Dockerfile and
docker/compose.yml are parsed and their invariants checked, then the very
commands the containers run are run here, with the compose environment
rewritten only for host names, ports and paths:

- redis-server with docker/redis.conf (port, dir and bind adjusted), checked
  with the compose healthcheck;
- fake-hetzner through the image's entrypoint with the compose command line;
- three workers: the image's ENTRYPOINT + CMD, the image ENV + the compose
  environment, the key made by docker/gen-key.sh as the compose secret, and
  (when run as root) as uid 10001 like the image's USER;
- the demo one-shot (docker/demo.sh, as uid 65534 when root);
- SIGTERM to every worker while a job is in flight: each exits 0 within the
  compose stop_grace_period, and the job finishes;
- docker/healthcheck.sh against a stub HTTP server, and against the worker
  once the worker serves SLATE_METRICS_ADDR.

Needs python3-yaml (scripts/install-deps), redis-server and redis-cli.
SLATE_BUILD_DIR: the build whose slate-worker, slatectl and fake-hetzner run.
"""
import glob
import hashlib
import http.server
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import urllib.request

import pytest
import redis as redis_py

try:
    import yaml
except ImportError:  # pragma: no cover
    raise ImportError("python3-yaml is needed (apt-get install python3-yaml; "
                      "scripts/install-deps installs it)")

from conftest import BUILD, ROOT, SANITIZE, SLOW, free_port, wait_for

DOCKER = os.path.join(ROOT, "docker")
COMPOSE = os.path.join(DOCKER, "compose.yml")
DOCKERFILE = os.path.join(ROOT, "Dockerfile")
PROTOCOL_CANDIDATES = [os.environ.get("SLATE_PROTOCOL_MD", ""), "/work/shared/PROTOCOL.md",
                       os.path.join(ROOT, "docs", "protocol.md")]
IMAGE_UID = 10001
BINARIES = ("slate-worker", "slatectl", "fake-hetzner")
# Variables that only the image's scripts read (not the worker).
SCRIPT_VARS = {"SLATE_KEY_COPY_DIR", "SLATE_HEALTHCHECK_TIMEOUT_S", "_SLATE_HC_CHILD"}
DEBIAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
IS_ROOT = os.geteuid() == 0


# ---------------------------------------------------------------- parsing

def compose():
    with open(COMPOSE) as f:
        return yaml.safe_load(f)


class Dockerfile:
    """The instructions of each stage, continuation lines joined."""

    def __init__(self, path=DOCKERFILE):
        self.stages = []
        logical, cur = [], ""
        with open(path) as f:
            for raw in f:
                line = raw.rstrip("\n")
                if line.lstrip().startswith("#"):
                    continue          # comments, also inside continuations
                if line.endswith("\\"):
                    cur += line[:-1] + " "
                    continue
                cur += line
                if cur.strip():
                    logical.append(cur.strip())
                cur = ""
        for line in logical:
            instr, _, args = line.partition(" ")
            instr = instr.upper()
            args = args.strip()
            if instr == "FROM":
                m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", args, re.I)
                self.stages.append({"from": m.group(1), "name": m.group(2), "instrs": []})
            else:
                assert self.stages, "an instruction before FROM: " + line
                self.stages[-1]["instrs"].append((instr, args))

    @property
    def runtime(self):
        return self.stages[-1]

    def all(self, instr, stage=None):
        stage = stage or self.runtime
        return [a for i, a in stage["instrs"] if i == instr]

    def last(self, instr, stage=None):
        found = self.all(instr, stage)
        return found[-1] if found else None

    def exec_form(self, instr):
        return json.loads(self.last(instr))

    def env(self):
        """The runtime stage's ENV as a dict (key=value forms)."""
        out = {}
        for a in self.all("ENV"):
            for m in re.finditer(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)', a):
                out[m.group(1)] = m.group(2).strip('"')
        return out

    def healthcheck(self):
        a = self.last("HEALTHCHECK")
        opts = dict(re.findall(r"--([a-z-]+)=(\S+)", a))
        cmd = a[a.index("CMD") + 3:].strip()
        return opts, json.loads(cmd)

    def copies(self):
        """Runtime COPY lines as (flags, sources, destination)."""
        out = []
        for a in self.all("COPY"):
            words = a.split()
            flags = [w for w in words if w.startswith("--")]
            rest = [w for w in words if not w.startswith("--")]
            out.append((flags, rest[:-1], rest[-1]))
        return out

    def apt_packages(self):
        pkgs = []
        for a in self.all("RUN"):
            m = re.search(r"apt-get install ((?:\s*-\S+)*)((?:\s+[a-z0-9][a-z0-9.+-]+)+)", a)
            if m:
                pkgs += m.group(2).split()
        return pkgs


def protocol_names():
    for p in PROTOCOL_CANDIDATES:
        if p and os.path.exists(p):
            with open(p) as f:
                return p, set(re.findall(r"\b(SLATE_[A-Z0-9_]+)", f.read()))
    return None, set()


def worker_names():
    """Every SLATE_* string literal of the C sources: what the programs read."""
    names = set()
    for path in glob.glob(os.path.join(ROOT, "src", "**", "*.c"), recursive=True):
        with open(path, errors="replace") as f:
            names |= set(re.findall(r'"(SLATE_[A-Z0-9_]+)"', f.read()))
    return names


def parse_duration(s):
    """Compose durations: 35s, 1m30s, 500ms, 1h."""
    unit = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6}
    total, pos = 0.0, 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(s)):
        assert m.start() == pos, f"bad duration {s!r}"
        pos = m.end()
        total += float(m.group(1)) * unit[m.group(2)]
    assert pos == len(str(s)) and pos > 0, f"bad duration {s!r}"
    return total


def service_env(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return {k: str(v) for k, v in env.items()}


def worker_container_env():
    """What a worker container sees: the image's ENV, then compose's."""
    env = Dockerfile().env()
    env.update(service_env(compose()["services"]["worker"]))
    return env


# ------------------------------------------------------ static invariants

def test_dockerfile_stages_and_build():
    df = Dockerfile()
    assert len(df.stages) >= 2, "multi-stage"
    build = df.stages[0]
    assert build["from"] == "debian:bookworm" and build["name"] == "build"
    runs = " ".join(df.all("RUN", build))
    assert "scripts/install-deps" in runs
    assert re.search(r"scripts/build build\b", runs)
    assert df.runtime["from"] == "debian:bookworm-slim"
    # Every program the compose file runs is installed from the build stage.
    for b in BINARIES:
        assert re.search(rf"build/{re.escape(b)}\b", runs), b
    assert any(any("--from=build" in f for f in flags) and dst == "/usr/local/bin/"
               for flags, _src, dst in df.copies())
    # ENV in the image is runtime state: DEBIAN_FRONTEND must be an ARG.
    assert "DEBIAN_FRONTEND" not in df.env()


def test_runtime_packages_are_the_runtime_libraries():
    df = Dockerfile()
    pkgs = df.apt_packages()
    assert "--no-install-recommends" in " ".join(df.all("RUN"))
    for p in ("libuv1", "libcurl4", "libyajl2", "libhiredis0.14", "libsodium23",
              "libmicrohttpd12", "ca-certificates"):
        assert p in pkgs, p
    for p in pkgs:
        assert not p.endswith("-dev"), p
        assert p not in ("build-essential", "cmake", "python3", "curl", "wget", "gcc", "clang"), p


def test_runtime_packages_cover_every_shared_library():
    """readelf -d of the built programs, each library mapped to its Debian
    package here (same release as the image): all are installed in the
    runtime stage (or are libc6, in every base image)."""
    pkgs = set(Dockerfile().apt_packages()) | {"libc6"}
    for b in BINARIES:
        path = os.path.join(BUILD, b)
        if not os.path.exists(path):
            pytest.skip(f"{path} is not built")
        needed = re.findall(r"\(NEEDED\).*\[(.+)\]",
                            subprocess.run(["readelf", "-d", path], capture_output=True,
                                           text=True, check=True).stdout)
        ldd = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
        for lib in needed:
            if SANITIZE and re.match(r"lib(asan|ubsan)\.", lib):
                continue          # the sanitizer build only
            m = re.search(rf"^\s*{re.escape(lib)} => (\S+)", ldd, re.M)
            assert m, f"{b}: {lib} not resolved by ldd"
            real = os.path.realpath(m.group(1))
            owner = None
            for cand in (m.group(1), real, real.replace("/usr/lib/", "/lib/", 1)):
                r = subprocess.run(["dpkg", "-S", cand], capture_output=True, text=True)
                if r.returncode == 0:
                    owner = r.stdout.split(":")[0]
                    break
            assert owner, f"{b}: no package owns {lib}"
            assert owner in pkgs, f"{b} needs {lib} from {owner}, not in the runtime stage"


def test_runtime_user_entrypoint_healthcheck():
    df = Dockerfile()
    user = df.last("USER")
    assert user is not None, "the runtime stage sets USER"
    assert re.fullmatch(rf"{IMAGE_UID}(:{IMAGE_UID})?", user), f"numeric non-root USER, got {user}"
    runs = " ".join(df.all("RUN"))
    assert re.search(rf"useradd .*--uid {IMAGE_UID}\b", runs)
    # USER comes after every RUN that needs root.
    instrs = [i for i, _ in df.runtime["instrs"]]
    assert max(i for i, x in enumerate(instrs) if x == "RUN") < instrs.index("USER")

    copies = {dst: src for _f, src, dst in df.copies() if len(src) == 1}
    entry = df.exec_form("ENTRYPOINT")
    assert entry == ["/usr/local/bin/slate-entrypoint"]
    assert copies[entry[0]] == ["docker/entrypoint.sh"]
    assert df.exec_form("CMD") == ["slate-worker"]

    opts, cmd = df.healthcheck()
    assert cmd[0] == "/usr/local/bin/slate-healthcheck"
    assert copies[cmd[0]] == ["docker/healthcheck.sh"]
    assert parse_duration(opts["timeout"]) >= 3, "the script's own limit is 3 s"
    assert df.env().get("SLATE_METRICS_ADDR") == "0.0.0.0:9464"
    with open(os.path.join(DOCKER, "healthcheck.sh")) as f:
        assert f.readline().strip() == "#!/bin/bash", "/dev/tcp needs bash"
    for script in ("entrypoint.sh", "healthcheck.sh", "demo.sh", "gen-key.sh"):
        assert os.stat(os.path.join(DOCKER, script)).st_mode & 0o111, f"{script} executable"


def test_no_secret_is_baked_in():
    df = Dockerfile()
    for stage in df.stages:
        for instr, args in stage["instrs"]:
            if instr in ("COPY", "ADD"):
                srcs = [w for w in args.split() if not w.startswith("--")][:-1]
                assert "." not in srcs and "./" not in srcs, \
                    f"{instr} {args}: the whole context (list what is needed)"
                assert not any("secret" in s or s.endswith(".key") for s in srcs), args
                assert instr == "COPY", "ADD fetches and unpacks: use COPY"
            if instr in ("ENV", "ARG"):
                assert not re.search(r"SECRET|TOKEN|PASSW|INSECURE_KEY|_KEY\b", args), args
    texts = {}
    for p in [DOCKERFILE, COMPOSE, os.path.join(ROOT, ".dockerignore")] + \
            glob.glob(os.path.join(DOCKER, "*")):
        if os.path.isfile(p):
            with open(p) as f:
                texts[p] = f.read()
    for p, t in texts.items():
        assert not re.search(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])", t), \
            f"{p} holds 64 hex characters: a key?"
        assert "SLATE_DEV_INSECURE_KEY" not in t or p.endswith("README.md"), p

    ignore = [ln.strip() for ln in texts[os.path.join(ROOT, ".dockerignore")].splitlines()]
    assert "docker/secrets" in ignore and "**/*.key" in ignore
    assert ".git" in ignore and "build" in ignore and "build-*" in ignore
    with open(os.path.join(DOCKER, "secrets", ".gitignore")) as f:
        assert "*" in f.read().split()
    if shutil.which("git") and os.path.isdir(os.path.join(ROOT, ".git")):
        r = subprocess.run(["git", "-C", ROOT, "check-ignore", "-q", "docker/secrets/slate.key"],
                           capture_output=True)
        # 0: ignored; 1: not ignored; 128: git cannot tell (another user's repository).
        assert r.returncode != 1, "git would track docker/secrets/slate.key"

    c = compose()
    assert c["secrets"]["slate_key"] == {"file": "./secrets/slate.key"}
    w = c["services"]["worker"]
    assert "slate_key" in w["secrets"]
    env = service_env(w)
    assert env["SLATE_SECRET_KEY_FILE"] == "/run/secrets/slate_key"
    for name, svc in c["services"].items():
        assert not any(k in service_env(svc) for k in ("SLATE_DEV_INSECURE_KEY",)), name


def test_compose_services():
    c = compose()
    assert "version" not in c, "compose spec format: no version key"
    svcs = c["services"]
    assert set(svcs) >= {"redis", "fake-hetzner", "worker", "demo"}
    for name, svc in svcs.items():
        assert "container_name" not in svc, f"{name}: container_name prevents --scale"

    w = svcs["worker"]
    assert "ports" not in w, "a fixed host port prevents --scale"
    assert w["deploy"]["replicas"] == 3
    assert w["restart"] in ("unless-stopped", "always", "on-failure")
    assert w["image"] == svcs["fake-hetzner"]["image"], "one image for worker and fake"
    assert w["build"]["context"] == ".." and w["build"]["dockerfile"] == "Dockerfile"
    assert "command" not in w and "entrypoint" not in w, "the image's ENTRYPOINT + CMD"
    for dep in ("redis", "fake-hetzner"):
        assert w["depends_on"][dep]["condition"] == "service_healthy"
        assert svcs[dep]["healthcheck"]["test"], dep
    assert svcs["demo"]["depends_on"]["worker"]["condition"] == "service_healthy"
    assert svcs["demo"]["restart"] == "no"

    env = worker_container_env()
    drain_ms = int(env.get("SLATE_DRAIN_TIMEOUT_MS", "30000"))
    grace = parse_duration(w["stop_grace_period"])
    assert grace * 1000 >= drain_ms + 5000, \
        f"stop_grace_period {grace}s leaves no margin over the drain ({drain_ms} ms)"
    assert w.get("stop_signal", "SIGTERM") == "SIGTERM"

    url = env["SLATE_HETZNER_URL"]
    assert url == "http://fake-hetzner:8080/v1"
    assert env["SLATE_HETZNER_INSECURE_HTTP"] == "1", "plain http to a non-loopback host"
    assert env["SLATE_REDIS_URL"] == "redis://redis:6379/0"
    assert env["SLATE_METRICS_ADDR"] == "0.0.0.0:9464"
    fake_cmd = svcs["fake-hetzner"]["command"]
    assert fake_cmd[0] == "fake-hetzner"
    assert fake_cmd[fake_cmd.index("--listen") + 1] == "0.0.0.0:8080"

    tmpfs = [t for t in w.get("tmpfs", []) if t.startswith("/run/slate:")]
    assert tmpfs, "the entrypoint's private key directory is a tmpfs"
    opts = dict(o.split("=", 1) for o in tmpfs[0].split(":", 1)[1].split(",") if "=" in o)
    assert opts["uid"] == str(IMAGE_UID) and opts["mode"] == "0700"
    assert w.get("read_only") is True


def test_redis_conf_and_service():
    with open(os.path.join(DOCKER, "redis.conf")) as f:
        conf = {}
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                k, _, v = line.partition(" ")
                conf[k.lower()] = v.strip()
    assert conf["appendonly"] == "yes"
    assert conf["appendfsync"] == "everysec"
    assert conf["maxmemory-policy"] == "noeviction"
    assert conf["dir"] == "/data" and conf["port"] == "6379"
    r = compose()["services"]["redis"]
    assert r["command"] == ["redis-server", "/usr/local/etc/redis/redis.conf"]
    assert "./redis.conf:/usr/local/etc/redis/redis.conf:ro" in r["volumes"]
    vol = [v for v in r["volumes"] if v.endswith(":/data")]
    assert vol and vol[0].split(":")[0] in compose()["volumes"], "a named volume for /data"
    assert re.match(r"redis:7", r["image"])


def test_env_names_are_the_workers():
    proto_path, proto = protocol_names()
    known = worker_names()
    assert "SLATE_REDIS_URL" in known, "could not read the worker's variable names"
    env = worker_container_env()
    for name in env:
        if name.startswith("SLATE_"):
            assert name in known, f"{name} is read by no program (misspelt?)"
    # The contract's own names, spelt as in PROTOCOL.md.
    for name in ("SLATE_REDIS_URL", "SLATE_HETZNER_URL", "SLATE_HETZNER_INSECURE_HTTP",
                 "SLATE_SECRET_KEY_FILE", "SLATE_DRAIN_TIMEOUT_MS"):
        assert name in env, name
        if proto:
            assert name in proto, f"{name} not in {proto_path}"
    # Everything else named SLATE_* in the compose file and the scripts.
    for p in [COMPOSE, DOCKERFILE] + glob.glob(os.path.join(DOCKER, "*.sh")):
        with open(p) as f:
            for name in set(re.findall(r"\b_?SLATE_[A-Z0-9_]+", f.read())):
                assert name in known or name in SCRIPT_VARS or name == "SLATE_IMAGE", \
                    f"{os.path.basename(p)}: {name}"


# ------------------------------------------------------- helper processes

class Procs:
    def __init__(self):
        self.procs = []

    def start(self, argv, env, log_path, user=None, stdout=None, cwd=None):
        log = open(log_path, "w")
        p = subprocess.Popen(argv, env=env, stdout=stdout or log, stderr=log, cwd=cwd or "/",
                             preexec_fn=as_user(user), text=True)
        p.log_path = log_path
        p.logf = log
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.logf.close()


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def as_user(user):
    """preexec_fn running the child as uid:gid (only when we are root)."""
    if user is None or not IS_ROOT:
        return None
    uid, gid = user

    def drop():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    return drop


SHM_DIRS = []


def private_tmpfs_dir(owner):
    """A stand-in for compose's `tmpfs: /run/slate:uid=10001,mode=0700`
    (removed by the scratch fixture)."""
    base = "/dev/shm"
    if not os.path.isdir(base) or fs_type(base) not in ("tmpfs", "ramfs"):
        pytest.skip("no tmpfs at /dev/shm for the entrypoint's private key copy")
    d = tempfile.mkdtemp(prefix="slate-run-", dir=base)
    SHM_DIRS.append(d)
    if IS_ROOT and owner is not None:
        os.chown(d, owner, owner)
    os.chmod(d, 0o700)
    return d


def fake_root(tmp):
    """A world-traversable scratch directory (pytest's is 0700, and the
    container users must reach their files)."""
    d = tempfile.mkdtemp(prefix="slate-docker-", dir=tmp)
    os.chmod(d, 0o755)
    return d


def usr_local_bin(base):
    """/usr/local/bin of the image: the COPY lines of the runtime stage,
    resolved to the build and the repository."""
    d = os.path.join(base, "usr-local-bin")
    os.mkdir(d)
    os.chmod(d, 0o755)
    df = Dockerfile()
    for flags, srcs, dst in df.copies():
        if any(f.startswith("--from=") for f in flags):
            assert dst == "/usr/local/bin/"
            for b in BINARIES:
                os.symlink(os.path.join(BUILD, b), os.path.join(d, b))
        elif dst.startswith("/usr/local/bin/"):
            os.symlink(os.path.join(ROOT, srcs[0]), os.path.join(d, os.path.basename(dst)))
    return d


def rewrite(value, table, used):
    for old, new in table:
        if old in value:
            value = value.replace(old, new)
            used.add(old)
    return value


def container_env(bindir, *layers, table=(), used=None):
    env = {"PATH": DEBIAN_PATH.replace("/usr/local/bin", bindir)}
    for layer in layers:
        for k, v in layer.items():
            env[k] = rewrite(str(v), table, used if used is not None else set())
    if SANITIZE:
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=23"
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:exitcode=24"
    return env


def gen_key(path):
    r = subprocess.run([os.path.join(DOCKER, "gen-key.sh"), path], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r


def listening(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def redis_cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), "--raw", *args], capture_output=True,
                          text=True, timeout=10).stdout.strip()


def fake_knobs(port, project, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/_fake/projects/{project}",
                                 data=body.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.read()


def fs_type(path):
    return subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True,
                          text=True).stdout.strip()


def needs_runtime():
    for b in BINARIES:
        if not os.access(os.path.join(BUILD, b), os.X_OK):
            pytest.skip(f"{BUILD}/{b} is not built")
    for tool in ("redis-server", "redis-cli"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is missing")


@pytest.fixture
def procs():
    p = Procs()
    yield p
    p.stop_all()


@pytest.fixture
def scratch():
    """Request it before `procs`, so that the processes stop first."""
    d = fake_root("/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)
    while SHM_DIRS:
        shutil.rmtree(SHM_DIRS.pop(), ignore_errors=True)


# ----------------------------------------------- the compose stack, run here

def test_compose_stack_runs_outside_docker(scratch, procs):
    needs_runtime()
    c = compose()
    svcs = c["services"]
    df = Dockerfile()
    image_env = df.env()
    entrypoint = df.exec_form("ENTRYPOINT")
    cmd = df.exec_form("CMD")
    u = [int(x) for x in df.last("USER").split(":")]
    image_user = (u[0], u[-1])
    bindir = usr_local_bin(scratch)

    def host(path):
        """A container path of the image's binaries, on this machine."""
        assert path.startswith("/usr/local/bin/"), path
        return os.path.join(bindir, os.path.basename(path))

    rport, fport = free_port(), free_port()

    # ---- redis: the config file, adjusted for a temp dir and a free port.
    rs = svcs["redis"]
    conf_target = rs["command"][1]
    src = [v.split(":")[0] for v in rs["volumes"] if v.split(":")[1] == conf_target][0]
    data = os.path.join(scratch, "redis-data")
    os.mkdir(data)
    conf = read(os.path.join(DOCKER, src))
    conf, n1 = re.subn(r"^port 6379$", f"port {rport}", conf, flags=re.M)
    conf, n2 = re.subn(r"^dir /data$", f"dir {data}", conf, flags=re.M)
    conf, n3 = re.subn(r"^bind .*$", "bind 127.0.0.1 -::1", conf, flags=re.M)
    assert (n1, n2, n3) == (1, 1, 1)
    conf_path = os.path.join(scratch, "redis.conf")
    with open(conf_path, "w") as f:
        f.write(conf)
    redis = procs.start(["redis-server", conf_path], dict(os.environ),
                        os.path.join(scratch, "redis.log"))
    hc = rs["healthcheck"]["test"]
    assert hc[0] == "CMD-SHELL" and "-p 6379" in hc[1]
    redis_hc = hc[1].replace("-p 6379", f"-p {rport}")
    wait_for(lambda: subprocess.run(["sh", "-c", redis_hc], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL).returncode == 0, 10,
             what="the redis healthcheck")
    assert redis_cli(rport, "CONFIG", "GET", "appendonly").split() == ["appendonly", "yes"]
    assert redis_cli(rport, "CONFIG", "GET", "appendfsync").split() == ["appendfsync", "everysec"]
    assert redis_cli(rport, "CONFIG", "GET", "maxmemory-policy").split() == \
        ["maxmemory-policy", "noeviction"]

    # ---- fake-hetzner: ENTRYPOINT + the compose command line.
    fs = svcs["fake-hetzner"]
    configs = {x["target"]: os.path.join(DOCKER, c["configs"][x["source"]]["file"])
               for x in fs["configs"]}
    used = set()
    fake_table = [("0.0.0.0:8080", f"127.0.0.1:{fport}")] + list(configs.items())
    fake_argv = [host(entrypoint[0])] + [rewrite(a, fake_table, used) for a in fs["command"]]
    assert used == {t[0] for t in fake_table}, "every compose value was rewritten"
    fake_env = container_env(bindir, image_env, service_env(fs))
    fake = procs.start(fake_argv, fake_env, os.path.join(scratch, "fake.err"), user=image_user,
                       stdout=subprocess.PIPE)
    line = fake.stdout.readline()
    assert line.startswith("listening on "), line + read(fake.log_path)
    fhc = fs["healthcheck"]["test"]
    assert fhc[0] == "CMD"
    fhc_argv = [host(fhc[1])] + [a.replace("127.0.0.1:8080", f"127.0.0.1:{fport}") for a in fhc[2:]]
    assert subprocess.run(fhc_argv, env=fake_env, preexec_fn=as_user(image_user)).returncode == 0

    # ---- the secret, made the documented way (docker/gen-key.sh).
    secrets_dir = os.path.join(scratch, "secrets")
    os.mkdir(secrets_dir)
    os.chmod(secrets_dir, 0o755)
    key = os.path.join(secrets_dir, "slate.key")
    gen_key(key)
    st = os.stat(key)
    if IS_ROOT:
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (IMAGE_UID, 0o400)
    key_copy_dir = private_tmpfs_dir(image_user[0])

    # ---- three workers: ENTRYPOINT + CMD, the image ENV + compose env.
    ws = svcs["worker"]
    n = ws["deploy"]["replicas"]
    workers = []
    metrics_ports = []
    for i in range(n):
        mport = free_port()
        metrics_ports.append(mport)
        used = set()
        table = [("redis://redis:6379/", f"redis://localhost:{rport}/"),
                 ("http://fake-hetzner:8080/", f"http://localhost:{fport}/"),
                 ("/run/secrets/slate_key", key),
                 ("0.0.0.0:9464", f"127.0.0.1:{mport}")]
        env = container_env(bindir, image_env, service_env(ws), table=table, used=used)
        assert used == {t[0] for t in table}
        env["SLATE_KEY_COPY_DIR"] = key_copy_dir     # the tmpfs at /run/slate
        w = procs.start([host(entrypoint[0])] + cmd, env,
                        os.path.join(scratch, f"worker-{i + 1}.log"), user=image_user)
        w.env = env
        workers.append(w)
    for w in workers:
        wait_for(lambda: '"redis connected","conn":"reader"' in read(w.log_path) or
                 w.poll() is not None, 15, what="a worker connected to redis")
        assert w.poll() is None, read(w.log_path)
        # The entrypoint exec'd: the worker itself gets the container's SIGTERM.
        with open(f"/proc/{w.pid}/comm") as f:
            assert f.read().strip() == "slate-worker"
        if IS_ROOT:
            with open(f"/proc/{w.pid}/status") as f:
                assert re.search(rf"^Uid:\s+{IMAGE_UID}\s", f.read(), re.M)
        assert "private copy" not in read(w.log_path), "the gen-key file is used as it is"

    # ---- the image's HEALTHCHECK against each worker, once it serves it.
    _opts, hcmd = df.healthcheck()
    if all(wait_for_listen(p, 3) for p in metrics_ports):
        for w in workers:
            r = subprocess.run([host(hcmd[0])] + hcmd[1:], env=w.env, capture_output=True,
                               text=True, preexec_fn=as_user(image_user))
            assert r.returncode == 0, r.stderr
        print(f"the image's HEALTHCHECK passed against {n} workers")
    else:
        print("the workers do not serve SLATE_METRICS_ADDR: HEALTHCHECK not run against them")

    # ---- the demo one-shot.
    ds = svcs["demo"]
    mounts = {v.split(":")[1]: os.path.join(DOCKER, v.split(":")[0]) for v in ds["volumes"]}
    demo_argv = [mounts.get(a, a) for a in ds["entrypoint"]]
    assert demo_argv != ds["entrypoint"], "the demo script is the mounted file"
    used = set()
    demo_env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    demo_env.update({k: rewrite(v, [("redis://redis:6379/", f"redis://localhost:{rport}/")], used)
                     for k, v in service_env(ds).items()})
    assert used
    demo_user = tuple(int(x) for x in ds["user"].split(":"))
    r = subprocess.run(demo_argv, env=demo_env, capture_output=True, text=True, cwd="/",
                       timeout=120 * SLOW, preexec_fn=as_user(demo_user))
    out = r.stdout + r.stderr
    assert r.returncode == 0, out + "".join(read(w.log_path)[-2000:] for w in workers)
    assert "connect succeeded" in out
    token = re.search(r"token=(\S+)", read(configs["/etc/slate/demo.projects"])).group(1)
    servers = int(re.search(r"servers=(\d+)", read(configs["/etc/slate/demo.projects"])).group(1))
    assert token not in out, "the demo printed the token"
    m = re.search(r"^\s*summary\s+(\{.*\})$", out, re.M)
    assert m, out
    summary = json.loads(m.group(1))
    assert summary["servers"] == servers and summary["assets"]["added"] == servers

    # ---- SIGTERM with a job in flight: drained, exit 0 within the grace period.
    grace = parse_duration(ws["stop_grace_period"])
    fake_knobs(fport, "demo", "latency_ms=1500")
    r = redis_py.Redis(port=rport, decode_responses=True)
    r.xadd("slate:{q}:jobs", {"type": "sync", "workspace": "demo-ws", "integration": "hz-demo",
                              "job_id": "drain-sync"})
    # Delivered to a worker, which now waits 1.5 s for each API answer.
    wait_for(lambda: r.xpending("slate:{q}:jobs", "workers")["pending"] > 0, 15,
             what="the sync to be taken by a worker")
    t0 = time.monotonic()
    for w in workers:
        w.send_signal(signal.SIGTERM)
    for w in workers:
        left = grace - (time.monotonic() - t0)
        try:
            code = w.wait(max(left, 0.1))
        except subprocess.TimeoutExpired:
            pytest.fail(f"a worker outlived stop_grace_period ({grace}s): docker would SIGKILL it\n"
                        + read(w.log_path)[-3000:])
        assert code == 0, f"exit {code}\n" + read(w.log_path)[-3000:]
    took = time.monotonic() - t0
    logs = [read(w.log_path) for w in workers]
    assert any(re.search(r'"shutting down[^\n]*"in_flight":"1"', log) for log in logs), \
        "no worker had the sync in flight at SIGTERM:\n" + "".join(x[-1500:] for x in logs)
    res = [f for _id, f in r.xrange("slate:{q}:results") if f.get("job_id") == "drain-sync"]
    assert [f["status"] for f in res] == ["succeeded"], \
        "the sync in flight at SIGTERM was not finished by the drain:\n" + \
        "".join(read(w.log_path)[-1500:] for w in workers)
    assert r.xlen("slate:{q}:jobs") == 0
    assert r.xpending("slate:{q}:jobs", "workers")["pending"] == 0
    assert r.sismember("slate:{demo-ws}:integrations", "hz-demo")
    for w in workers:
        log = read(w.log_path)
        assert token not in log, "a token in a worker log"
        assert '"exit","loop_closed":"true"' in log
    print(f"{n} workers drained and exited 0 in {took:.1f}s (grace {grace}s)")

    # ---- the rest of `docker compose down`: the fake, then redis.
    fake.send_signal(signal.SIGTERM)
    assert fake.wait(10) == 0
    redis.send_signal(signal.SIGTERM)
    assert redis.wait(10) == 0
    aof = glob.glob(os.path.join(data, "appendonlydir", "*.aof"))
    assert aof, "redis wrote no append-only file"


def wait_for_listen(port, seconds):
    deadline = time.time() + seconds * SLOW
    while time.time() < deadline:
        if listening(port):
            return True
        time.sleep(0.1)
    return False


def test_healthcheck_against_the_worker(scratch, redis_server, procs):
    """The image's HEALTHCHECK, with the worker's container env, against a
    real slate-worker serving SLATE_METRICS_ADDR."""
    needs_runtime()
    df = Dockerfile()
    bindir = usr_local_bin(scratch)
    mport = free_port()
    table = [("redis://redis:6379/", f"redis://127.0.0.1:{redis_server.port}/"),
             ("0.0.0.0:9464", f"127.0.0.1:{mport}")]
    env = container_env(bindir, worker_container_env(), table=table)
    env.pop("SLATE_SECRET_KEY_FILE")
    env["SLATE_DEV_INSECURE_KEY"] = "1"
    w = procs.start([os.path.join(bindir, "slate-worker")], env, os.path.join(scratch, "w.log"))
    wait_for(lambda: '"redis connected","conn":"reader"' in read(w.log_path) or
             w.poll() is not None, 15, what="the worker")
    assert w.poll() is None, read(w.log_path)
    up = wait_for_listen(mport, 3)
    if not up:
        w.send_signal(signal.SIGTERM)
        w.wait(30 * SLOW)
        pytest.skip("slate-worker does not listen on SLATE_METRICS_ADDR yet (its /healthz "
                    "endpoint is being written); docker/healthcheck.sh was checked against "
                    "a stub HTTP server only (test_healthcheck_script)")
    _opts, hcmd = df.healthcheck()
    r = subprocess.run([os.path.join(bindir, os.path.basename(hcmd[0]))] + hcmd[1:], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    w.send_signal(signal.SIGTERM)
    assert w.wait(30 * SLOW) == 0


# ------------------------------------------------------------ the scripts

class Stub(http.server.BaseHTTPRequestHandler):
    mode = "ok"

    def do_GET(self):
        mode = self.server.mode
        if mode == "silent":
            time.sleep(6)
            return
        if mode == "503-with-200-in-body":
            self.send_response(503)
            self.end_headers()
            self.wfile.write(b"HTTP/1.0 200 OK\n200\n")
            return
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *a):
        pass


class StubServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        self.errors = getattr(self, "errors", 0) + 1


@pytest.fixture
def stub():
    srv = StubServer(("127.0.0.1", 0), Stub)
    srv.mode = "ok"
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def run_hc(*args, addr=None, timeout=None):
    env = {"PATH": DEBIAN_PATH}
    if addr:
        env["SLATE_METRICS_ADDR"] = addr
    if timeout:
        env["SLATE_HEALTHCHECK_TIMEOUT_S"] = str(timeout)
    t0 = time.monotonic()
    r = subprocess.run([os.path.join(DOCKER, "healthcheck.sh"), *args], env=env,
                       capture_output=True, text=True, timeout=20)
    return r.returncode, time.monotonic() - t0, r.stderr


def test_healthcheck_script(stub):
    port = stub.server_address[1]
    # The image's default: SLATE_METRICS_ADDR with a wildcard host, /healthz.
    assert run_hc(addr=f"0.0.0.0:{port}")[0] == 0
    assert run_hc(addr=f"127.0.0.1:{port}")[0] == 0
    assert run_hc(f"127.0.0.1:{port}", "/healthz")[0] == 0
    # The answer is read to its end: no connection reset on the server's side.
    assert getattr(stub, "errors", 0) == 0
    # Anything but 200 is unhealthy, and the exit code is 1 (2 is reserved).
    assert run_hc(f"127.0.0.1:{port}", "/nope")[0] == 1
    stub.mode = "503-with-200-in-body"
    assert run_hc(f"127.0.0.1:{port}")[0] == 1
    # Nothing listening: 1 at once.
    dead = free_port()
    code, took, err = run_hc(addr=f"0.0.0.0:{dead}")
    assert code == 1 and took < 2 and "refused" in err
    # A server that never answers: 1 within the script's own limit.
    stub.mode = "silent"
    code, took, _ = run_hc(f"127.0.0.1:{port}", timeout=1)
    assert code == 1 and took < 3
    assert run_hc(addr="nonsense")[0] == 1


def key_probe_bin(base):
    """A stand-in `slate-worker` that reports the key file it was given."""
    d = os.path.join(base, "probe-bin")
    os.mkdir(d)
    os.chmod(d, 0o755)
    probe = os.path.join(d, "slate-worker")
    with open(probe, "w") as f:
        f.write('#!/bin/sh\n'
                'for f in "$SLATE_SECRET_KEY_FILE" '
                '${SLATE_PREVIOUS_SECRET_KEY_FILE:+"$SLATE_PREVIOUS_SECRET_KEY_FILE"}; do\n'
                '  printf "%s %s %s\\n" "$f" "$(stat -c %a "$f" 2>/dev/null)" '
                '"$(sha256sum < "$f" 2>/dev/null | cut -c1-64)"\n'
                'done\n')
    os.chmod(probe, 0o755)
    os.symlink(probe, os.path.join(d, "fake-hetzner"))
    os.symlink(probe, os.path.join(d, "slatectl"))
    return d


def entrypoint(args, key, copy_dir, bindir, user=None, previous=None):
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "SLATE_SECRET_KEY_FILE": key,
           "SLATE_KEY_COPY_DIR": copy_dir}
    if previous:
        env["SLATE_PREVIOUS_SECRET_KEY_FILE"] = previous
    return subprocess.run([os.path.join(DOCKER, "entrypoint.sh"), *args], env=env,
                          capture_output=True, text=True, timeout=10, preexec_fn=as_user(user))


def write_key(path, mode, owner=None):
    with open(path, "w") as f:
        f.write("ab" * 32 + "\n")
    os.chmod(path, mode)
    if IS_ROOT and owner is not None:
        os.chown(path, owner, owner)
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_entrypoint_key_handling(scratch):
    bindir = key_probe_bin(scratch)
    me = IMAGE_UID if IS_ROOT else os.getuid()
    user = (me, me) if IS_ROOT else None
    copy_dir = private_tmpfs_dir(me)
    try:
        # Owned by the worker's user, 0400: used as it is.
        key = os.path.join(scratch, "key-400")
        digest = write_key(key, 0o400, me)
        r = entrypoint(["slate-worker"], key, copy_dir, bindir, user)
        assert r.returncode == 0 and r.stdout.split() == [key, "400", digest], r
        assert r.stderr == ""
        # The default command is slate-worker.
        r = entrypoint([], key, copy_dir, bindir, user)
        assert r.stdout.split()[0] == key, r

        # A bind mount with the host's 0644: a private 0400 copy in the tmpfs.
        key = os.path.join(scratch, "key-644")
        digest = write_key(key, 0o644, 0)
        r = entrypoint(["slate-worker"], key, copy_dir, bindir, user)
        dst = os.path.join(copy_dir, "slate_key")
        assert r.returncode == 0 and r.stdout.split() == [dst, "400", digest], r
        assert "private copy" in r.stderr and "ab" * 32 not in r.stderr + r.stdout
        st = os.stat(dst)
        assert stat.S_IMODE(st.st_mode) == 0o400 and st.st_uid == me
        assert os.listdir(copy_dir) == ["slate_key"], "no temporary file left"
        # Run again (a restarted container): the read-only copy is replaced.
        r = entrypoint(["slate-worker"], key, copy_dir, bindir, user)
        assert r.returncode == 0 and r.stdout.split()[0] == dst, r

        # The previous key of a rotation is handled the same way.
        own = os.path.join(scratch, "key-400")
        r = entrypoint(["slatectl"], own, copy_dir, bindir, user, previous=key)
        prev = os.path.join(copy_dir, "slate_previous_key")
        assert r.returncode == 0, r
        assert [ln.split()[:2] for ln in r.stdout.splitlines()] == [[own, "400"], [prev, "400"]]
        assert "SLATE_PREVIOUS_SECRET_KEY_FILE" in r.stderr
        os.unlink(prev)

        # Never copied to a disk.
        disk_dir = os.path.join(scratch, "on-disk")
        os.mkdir(disk_dir, 0o700)
        if IS_ROOT:
            os.chown(disk_dir, me, me)
        if fs_type(disk_dir) not in ("tmpfs", "ramfs"):
            r = entrypoint(["slate-worker"], key, disk_dir, bindir, user)
            assert r.returncode == 2 and "not a tmpfs" in r.stderr, r
            assert os.listdir(disk_dir) == []

        # Missing: a hint, and the worker says the rest.
        r = entrypoint(["slate-worker"], os.path.join(scratch, "nope"), copy_dir, bindir, user)
        assert r.returncode == 0 and "does not exist" in r.stderr, r

        # Not the worker's command: the key is not touched.
        r = entrypoint(["fake-hetzner"], key, disk_dir, bindir, user)
        assert r.returncode == 0 and r.stdout.split()[0] == key, r

        if IS_ROOT:
            # Unreadable by uid 10001 (the host file 0600, someone else's).
            key = os.path.join(scratch, "key-600-root")
            write_key(key, 0o600, 0)
            r = entrypoint(["slate-worker"], key, copy_dir, bindir, user)
            assert r.returncode == 2 and f"chown {me}:{me}" in r.stderr, r
    finally:
        shutil.rmtree(copy_dir, ignore_errors=True)


def test_worker_refuses_open_key_and_takes_the_entrypoints_copy(scratch, redis_server, procs):
    """Why the entrypoint copies: the worker refuses the bind-mounted 0644
    file on its own, and runs with the entrypoint's private copy."""
    needs_runtime()
    bindir = usr_local_bin(scratch)
    key = os.path.join(scratch, "open.key")
    write_key(key, 0o644, 0)
    env = container_env(bindir, worker_container_env(),
                        table=[("redis://redis:6379/", f"redis://127.0.0.1:{redis_server.port}/"),
                               ("http://fake-hetzner:8080/", "http://127.0.0.1:9/"),
                               ("/run/secrets/slate_key", key),
                               ("0.0.0.0:9464", f"127.0.0.1:{free_port()}")])
    r = subprocess.run([os.path.join(bindir, "slate-worker")], env=env, capture_output=True,
                       text=True, timeout=10 * SLOW)
    assert r.returncode == 2 and "group or others" in r.stderr, r
    user = (IMAGE_UID, IMAGE_UID) if IS_ROOT else None
    copy_dir = private_tmpfs_dir(user[0] if user else None)
    try:
        env["SLATE_KEY_COPY_DIR"] = copy_dir
        w = procs.start([os.path.join(bindir, "slate-entrypoint"), "slate-worker"], env,
                        os.path.join(scratch, "w.log"), user=user)
        wait_for(lambda: '"redis connected","conn":"reader"' in read(w.log_path) or
                 w.poll() is not None, 15, what="the worker")
        assert w.poll() is None, read(w.log_path)
        assert "private copy" in read(w.log_path)
        w.send_signal(signal.SIGTERM)
        assert w.wait(30 * SLOW) == 0
    finally:
        shutil.rmtree(copy_dir, ignore_errors=True)


def test_gen_key(scratch):
    path = os.path.join(scratch, "secrets", "slate.key")
    r = gen_key(path)
    with open(path) as f:
        text = f.read()
    assert re.fullmatch(r"[0-9a-f]{64}\n", text)
    assert text.strip() not in r.stdout + r.stderr
    st = os.stat(path)
    if IS_ROOT:
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (IMAGE_UID, 0o400)
    else:
        assert st.st_uid == os.getuid() and not st.st_mode & 0o077 or "ACL" in r.stdout
    # Never replaces a key.
    r = subprocess.run([os.path.join(DOCKER, "gen-key.sh"), path], capture_output=True, text=True)
    assert r.returncode == 1 and "not replacing" in r.stderr
    with open(path) as f:
        assert f.read() == text
    other = os.path.join(scratch, "secrets", "other.key")
    gen_key(other)
    with open(other) as f:
        assert f.read() != text
