"""
Security properties, end to end:

- a plaintext token reaches Redis only in the entry a person enqueued (and
  that entry is gone at once): never in a value the worker writes (every
  key, streams included, and every command the worker sends, seen through
  MONITOR), a log line, a result or a dead entry, along the connect, sync,
  retry, failure and dead paths;
- a token with CR, LF or any byte outside 0x21-0x7e never reaches the API,
  whether it comes plain, sealed, or stored (at rest) in Redis;
- plain http:// to a host that is not loopback is refused at start (exit 2)
  before any connection is made, however the URL dresses the host up;
- TLS to the API is verified: a certificate from an unknown CA, or for
  another host, is refused; SLATE_CA_FILE makes the same server accepted;
- redirects from the API are never followed.
"""
import base64
import http.server
import json
import os
import select
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import BUILD, SLOW, all_redis_bytes, enqueue, results, wait_result

TOKEN = "S3cr3tT0k3n" + "q" * 49 + "zz9x"        # 64 printable characters
TOKEN2 = "G" * 30 + "globexSecret" + "h" * 18 + "h4wk"
TOKEN3 = "I" * 60 + "init"
PROJECTS = f"""
project=acme token={TOKEN} servers=60 ssh_keys=2 firewalls=2
project=globex token={TOKEN2} servers=10 ssh_keys=1 firewalls=1
project=initech token={TOKEN3} servers=3 ssh_keys=1 firewalls=1
"""
DEV_PUBLIC_KEY = "4DZtO8N2KwORe3PLUQ0UEUTf9skQiGElCMk5h6RYvkU="
FAST = dict(SLATE_VISIBILITY_TIMEOUT_MS=1500 * SLOW, SLATE_RETRY_BASE_MS=100,
            SLATE_SYNC_INTERVAL_S=0, SLATE_METRICS_ADDR="off")


def seal(token):
    nacl_public = pytest.importorskip("nacl.public")
    pk = nacl_public.PublicKey(base64.b64decode(DEV_PUBLIC_KEY))
    data = token if isinstance(token, bytes) else token.encode()
    return base64.b64encode(nacl_public.SealedBox(pk).encrypt(data)).decode()


def forms(token):
    """The token as it could leak: plain, base64, hex."""
    b = token.encode()
    return [b, base64.b64encode(b), b.hex().encode(), base64.urlsafe_b64encode(b)]


