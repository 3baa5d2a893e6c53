#!/bin/bash
# slate-healthcheck: the image's HEALTHCHECK.  Asks an HTTP endpoint on this
# container for a 200, with nothing but bash (the runtime image has no curl).
#
#   slate-healthcheck [HOST:PORT [PATH]]
#
# Default: the worker's own endpoint, SLATE_METRICS_ADDR (the image sets
# 0.0.0.0:9464), path /healthz.  A wildcard host (0.0.0.0, *, empty) is asked
# on 127.0.0.1 and [::] on ::1.  fake-hetzner's compose healthcheck passes
# "127.0.0.1:8080 /_fake/health".
#
# Exit 0 when the status line is "HTTP/1.x 200", 1 otherwise (refused, wrong
# status, no answer within SLATE_HEALTHCHECK_TIMEOUT_S seconds, default 3).
# Docker reserves exit code 2, so every failure is mapped to 1.
#
# bash, not /bin/sh: /dev/tcp is a bash feature (dash has no such thing).
set -u

if [ -z "${_SLATE_HC_CHILD:-}" ]; then
    # The connect and the read must not hang: run the probe itself under
    # timeout(1) (coreutils, present in debian:bookworm-slim).
    limit=${SLATE_HEALTHCHECK_TIMEOUT_S:-3}
    _SLATE_HC_CHILD=1 timeout -k 1 "$limit" "$BASH" "$0" "$@" && exit 0
    exit 1
fi

addr=${1:-${SLATE_METRICS_ADDR:-127.0.0.1:9464}}
path=${2:-/healthz}
port=${addr##*:}
host=${addr%:*}
[ "$host" = "$addr" ] && host=""        # "9464" alone: a port
host=${host#[}
host=${host%]}
case $host in
    "" | "*" | 0.0.0.0) host=127.0.0.1 ;;
    "::") host=::1 ;;
esac
case $port in
    "" | *[!0-9]*) echo "slate-healthcheck: bad address '$addr'" >&2; exit 1 ;;
esac

{ exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || { echo "slate-healthcheck: $host:$port refused" >&2; exit 1; }
printf 'GET %s HTTP/1.0\r\nHost: %s:%s\r\nUser-Agent: slate-healthcheck\r\nConnection: close\r\n\r\n' \
    "$path" "$host" "$port" >&3 || exit 1
IFS= read -r status <&3 || { echo "slate-healthcheck: no answer from $host:$port" >&2; exit 1; }
status=${status%$'\r'}
case $status in
    "HTTP/1."[01]" 200" | "HTTP/1."[01]" 200 "*) rc=0 ;;
    *) rc=1; echo "slate-healthcheck: $host:$port$path answered '$status'" >&2 ;;
esac
# Read the rest (the server closes after an HTTP/1.0 answer), so that closing
# with unread data does not reset the server's connection; 1 s of silence ends it.
while IFS= read -r -t 1 _ <&3; do :; done
exec 3<&-
exit "$rc"
