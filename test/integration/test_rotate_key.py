"""
Rotating the workers' secret without downtime: workers with the new secret
and the previous one still open old tokens; `slatectl rotate-key`
re-encrypts every stored token; afterwards workers with only the new secret
sync every integration.
"""
import os
import subprocess

from conftest import BUILD, enqueue, wait_result

TOKEN = "R" * 60 + "rota"
PROJECTS = f"project=r token={TOKEN} servers=5 ssh_keys=1 firewalls=1\n"


def key_file(tmp_path, name, hexchar):
    p = tmp_path / name
    p.write_text(hexchar * 64 + "\n")
    os.chmod(p, 0o600)
    return str(p)


def test_rotation_keeps_every_integration_syncing(tmp_path, redis_server, fake_factory, worker_factory):
    r = redis_server.client
    fake = fake_factory(PROJECTS)
    old = key_file(tmp_path, "old.key", "a")
    new = key_file(tmp_path, "new.key", "b")
    w = worker_factory(redis_server.url, fake.url, SLATE_DEV_INSECURE_KEY=0,
                       SLATE_SECRET_KEY_FILE=old)
    for i in ("i1", "i2"):
        enqueue(r, type="connect", workspace="ws", integration=i, token=TOKEN, job_id=f"c-{i}")
        assert wait_result(r, f"c-{i}", timeout=30)["status"] == "succeeded"
    before = {i: r.hget(f"slate:{{ws}}:integration:{i}", "token") for i in ("i1", "i2")}
    assert w.stop() == 0

    # New secret, previous one still accepted: old tokens open.
    w2 = worker_factory(redis_server.url, fake.url, SLATE_DEV_INSECURE_KEY=0,
                        SLATE_SECRET_KEY_FILE=new, SLATE_PREVIOUS_SECRET_KEY_FILE=old)
    enqueue(r, type="sync", workspace="ws", integration="i1", job_id="s1")
    assert wait_result(r, "s1", timeout=30)["status"] == "succeeded"

    env = {k: v for k, v in os.environ.items() if not k.startswith("SLATE_")}
    env.update(SLATE_REDIS_URL=redis_server.url, SLATE_SECRET_KEY_FILE=new)
    p = subprocess.run([os.path.join(BUILD, "slatectl"), "rotate-key", "--old-key-file", old],
                       env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "re-encrypted 2" in p.stdout
    after = {i: r.hget(f"slate:{{ws}}:integration:{i}", "token") for i in ("i1", "i2")}
    assert all(after[i] != before[i] for i in after)
    # Again: nothing left to do.
    p = subprocess.run([os.path.join(BUILD, "slatectl"), "rotate-key", "--old-key-file", old],
                       env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "re-encrypted 0, already current 2" in p.stdout
    assert w2.stop() == 0

    # Only the new secret now: every integration still syncs.
    worker_factory(redis_server.url, fake.url, SLATE_DEV_INSECURE_KEY=0, SLATE_SECRET_KEY_FILE=new)
    for i in ("i1", "i2"):
        enqueue(r, type="sync", workspace="ws", integration=i, job_id=f"s2-{i}")
        assert wait_result(r, f"s2-{i}", timeout=30)["status"] == "succeeded"


def test_old_tokens_do_not_open_without_the_previous_key(tmp_path, redis_server, fake_factory, worker_factory):
    r = redis_server.client
    fake = fake_factory(PROJECTS)
    old = key_file(tmp_path, "old.key", "c")
    new = key_file(tmp_path, "new.key", "d")
    w = worker_factory(redis_server.url, fake.url, SLATE_DEV_INSECURE_KEY=0, SLATE_SECRET_KEY_FILE=old)
    enqueue(r, type="connect", workspace="ws", integration="i1", token=TOKEN, job_id="c")
    assert wait_result(r, "c", timeout=30)["status"] == "succeeded"
    assert w.stop() == 0
    worker_factory(redis_server.url, fake.url, SLATE_DEV_INSECURE_KEY=0, SLATE_SECRET_KEY_FILE=new,
                   SLATE_MAX_ATTEMPTS=1)
    enqueue(r, type="sync", workspace="ws", integration="i1", job_id="s")
    res = wait_result(r, "s", timeout=30)
    assert res["status"] == "dead" and "rotated" in res["error"]
