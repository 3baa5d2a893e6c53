#!/usr/bin/python3
"""Seal a Hetzner Cloud API token and enqueue a `connect` job for slate-worker.

What a web tier does when a user pastes a token (docs/web-tier.md):

  1. seal the token to the workers' public key (`slatectl public-key`) with
     crypto_box_seal, and base64 it (standard alphabet, with padding);
  2. XADD one entry to <prefix>:{q}:jobs with type, workspace, integration,
     a job_id of its own and token_sealed;
  3. remember the job_id, and read its result from <prefix>:{q}:results
     (read_results.py).

The plain token never reaches Redis, a log line or the command line: this
script reads it from standard input (or --token-file) and drops it as soon as
it is sealed.

    slatectl public-key                  # once; give the output to the web tier
    export SLATE_PUBLIC_KEY=4DZtO8N2KwORe3PLUQ0UEUTf9skQiGElCMk5h6RYvkU=
    printf '%s' "$TOKEN" | ./enqueue_connect.py acme hz-prod
    ./enqueue_connect.py --token-file ~/hetzner.token acme hz-prod

Prints the job id on stdout.  Exit status 0 when the job was enqueued, 2 on
bad input (ids, token, key), 3 when Redis could not be reached.

Debian 12: apt-get install python3-redis python3-nacl
"""
import argparse
import base64
import binascii
import os
import re
import sys
import uuid

import redis
from nacl.public import PublicKey, SealedBox

# The contract's identifiers (docs/protocol.md): anything else is an
# invalid_job, so check before enqueueing and tell the user at once.
ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
JOB_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
PREFIX_RE = re.compile(r"[A-Za-z0-9_.-]{1,32}")


def connect(url, timeout):
    """A client for redis://, rediss:// or unix:///path?db=N URLs (redis-py's
    unix socket connections take no connect timeout)."""
    if url.startswith("unix:"):
        return redis.Redis.from_url(url, socket_timeout=timeout)
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=10)


def read_token(path):
    """The token from a file ('-': standard input): one line, one trailing
    newline allowed.  Returns bytes."""
    if path == "-":
        data = sys.stdin.buffer.read(4096)
    else:
        with open(path, "rb") as f:
            data = f.read(4096)
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    return data


def token_looks_valid(token):
    """The worker's own rule: 1-256 bytes of printable ASCII without spaces.
    Anything else ends as invalid_token without a request to Hetzner, so a
    web tier can say so before enqueueing."""
    return 0 < len(token) <= 256 and all(0x21 <= c <= 0x7E for c in token)


def seal_token(token, public_key_b64):
    """base64(crypto_box_seal(token, public key)): the job's token_sealed."""
    pk = base64.b64decode(public_key_b64, validate=True)
    if len(pk) != 32:
        raise ValueError("the public key must be 32 bytes (44 base64 characters)")
    return base64.b64encode(SealedBox(PublicKey(pk)).encrypt(token)).decode("ascii")


def enqueue(r, prefix, job_type, workspace, integration, job_id, token_sealed=None):
    """One XADD with flat fields; returns the stream entry id.  Works for all
    four job types: only a connect carries token_sealed."""
    fields = {"type": job_type, "workspace": workspace, "integration": integration,
              "job_id": job_id}
    if token_sealed is not None:
        fields["token_sealed"] = token_sealed
    return r.xadd(f"{prefix}:{{q}}:jobs", fields).decode()


def main():
    ap = argparse.ArgumentParser(description="Seal a Hetzner API token and enqueue a connect job.")
    ap.add_argument("workspace")
    ap.add_argument("integration")
    ap.add_argument("--redis-url", default=os.environ.get("SLATE_REDIS_URL",
                                                          "redis://127.0.0.1:6379/0"))
    ap.add_argument("--prefix", default=os.environ.get("SLATE_PREFIX", "slate"))
    ap.add_argument("--public-key", default=os.environ.get("SLATE_PUBLIC_KEY"),
                    help="base64 output of `slatectl public-key` (env SLATE_PUBLIC_KEY)")
    ap.add_argument("--job-id", default=None,
                    help="your idempotency key (default: connect-<random uuid>)")
    ap.add_argument("--token-file", default="-",
                    help="file holding the token; '-' (default) reads standard input")
    a = ap.parse_args()

    if not PREFIX_RE.fullmatch(a.prefix):
        print("enqueue_connect: the prefix must match [A-Za-z0-9_.-]{1,32}", file=sys.stderr)
        return 2
    for what, v in (("workspace", a.workspace), ("integration", a.integration)):
        if not ID_RE.fullmatch(v):
            print(f"enqueue_connect: the {what} id must match [A-Za-z0-9_.-]{{1,64}}",
                  file=sys.stderr)
            return 2
    job_id = a.job_id or f"connect-{uuid.uuid4()}"
    if not JOB_ID_RE.fullmatch(job_id):
        print("enqueue_connect: the job id must match [A-Za-z0-9_.:-]{1,128}", file=sys.stderr)
        return 2
    if not a.public_key:
        print("enqueue_connect: no public key: set SLATE_PUBLIC_KEY or --public-key to the "
              "output of `slatectl public-key`", file=sys.stderr)
        return 2

    token = read_token(a.token_file)
    if not token_looks_valid(token):
        # What the worker would answer anyway (error_code invalid_token).
        print("enqueue_connect: Invalid API token (1-256 printable characters, no spaces)",
              file=sys.stderr)
        return 2
    try:
        sealed = seal_token(token, a.public_key)
    except (ValueError, binascii.Error) as e:
        print(f"enqueue_connect: bad public key: {e}", file=sys.stderr)
        return 2
    del token  # only the sealed form goes any further

    r = connect(a.redis_url, 10)
    try:
        entry = enqueue(r, a.prefix, "connect", a.workspace, a.integration, job_id, sealed)
    except redis.exceptions.ConnectionError as e:
        print(f"enqueue_connect: Redis is not reachable: {e}", file=sys.stderr)
        return 3
    except redis.exceptions.ResponseError as e:
        # e.g. OOM under maxmemory-policy noeviction: nothing was enqueued.
        print(f"enqueue_connect: Redis refused the job: {e}", file=sys.stderr)
        return 3
    print(job_id)
    print(f"enqueue_connect: enqueued connect {a.workspace}/{a.integration} "
          f"job_id={job_id} entry={entry}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