class Monitor:
    """Every command Redis runs, from a MONITOR connection."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(b"MONITOR\r\n")
        self.buf = bytearray()
        self.stop = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop:
            r, _, _ = select.select([self.sock], [], [], 0.1)
            if r:
                b = self.sock.recv(1 << 16)
                if not b:
                    return
                self.buf += b

    def lines(self):
        self.stop = True
        self.t.join(2)
        self.sock.close()
        return bytes(self.buf).split(b"\r\n")


def test_plaintext_token_is_nowhere(redis_server, fake_factory, worker_factory):
    r = redis_server.client
    fake = fake_factory(PROJECTS)
    mon = Monitor(redis_server.port)
    w = worker_factory(redis_server.url, fake.url,
                       **dict(FAST, SLATE_MAX_ATTEMPTS=2, SLATE_HTTP_RETRIES=0))
    sealed2 = seal(TOKEN2)

    # connect (plain token: re-sealed by the worker), sync, evaluate
    enqueue(r, type="connect", workspace="acme", integration="hz", token=TOKEN, job_id="c1")
    assert wait_result(r, "c1", timeout=30)["status"] == "succeeded"
    enqueue(r, type="sync", workspace="acme", integration="hz", job_id="s1")
    assert wait_result(r, "s1", timeout=30)["status"] == "succeeded"
    # a sync that is retried once
    fake.admin("acme", fail="503:1")
    enqueue(r, type="sync", workspace="acme", integration="hz", job_id="s2")
    assert wait_result(r, "s2", timeout=30)["status"] == "succeeded"
    assert [x["status"] for x in results(r) if x["job_id"] == "s2"] == ["retrying", "succeeded"]
    # a sync that dies: its record is marked, the retry carried nothing secret
    fake.admin("acme", fail="503:100")
    enqueue(r, type="sync", workspace="acme", integration="hz", job_id="s3")
    assert wait_result(r, "s3", timeout=30)["status"] == "dead"
    fake.admin("acme", fail="none")
    # a sealed connect that is retried, then dies (the retry carries
    # token_sealed through the delayed set; the dead entry must not)
    fake.admin("globex", fail="503:100")
    enqueue(r, type="connect", workspace="globex", integration="g", token_sealed=sealed2,
            job_id="c2")
    assert wait_result(r, "c2", timeout=30)["status"] == "dead"
    fake.admin("globex", fail="none")
    # a plain connect with a revoked token (401): failed, nothing stored
    fake.admin("initech", fail="401:3")
    enqueue(r, type="connect", workspace="initech", integration="i", token=TOKEN3, job_id="c3")
    assert wait_result(r, "c3", timeout=30)["error_code"] == "invalid_token"
    # the sealed connect again, now accepted; then disconnected
    enqueue(r, type="connect", workspace="globex", integration="g", token_sealed=sealed2,
            job_id="c4")
    assert wait_result(r, "c4", timeout=30)["status"] == "succeeded"
    enqueue(r, type="evaluate", workspace="globex", integration="g", job_id="e4")
    assert wait_result(r, "e4", timeout=30)["status"] == "succeeded"
    enqueue(r, type="disconnect", workspace="globex", integration="g", job_id="d4")
    assert wait_result(r, "d4", timeout=30)["status"] == "succeeded"
    # a token field on a job that may not carry one: deleted at once
    enqueue(r, type="sync", workspace="acme", integration="hz", token=TOKEN, job_id="bad")
    assert wait_result(r, "bad", timeout=30)["error_code"] == "invalid_job"
    time.sleep(1.0)  # a heartbeat or two
    assert w.stop() == 0
    cmds = mon.lines()

    # Redis: nothing anywhere, streams included.
    everything = all_redis_bytes(r)
    for tok in (TOKEN, TOKEN2, TOKEN3):
        for f in forms(tok):
            assert f not in everything, f"a form of a token is in Redis: {f[:12]!r}..."
    # The stored token is ciphertext.
    stored = r.hget("slate:{acme}:integration:hz", "token")
    assert stored and TOKEN.encode() not in stored
    # Results and dead entries: no token field, no token, no sealed token.
    for entry_id, fields in r.xrange("slate:{q}:results") + r.xrange("slate:{q}:dead"):
        names = set(k.decode() for k in fields)
        assert not names & {"token", "token_sealed"}, (entry_id, names)
        blob = b" ".join(fields.values())
        assert sealed2.encode() not in blob
    assert r.xlen("slate:{q}:jobs") == 0 and r.zcard("slate:{q}:delayed") == 0
    dead = [{k.decode(): v.decode() for k, v in f.items()} for _i, f in r.xrange("slate:{q}:dead")]
    assert sorted(d["job_id"] for d in dead) == ["c2", "s3"]

    # Every command the worker sent: the plaintext never.  The only commands
    # holding a plaintext token are the test's own XADDs.
    ours = [b'"type" "connect" "workspace" "acme" "integration" "hz" "token" "' + TOKEN.encode(),
            b'"type" "connect" "workspace" "initech" "integration" "i" "token" "' + TOKEN3.encode(),
            b'"type" "sync" "workspace" "acme" "integration" "hz" "token" "' + TOKEN.encode()]
    assert len(cmds) > 100
    for line in cmds:
        if any(o in line for o in ours):
            assert line.count(b'"XADD"') == 1
            continue
        for tok in (TOKEN, TOKEN2, TOKEN3):
            for f in forms(tok):
                assert f not in line, f"the worker sent a token to Redis: {line[:200]!r}"

    # The log: debug level, every line.
    log = w.log()
    assert "c2" in log and "s3" in log
    for tok in (TOKEN, TOKEN2, TOKEN3):
        for f in forms(tok):
            assert f.decode() not in log
    assert sealed2 not in log


BAD_TOKENS = [
    TOKEN[:30] + "\r\nX-Injected: 1",
    TOKEN + "\n",
    TOKEN[:32] + "\n" + TOKEN[32:],
    TOKEN + "\r",
    "\r\n" + TOKEN,
    TOKEN[:20] + "\x00" + TOKEN[20:],
    TOKEN[:20] + " " + TOKEN[20:],
    TOKEN[:20] + "\t" + TOKEN[20:],
    TOKEN + "\x7f",
    TOKEN[:20] + "\u00e9" + TOKEN[20:],
    "Bearer " + TOKEN,
    "A" * 257,
]


def test_token_with_crlf_never_reaches_the_api(redis_server, fake_factory, worker_factory):
    r = redis_server.client
    fake = fake_factory(PROJECTS)
    w = worker_factory(redis_server.url, fake.url, **FAST)
    # Sealed, as a web tier sends them (the plain path is in test_hetzner).
    for i, tok in enumerate(BAD_TOKENS):
        enqueue(r, type="connect", workspace="acme", integration=f"x{i}",
                token_sealed=seal(tok.encode()), job_id=f"sealed-{i}")
    for i, _tok in enumerate(BAD_TOKENS):
        res = wait_result(r, f"sealed-{i}", timeout=30)
        assert res["status"] == "failed" and res["error_code"] == "invalid_token", res
    # Plain, with a byte Redis keeps but C strings do not.
    enqueue(r, type="connect", workspace="acme", integration="nul", token=TOKEN + "\x00\r\nX: 1",
            job_id="plain-nul")
    res = wait_result(r, "plain-nul", timeout=30)
    assert res["status"] == "failed" and res["error_code"] == "invalid_token", res
    assert fake.requests() == []
    assert [k for k in r.scan_iter("slate:{acme}:*")] == []
    log = w.log()
    assert "X-Injected" not in log and TOKEN not in log


def test_stored_token_with_crlf_is_never_sent(redis_server, fake_factory, worker_factory):
    """A token at rest that is not a token (a tampered or corrupted record):
    a sync must not put it into a header."""
    r = redis_server.client
    fake = fake_factory(PROJECTS)
    worker_factory(redis_server.url, fake.url, **FAST)
    enqueue(r, type="connect", workspace="acme", integration="hz", token=TOKEN, job_id="c")
    assert wait_result(r, "c", timeout=30)["status"] == "succeeded"
    n = len(fake.requests())
    bad = TOKEN[:30] + "\r\nX-Injected: 1\r\n"
    p = subprocess.run([os.path.join(BUILD, "test", "sealtool"), "encrypt", "--dev", "acme", "hz"],
                       input=bad.encode(), capture_output=True, timeout=10)
    assert p.returncode == 0, p.stderr
    r.hset("slate:{acme}:integration:hz", "token", p.stdout)
    enqueue(r, type="sync", workspace="acme", integration="hz", job_id="s")
    res = wait_result(r, "s", timeout=30)
    assert res["status"] != "succeeded", res
    assert fake.requests()[n:] == []


# ---- plain http to a host that is not loopback ----

REFUSED_URLS = [
    "http://10.1.2.3/v1",
    "http://api.hetzner.cloud/v1",
    "http://127.0.0.1.nip.io/v1",
    "http://localhost.evil.example/v1",
    "http://127.0.0.1@evil.example/v1",
    "http://evil.example/127.0.0.1/v1",
    "http://evil.example#@127.0.0.1/v1",
    "http://[::ffff:10.0.0.1]/v1",
    "http://0.0.0.0/v1",
    "HTTP://10.1.2.3/v1",
    "ftp://127.0.0.1/v1",
    "file:///etc/passwd",
    "gopher://127.0.0.1:70/",
    "127.0.0.1/v1",
    "https://",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_plain_http_to_a_remote_host_is_refused_at_start(url, tmp_path):
    # A "Redis" that records connections: nothing may reach it either.
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    port = lsock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLATE_")}
    env.update(SLATE_DEV_INSECURE_KEY="1", SLATE_REDIS_URL=f"redis://127.0.0.1:{port}/0",
               SLATE_HETZNER_URL=url, SLATE_METRICS_ADDR="off")
    try:
        p = subprocess.run([os.path.join(BUILD, "slate-worker")], env=env, capture_output=True,
                           text=True, timeout=20 * SLOW)
        assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
        assert "SLATE_HETZNER_URL" in p.stderr
        ready, _, _ = select.select([lsock], [], [], 0.2)
        assert not ready, "the worker connected somewhere before refusing its configuration"
    finally:
        lsock.close()


@pytest.mark.parametrize("url,extra", [
    ("http://127.0.0.1:9/v1", {}),
    ("http://127.3.4.5:9/v1", {}),
    ("http://localhost:9/v1", {}),
    ("http://[::1]:9/v1", {}),
    ("http://10.1.2.3:9/v1", {"SLATE_HETZNER_INSECURE_HTTP": "1"}),
])
def test_loopback_or_explicitly_insecure_http_is_accepted(url, extra, redis_server,
                                                          worker_factory):
    w = worker_factory(redis_server.url, url, **dict(FAST, **extra))
    w.wait_log("worker started")
    assert w.proc.poll() is None


# ---- TLS ----

def _openssl(*args, cwd):
    p = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA nobody trusts, a server certificate for 127.0.0.1 and localhost
    signed by it, and one for another host, signed by it too."""
    if subprocess.run(["which", "openssl"], capture_output=True).returncode != 0:
        pytest.fail("openssl is missing (apt-get install openssl)")
    d = str(tmp_path_factory.mktemp("pki"))
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.pem", "-days", "2", "-subj", "/CN=slate test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    for name, san in (("server", "IP:127.0.0.1,DNS:localhost"), ("other", "DNS:other.example")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                 f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        with open(os.path.join(d, f"{name}.ext"), "w") as f:
            f.write(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile",
                 f"{name}.ext", cwd=d)
    return d


class ApiServer:
    """An API front on loopback: HTTPS (with the given certificate) or plain
    HTTP, forwarding to the fake, or answering every request with `reply`."""

    def __init__(self, fake=None, cert=None, key=None, reply=None):
        outer = self
        self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.requests.append((self.path, dict(self.headers)))
                if reply:
                    status, headers, body = reply(self.path)
                else:
                    req = urllib.request.Request(f"http://127.0.0.1:{fake.port}{self.path}",
                                                 headers={"Authorization":
                                                          self.headers.get("Authorization", "")})
                    try:
                        resp = urllib.request.urlopen(req, timeout=10)
                    except urllib.error.HTTPError as e:
                        resp = e
                    status = resp.status if hasattr(resp, "status") else resp.code
                    body = resp.read()
                    headers = {k: v for k, v in resp.headers.items()
                               if k.lower().startswith("ratelimit") or k.lower() in
                               ("content-type", "x-correlation-id")}
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # clients that hang up (cancelled transfers) are normal here

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def api_servers():
    made = []

    def make(**kw):
        s = ApiServer(**kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def test_tls_unknown_ca_refused_then_accepted_with_ca_file(pki, redis_server, fake_factory,
                                                           worker_factory, api_servers):
    r = redis_server.client
    fake = fake_factory(PROJECTS)
    front = api_servers(fake=fake, cert=os.path.join(pki, "server.pem"),
                        key=os.path.join(pki, "server.key"))
    env = dict(FAST, SLATE_MAX_ATTEMPTS=1, SLATE_HTTP_RETRIES=0)
    url = f"https://127.0.0.1:{front.port}/v1"

    w = worker_factory(redis_server.url, url, **env)
    enqueue(r, type="connect", workspace="acme", integration="hz", token=TOKEN, job_id="untrusted")
    res = wait_result(r, "untrusted", timeout=30)
    assert res["status"] in ("failed", "dead"), res
    assert "TLS" in res["error"] or "certificate" in res["error"].lower(), res
    assert front.requests == [], "a request was sent over an unverified connection"
    assert fake.requests() == []
    assert not r.exists("slate:{acme}:integration:hz")
    assert w.stop() == 0

    w2 = worker_factory(redis_server.url, url, SLATE_CA_FILE=os.path.join(pki, "ca.pem"), **env)
    enqueue(r, type="connect", workspace="acme", integration="hz", token=TOKEN, job_id="trusted")
    res = wait_result(r, "trusted", timeout=30)
    assert res["status"] == "succeeded", res
    assert json.loads(res["summary"])["servers"] == 60
    assert len(front.requests) == 4
    assert all(h.get("Authorization") == f"Bearer {TOKEN}" for _p, h in front.requests)
    # localhost is in the certificate too.
    w2.stop()
    w3 = worker_factory(redis_server.url, f"https://localhost:{front.port}/v1",
                        SLATE_CA_FILE=os.path.join(pki, "ca.pem"), **env)
    enqueue(r, type="sync", workspace="acme", integration="hz", job_id="by-name")
    assert wait_result(r, "by-name", timeout=30)["status"] == "succeeded"
    assert w3.proc.poll() is None


def test_tls_certificate_for_another_host_refused(pki, redis_server, fake_factory,
                                                  worker_factory, api_servers):
    r = redis_server.client
    fake = fake_factory(PROJECTS)
    front = api_servers(fake=fake, cert=os.path.join(pki, "other.pem"),
                        key=os.path.join(pki, "other.key"))
    worker_factory(redis_server.url, f"https://127.0.0.1:{front.port}/v1",
                   SLATE_CA_FILE=os.path.join(pki, "ca.pem"),
                   **dict(FAST, SLATE_MAX_ATTEMPTS=1, SLATE_HTTP_RETRIES=0))
    enqueue(r, type="connect", workspace="acme", integration="hz", token=TOKEN, job_id="wrong-host")
    res = wait_result(r, "wrong-host", timeout=30)
    assert res["status"] in ("failed", "dead"), res
    assert front.requests == [] and fake.requests() == []


def test_plain_http_server_behind_an_https_url_is_refused(redis_server, fake_factory,
                                                          worker_factory, api_servers):
    """https:// to a server that answers in clear text: no downgrade."""
    r = redis_server.client
    fake = fake_factory(PROJECTS)
    plain = api_servers(fake=fake)
    worker_factory(redis_server.url, f"https://127.0.0.1:{plain.port}/v1",
                   **dict(FAST, SLATE_MAX_ATTEMPTS=1, SLATE_HTTP_RETRIES=0))
    enqueue(r, type="connect", workspace="acme", integration="hz", token=TOKEN, job_id="clear")
    res = wait_result(r, "clear", timeout=30)
    assert res["status"] in ("failed", "dead"), res
    assert fake.requests() == []


# ---- redirects ----

def test_redirects_are_not_followed(redis_server, worker_factory, api_servers):
    r = redis_server.client
    evil = api_servers(reply=lambda path: (200, {"Content-Type": "application/json"},
                                           b'{"servers":[],"meta":{"pagination":{"page":1,'
                                           b'"per_page":50,"previous_page":null,"next_page":null,'
                                           b'"last_page":1,"total_entries":0}}}'))
    code = {"v": 302}

    def redirect(path):
        return (code["v"], {"Location": f"http://127.0.0.1:{evil.port}{path}",
                            "Content-Type": "application/json", "RateLimit-Limit": "3600",
                            "RateLimit-Remaining": "3599", "RateLimit-Reset": "1"},
                b'{"error":{"code":"moved","message":"moved","details":null}}')

    front = api_servers(reply=redirect)
    w = worker_factory(redis_server.url, f"http://127.0.0.1:{front.port}/v1", **FAST)
    for c in (301, 302, 303, 307, 308):
        code["v"] = c
        enqueue(r, type="connect", workspace="acme", integration=f"r{c}", token=TOKEN,
                job_id=f"redirect-{c}")
        res = wait_result(r, f"redirect-{c}", timeout=30)
        assert res["status"] == "failed" and res["error_code"] == "bad_response", res
        assert res["attempt"] == "1"
        assert "redirect" in res["error"], res
    time.sleep(0.5)
    assert evil.requests == [], "a redirect was followed"
    # Not retried, inside the attempt or after it.
    per_job = len(front.requests) / 5
    assert per_job <= 3, front.requests
    assert [x["status"] for x in results(r)].count("retrying") == 0
    assert not [k for k in r.scan_iter("slate:{acme}:*")]
    assert w.proc.poll() is None
