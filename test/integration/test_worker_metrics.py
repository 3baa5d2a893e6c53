"""
The worker's own HTTP endpoint: /metrics parsed by a strict Prometheus
text-format parser and checked against the jobs the test ran; /healthz;
/readyz failing while Redis is down and recovering after.
"""
import json
import re
import urllib.error
import urllib.request

from conftest import RedisServer, enqueue, wait_for, wait_result
from promparse import parse

TOKEN = "M" * 60 + "mtrc"
PROJECTS = f"project=m token={TOKEN} servers=60 ssh_keys=2 firewalls=2 bind=direct rules=mixed\n"


def port_of(w):
    def find():
        for line in w.log_lines():
            if line.get("msg") == "metrics and health endpoint listening":
                return int(line["port"])
        return None
    return wait_for(find, 10, what="metrics port in the log")


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def sample(fams, family, name=None, **labels):
    for n, l, v in fams[family]["samples"]:
        if (name is None or n == name) and all(l.get(k) == val for k, val in labels.items()):
            return v
    return None


def test_metrics_count_the_jobs_run(redis_server, fake_factory, worker_factory):
    fake = fake_factory(PROJECTS)
    r = redis_server.client
    w = worker_factory(redis_server.url, fake.url)
    port = port_of(w)
    assert get(port, "/healthz")[0] == 200
    enqueue(r, type="connect", workspace="ws", integration="a", token=TOKEN, job_id="c1")
    enqueue(r, type="evaluate", workspace="ws", integration="nope", job_id="e1")
    enqueue(r, type="sync", workspace="ws", integration="x{y}", job_id="bad")
    for j in ("c1", "e1", "bad"):
        wait_result(r, j, timeout=30)
    status, text = get(port, "/metrics")
    assert status == 200
    fams = parse(text)
    assert sample(fams, "slate_jobs_total", type="connect", status="succeeded") == 1
    assert sample(fams, "slate_jobs_total", type="evaluate", status="failed") == 1
    assert sample(fams, "slate_jobs_total", type="sync", status="failed") == 1
    # The plain-token connect was resealed: one entry re-enqueued, no result for it.
    total = sum(v for n, l, v in fams["slate_jobs_total"]["samples"])
    assert total == 3
    assert sample(fams, "slate_job_duration_seconds", "slate_job_duration_seconds_count",
                  type="connect", status="succeeded") == 1
    # Two pages of servers, one of keys, one of firewalls: 4 requests, all 200.
    assert sample(fams, "slate_api_requests_total", code="200") == 4
    assert sample(fams, "slate_api_request_duration_seconds",
                  "slate_api_request_duration_seconds_count") == 4
    assert sample(fams, "slate_api_ratelimit_remaining", integration="ws/a") is not None
    assert sample(fams, "slate_jobs_in_flight") == 0
    assert fams["slate_jobs_total"]["type"] == "counter"
    assert fams["slate_job_duration_seconds"]["type"] == "histogram"


def test_readyz_follows_redis(tmp_path, worker_factory):
    srv = RedisServer(str(tmp_path))
    w = worker_factory(srv.url)
    port = port_of(w)
    wait_for(lambda: get(port, "/readyz")[0] == 200, 10, what="ready")
    srv.kill()
    code, body = wait_for(lambda: (lambda c: c if c[0] == 503 else None)(get(port, "/readyz")),
                          10, what="not ready")
    assert "Redis" in body
    assert get(port, "/healthz")[0] == 200  # the loop still answers
    srv.start()
    wait_for(lambda: get(port, "/readyz")[0] == 200, 30, what="ready again")
    fams = parse(get(port, "/metrics")[1])
    assert sample(fams, "slate_redis_reconnects_total", connection="commands") >= 1
    srv.kill()


def test_unknown_paths_and_methods(redis_server, worker_factory):
    w = worker_factory(redis_server.url)
    port = port_of(w)
    assert get(port, "/nope")[0] == 404
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", data=b"x", method="POST")
    try:
        urllib.request.urlopen(req, timeout=5)
        assert False, "POST accepted"
    except urllib.error.HTTPError as e:
        assert e.code == 405
