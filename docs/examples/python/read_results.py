#!/usr/bin/python3
"""Read slate-worker's results through a consumer group, and acknowledge them.

What a web tier's result reader does (docs/web-tier.md):

  * create its own consumer group on <prefix>:{q}:results once
    (XGROUP CREATE ... web $ MKSTREAM; BUSYGROUP means it is already there);
  * at start, re-read what it was given before but did not acknowledge
    (XREADGROUP ... 0): a reader that crashed mid-entry loses nothing;
  * then read new entries (XREADGROUP ... >), handle each one, and only then
    XACK it;
  * recreate the group when Redis answers NOGROUP (Redis lost its data).

Each result is printed as one JSON line: the entry's fields as Redis holds
them (strings; `summary` is a JSON text), plus `entry_id`, `final` (false
only for `retrying`) and `message`, the sentence to show the user.

    ./read_results.py                              # follow every result
    ./read_results.py --until connect-1234 --timeout 120

With --until, it stops at that job's final result: exit status 0 when it
succeeded, 1 when it failed or went dead, 4 when --timeout passed first.
Always: 2 bad arguments, 3 Redis unreachable.

Debian 12: apt-get install python3-redis
"""
import argparse
import json
import os
import sys
import time

import redis

FINAL = ("succeeded", "failed", "dead")

# What to tell the user for each error_code (docs/web-tier.md).
MESSAGES = {
    "invalid_token": "Hetzner did not accept this API token. Create a token with Read "
                     "permission in the Hetzner Cloud Console and paste it again.",
    "forbidden": "This API token may not read the project. Use a token of this project "
                 "with Read permission.",
    "rate_limited": "The Hetzner API rate limit of this project is used up; the sync waits "
                    "until it has refilled.",
    "hetzner_unavailable": "The Hetzner Cloud API is unavailable at the moment.",
    "timeout": "The Hetzner Cloud API did not answer in time.",
    "bad_response": "The Hetzner Cloud API answered with something we could not read. "
                    "Our team has been notified.",
    "invalid_job": "Something went wrong on our side. Our team has been notified.",
    "not_connected": "This Hetzner Cloud integration is not connected. Connect it again.",
    "internal": "Something went wrong on our side. Please try again later.",
}


def connect(url, timeout):
    """A client for redis://, rediss:// or unix:///path?db=N URLs (redis-py's
    unix socket connections take no connect timeout)."""
    if url.startswith("unix:"):
        return redis.Redis.from_url(url, socket_timeout=timeout)
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=10)


def message(res):
    """The sentence for a person.  `error` (the worker's own sentence) is for
    logs and support; it never holds a secret, but it is not written for end
    users."""
    status = res.get("status")
    code = res.get("error_code", "")
    if status == "succeeded":
        return {"connect": "Connected.", "sync": "Synced.", "evaluate": "Tests updated.",
                "disconnect": "Disconnected."}.get(res.get("type"), "Done.")
    text = MESSAGES.get(code, MESSAGES["internal"])
    if status == "retrying":
        return f"Still working: attempt {res.get('attempt', '?')} did not succeed ({text}) " \
               "Trying again."
    if status == "dead":
        return f"{text} We gave up after several attempts; try again later."
    return text


def ensure_group(r, key, group, start):
    try:
        r.xgroup_create(key, group, id=start, mkstream=True)
    except redis.exceptions.ResponseError as e:
        if "BUSYGROUP" not in str(e):
            raise


def handle(entry_id, fields):
    """Your application logic goes here: store the outcome by job_id, update
    the UI.  It must be idempotent: an entry is delivered again if the
    reader stops between handling and XACK."""
    res = {k.decode(): v.decode() for k, v in fields.items()}
    out = dict(res, entry_id=entry_id, final=res.get("status") in FINAL, message=message(res))
    print(json.dumps(out, sort_keys=True), flush=True)
    return res


def main():
    ap = argparse.ArgumentParser(description="Read slate-worker results with a consumer group.")
    ap.add_argument("--redis-url", default=os.environ.get("SLATE_REDIS_URL",
                                                          "redis://127.0.0.1:6379/0"))
    ap.add_argument("--prefix", default=os.environ.get("SLATE_PREFIX", "slate"))
    ap.add_argument("--group", default=os.environ.get("RESULTS_GROUP", "web"))
    ap.add_argument("--consumer", default=os.environ.get("RESULTS_CONSUMER", "web-1"),
                    help="unique per reader process, stable across its restarts")
    ap.add_argument("--group-start", default="$",
                    help="where a new group starts: $ (only new results, default) or 0 "
                         "(everything still in the stream)")
    ap.add_argument("--until", metavar="JOB_ID", default=None,
                    help="stop at this job's final result")
    ap.add_argument("--timeout", type=float, default=None, metavar="S")
    a = ap.parse_args()

    key = f"{a.prefix}:{{q}}:results"
    # Blocking reads need a socket timeout longer than BLOCK.
    r = connect(a.redis_url, 15)
    deadline = time.monotonic() + a.timeout if a.timeout is not None else None
    try:
        ensure_group(r, key, a.group, a.group_start)
        print(f"read_results: reading {key} as {a.group}/{a.consumer}", file=sys.stderr,
              flush=True)
        cursor = "0"  # first our own unacknowledged entries, then new ones
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                print(f"read_results: no final result for {a.until} in time" if a.until
                      else "read_results: --timeout reached", file=sys.stderr)
                return 4
            try:
                reply = r.xreadgroup(a.group, a.consumer, {key: cursor}, count=100,
                                     block=None if cursor == "0" else 2000)
            except redis.exceptions.ResponseError as e:
                if "NOGROUP" in str(e):  # Redis restarted without its data
                    ensure_group(r, key, a.group, a.group_start)
                    continue
                raise
            entries = reply[0][1] if reply else []
            if cursor == "0" and not entries:
                cursor = ">"  # the backlog of our own pending entries is done
                continue
            for raw_id, fields in entries:
                entry_id = raw_id.decode()
                res = handle(entry_id, fields) if fields else None
                # Acknowledge only after handling.  (An entry trimmed away by
                # MAXLEN comes back with no fields: acknowledge it too.)
                r.xack(key, a.group, entry_id)
                if (a.until and res and res.get("job_id") == a.until
                        and res.get("status") in FINAL):
                    return 0 if res["status"] == "succeeded" else 1
    except redis.exceptions.ConnectionError as e:
        print(f"read_results: Redis is not reachable: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
