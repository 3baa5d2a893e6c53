#!/bin/sh
# The compose demo's one-shot: connects the fake's sample project (see
# demo.projects) the way a person or a script would, with redis-cli only,
# waits for the job's final result and prints it with what the worker stored.
# Runs in the redis image (POSIX sh + redis-cli); needs nothing else.
#
#   SLATE_REDIS_URL   redis://redis:6379/0 in compose
#   SLATE_PREFIX      key prefix (default slate)
#   DEMO_WORKSPACE, DEMO_INTEGRATION, DEMO_TOKEN, DEMO_TIMEOUT_S
#
# Exit status 0 when the connect succeeded, 1 otherwise.  The token is the
# fake's (demo.projects), not a secret; it is sent in plain text (the worker
# seals it at once) and never printed.
set -eu

url=${SLATE_REDIS_URL:-redis://127.0.0.1:6379/0}
p=${SLATE_PREFIX:-slate}
ws=${DEMO_WORKSPACE:-demo-ws}
integ=${DEMO_INTEGRATION:-hz-demo}
token=${DEMO_TOKEN:-demo0demo0demo0demo0demo0demo0demo0demo0demo0demo0demo0demo0demo}
limit=${DEMO_TIMEOUT_S:-120}
job="demo-connect-$(date +%s)-$$"

rc() { redis-cli --no-auth-warning -u "$url" "$@"; }

i=0
until [ "$(rc ping 2>/dev/null)" = PONG ]; do
    i=$((i + 1))
    if [ "$i" -gt "$limit" ]; then echo "demo: Redis at $url does not answer" >&2; exit 1; fi
    sleep 1
done

# The web tier's members: one active person, so that owners can be judged.
rc SADD "$p:{$ws}:members" jane.doe >/dev/null
echo "demo: enqueueing connect workspace=$ws integration=$integ job_id=$job"
rc XADD "$p:{q}:jobs" '*' type connect workspace "$ws" integration "$integ" \
    job_id "$job" token "$token" >/dev/null

# The job's final result (not "retrying"), as field/value lines, or nothing.
find_result='
local es = redis.call("XREVRANGE", KEYS[1], "+", "-", "COUNT", 2000)
for _, e in ipairs(es) do
  local f, job, st = e[2], nil, nil
  for i = 1, #f, 2 do
    if f[i] == "job_id" then job = f[i + 1] elseif f[i] == "status" then st = f[i + 1] end
  end
  if job == ARGV[1] and (st == "succeeded" or st == "failed" or st == "dead") then return f end
end
return {}'

deadline=$(($(date +%s) + limit))
out=""
while [ -z "$out" ]; do
    out=$(rc --raw EVAL "$find_result" 1 "$p:{q}:results" "$job") || {
        echo "demo: reading the results failed: $out" >&2
        exit 1
    }
    [ -n "$out" ] && break
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "demo: no final result for $job within ${limit}s (are the workers running?" \
             "docker compose logs worker)" >&2
        exit 1
    fi
    sleep 0.5
done

echo "demo: result of $job:"
printf '%s\n' "$out" | awk 'NR % 2 == 1 { k = $0; next } { printf "  %-12s %s\n", k, $0 }'
status=$(printf '%s\n' "$out" | awk 'NR % 2 == 1 { k = $0; next } k == "status" { print; exit }')

# The integration as stored (the encrypted token field left out).
show_integration='
local h, out = redis.call("HGETALL", KEYS[1]), {}
for i = 1, #h, 2 do
  if h[i] ~= "token" then out[#out + 1] = h[i] .. ": " .. h[i + 1] end
end
return out'
echo "demo: integration $ws/$integ:"
rc --raw EVAL "$show_integration" 1 "$p:{$ws}:integration:$integ" | sed 's/^/  /'

show_tests='
local h, out = redis.call("HGETALL", KEYS[1]), {}
for i = 1, #h, 2 do
  local t = cjson.decode(h[i + 1])
  out[#out + 1] = string.format("%-30s %-14s %s", h[i], tostring(t.status), tostring(t.title))
end
table.sort(out)
return out'
echo "demo: automated tests:"
rc --raw EVAL "$show_tests" 1 "$p:{$ws}:integration:$integ:tests" | sed 's/^/  /'
echo "demo: assets in the inventory: $(rc --raw SCARD "$p:{$ws}:integration:$integ:assets")"

if [ "$status" = succeeded ]; then
    echo "demo: connect succeeded"
    exit 0
fi
echo "demo: connect did not succeed ($status)" >&2
exit 1
