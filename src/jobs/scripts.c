/*
 * scripts.c: every Lua script slate-worker runs in Redis.
 *
 * Queue scripts touch only {q} keys and store scripts only {W} keys, so each
 * stays inside one Redis Cluster slot.  Every store script is fenced: it
 * writes nothing unless the integration's generation (bumped by each
 * disconnect) is still the one the job read when it began, so no job that
 * began before a disconnect can write after it.
 */
#include "scripts.h"

/* Owner-checked finish of an attempt: result + (retry | dead | reseal) + ack
 * + delete, in one step, only while the entry is still pending for us.
 * When it is not, the result is still written if the queue's epoch changed
 * since the job was read: Redis lost its data (a restart without
 * persistence), so nobody else can hold the job, and the result computed
 * meanwhile must not be lost.
 * KEYS: jobs, results, delayed, dead, epoch.
 * ARGV: group, consumer, entry id, results maxlen, action, nres, epoch,
 * result field/values..., then per action: retry: due_ms, member; dead:
 * maxlen, ndead, fields...; reseal: nnew, fields...
 * Returns 1, 2 (written after a data loss), or 0 when the entry is no
 * longer ours. */
const char slate_lua_finish[] =
    "local ret = 1\n"
    "local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)\n"
    "if #p == 0 or p[1][2] ~= ARGV[2] then\n"
    "  if redis.call('GET', KEYS[5]) == ARGV[7] then return 0 end\n"
    "  ret = 2\n"
    "end\n"
    "local nres = tonumber(ARGV[6])\n"
    "local i = 8 + nres\n"
    "if nres > 0 then\n"
    "  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', unpack(ARGV, 8, 7 + nres))\n"
    "end\n"
    "local action = ARGV[5]\n"
    "if action == 'retry' then\n"
    "  redis.call('ZADD', KEYS[3], ARGV[i], ARGV[i + 1])\n"
    "elseif action == 'dead' then\n"
    "  local nd = tonumber(ARGV[i + 1])\n"
    "  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[i], '*', unpack(ARGV, i + 2, i + 1 + nd))\n"
    "elseif action == 'reseal' then\n"
    "  local nn = tonumber(ARGV[i])\n"
    "  redis.call('XADD', KEYS[1], '*', unpack(ARGV, i + 1, i + nn))\n"
    "end\n"
    "if ret == 1 then\n"
    "  redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])\n"
    "  redis.call('XDEL', KEYS[1], ARGV[3])\n"
    "end\n"
    "return ret\n";

/* Creates the consumer group (BUSYGROUP is success) and the queue's epoch, a
 * random value that lives exactly as long as the queue's data.
 * KEYS: jobs, epoch.  ARGV: group, a fresh random epoch.  Returns the epoch. */
const char slate_lua_group[] =
    "local ok, err = pcall(redis.call, 'XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')\n"
    "if not ok and not string.find(tostring(err), 'BUSYGROUP', 1, true) then\n"
    "  return redis.error_reply(tostring(err))\n"
    "end\n"
    "redis.call('SET', KEYS[2], ARGV[2], 'NX')\n"
    "return redis.call('GET', KEYS[2])\n";

/* Moves due members of the delayed set back to the job stream, atomically
 * (the whole script is one step, so no member is moved twice).  A member
 * that is not a JSON object of strings goes to the dead stream.
 * KEYS: delayed, jobs, dead.  ARGV: now_ms, limit, dead maxlen.
 * Returns the number moved. */
const char slate_lua_move_due[] =
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))\n"
    "local moved = 0\n"
    "for _, m in ipairs(due) do\n"
    "  redis.call('ZREM', KEYS[1], m)\n"
    "  local ok, job = pcall(cjson.decode, m)\n"
    "  local args = {}\n"
    "  if ok and type(job) == 'table' then\n"
    "    for k, v in pairs(job) do\n"
    "      if type(k) ~= 'string' or (type(v) ~= 'string' and type(v) ~= 'number') then ok = false end\n"
    "      table.insert(args, k); table.insert(args, tostring(v))\n"
    "    end\n"
    "  else ok = false end\n"
    "  if ok and #args > 0 then\n"
    "    redis.call('XADD', KEYS[2], '*', unpack(args))\n"
    "    moved = moved + 1\n"
    "  else\n"
    "    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'error_code', 'internal',\n"
    "      'error', 'a delayed job could not be read back', 'attempts', '0')\n"
    "  end\n"
    "end\n"
    "return moved\n";

/* Heartbeat and release of held jobs: for each id still pending for us,
 * XCLAIM ... JUSTID with the given IDLE (0: a heartbeat; large: release for
 * immediate takeover).  Never touches an entry another worker took over.
 * KEYS: jobs.  ARGV: group, consumer, idle_ms, ids...  Returns ids refreshed. */
const char slate_lua_heartbeat[] =
    "local n = 0\n"
    "for i = 4, #ARGV do\n"
    "  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)\n"
    "  if #p > 0 and p[1][2] == ARGV[2] then\n"
    "    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'IDLE', ARGV[3], 'JUSTID')\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "return n\n";

/* Shared prologue of the store scripts: the fence.  KEYS[1] is the
 * integration hash and KEYS[2] the workspace's generations hash; ARGV[1] the
 * integration id, ARGV[2] the generation the job read when it began,
 * ARGV[3] the lease token ("" when the script needs none) with the lease
 * key in KEYS[3]. */
#define FENCE                                                                    \
    "local gen = redis.call('HGET', KEYS[2], ARGV[1]) or '0'\n"                  \
    "if gen ~= ARGV[2] then return {-1} end\n"                                   \
    "if ARGV[3] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[3] then return {-2} end\n"

#define HSET_CHUNKED                                                             \
    "local function hset_pairs(key, t)\n"                                        \
    "  for i = 1, #t, 1000 do\n"                                                 \
    "    redis.call('HSET', key, unpack(t, i, math.min(i + 999, #t)))\n"         \
    "  end\n"                                                                    \
    "end\n"

/* The test results of a streamed sync, as a Lua function: a per-server
 * test's JSON is its four parts around the findings of the pages, staged or
 * held (one field per page and list, "<test>|<list>|<page>"); the others
 * come whole.
 * ARGV from k on: per test, id, "full", json | id, "parts", p0, p1, p2, p3. */
#define STORE_TESTS                                                              \
    "local function store_tests(k, tests_key, staged_key, held)\n"               \
    "  local staged = {}\n"                                                      \
    "  local all = redis.call('HGETALL', staged_key)\n"                          \
    "  for j = 1, #held do all[#all + 1] = held[j] end\n"                        \
    "  for j = 1, #all, 2 do\n"                                                  \
    "    local key, page = string.match(all[j], '^(.*)|(%d+)$')\n"               \
    "    if key then\n"                                                          \
    "      staged[key] = staged[key] or {}\n"                                    \
    "      table.insert(staged[key], {tonumber(page), all[j + 1]})\n"            \
    "    end\n"                                                                  \
    "  end\n"                                                                    \
    "  local function items_of(key)\n"                                           \
    "    local v = staged[key]\n"                                                \
    "    if not v then return '' end\n"                                          \
    "    table.sort(v, function(a, b) return a[1] < b[1] end)\n"                 \
    "    local s = {}\n"                                                         \
    "    for _, x in ipairs(v) do s[#s + 1] = x[2] end\n"                        \
    "    return table.concat(s, ',')\n"                                          \
    "  end\n"                                                                    \
    "  local out = {}\n"                                                         \
    "  while k <= #ARGV do\n"                                                    \
    "    local id = ARGV[k]\n"                                                   \
    "    if ARGV[k + 1] == 'full' then\n"                                        \
    "      out[#out + 1] = id; out[#out + 1] = ARGV[k + 2]; k = k + 3\n"         \
    "    else\n"                                                                 \
    "      local function items(list) return items_of(id .. '|' .. list) end\n"  \
    "      out[#out + 1] = id\n"                                                 \
    "      out[#out + 1] = ARGV[k + 2] .. items('failing') .. ARGV[k + 3]\n"     \
    "        .. items('not_applicable') .. ARGV[k + 4] .. items('errors')\n"     \
    "        .. ARGV[k + 5]\n"                                                   \
    "      k = k + 6\n"                                                          \
    "    end\n"                                                                  \
    "  end\n"                                                                    \
    "  redis.call('DEL', tests_key, staged_key)\n"                               \
    "  if #out > 0 then hset_pairs(tests_key, out) end\n"                        \
    "end\n"

/* The end of a sync (or connect), in one step: the whole inventory
 * replaced (the servers' assets from the staging hash the pages filled, keys
 * and firewalls from the arguments), the test results stored, and the sync
 * lease released, since the job writes nothing more about the integration.
 * KEYS: 1 integration, 2 generations, 3 lease, 4 ssh_keys, 5 firewalls,
 *       6 integration assets set, 7 workspace assets, 8 vendors,
 *       9 integrations set, 10 staged assets, 11 tests, 12 staged findings
 * ARGV: 1 integration id, 2 generation, 3 lease token, 4 mode (connect|sync),
 *       5 now, 6 token ciphertext, 7 token hint, 8 rl limit, 9 rl remaining,
 *       10 rl reset, 11 servers the worker staged, then n_keys, id/json
 *       pairs, n_firewalls, id/json pairs, n servers held (pages the worker
 *       kept instead of staging), id/json pairs, n findings held,
 *       field/items pairs, then the tests (STORE_TESTS).
 * Returns {added, changed, removed}, {-1} when disconnected since the job
 * began (or, for a sync, not connected), {-2} when the lease was lost, {-3}
 * when the staged servers are not all there. */
const char slate_lua_commit_sync[] =
    FENCE HSET_CHUNKED STORE_TESTS
    "local mode = ARGV[4]\n"
    "if mode == 'sync' and redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end\n"
    "if redis.call('HLEN', KEYS[10]) ~= tonumber(ARGV[11]) then return {-3} end\n"
    "local i = 12\n"
    "local function take()\n"
    "  local n = tonumber(ARGV[i]); local t = {}\n"
    "  for k = 1, 2 * n do t[k] = ARGV[i + k] end\n"
    "  i = i + 2 * n + 1\n"
    "  return t, n\n"
    "end\n"
    "local keys, n_keys = take()\n"
    "local fws, n_fws = take()\n"
    "local held = take()\n"
    "local held_findings = take()\n"
    "local assets = redis.call('HGETALL', KEYS[10])\n"
    "for k = 1, #held do assets[#assets + 1] = held[k] end\n"
    "local added, changed, removed = 0, 0, 0\n"
    "local new = {}\n"
    "local ids = {}\n"
    "for k = 1, #assets, 2 do\n"
    "  local id, json = assets[k], assets[k + 1]\n"
    "  if not new[id] then\n"
    "    new[id] = true; ids[#ids + 1] = id\n"
    "    local prev = redis.call('HGET', KEYS[7], id)\n"
    "    if not prev then added = added + 1 elseif prev ~= json then changed = changed + 1 end\n"
    "  end\n"
    "end\n"
    "local n_assets = #ids\n"
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[6])) do\n"
    "  if not new[id] then redis.call('HDEL', KEYS[7], id); removed = removed + 1 end\n"
    "end\n"
    "if #assets > 0 then hset_pairs(KEYS[7], assets) end\n"
    "redis.call('DEL', KEYS[6], KEYS[4], KEYS[5], KEYS[10])\n"
    "for k = 1, #ids, 1000 do redis.call('SADD', KEYS[6], unpack(ids, k, math.min(k + 999, #ids))) end\n"
    "if #keys > 0 then hset_pairs(KEYS[4], keys) end\n"
    "if #fws > 0 then hset_pairs(KEYS[5], fws) end\n"
    "redis.call('HSET', KEYS[1], 'provider', 'hetzner', 'status', 'connected',\n"
    "  'last_sync_at', ARGV[5], 'last_sync_status', 'succeeded', 'last_success_at', ARGV[5],\n"
    "  'servers', n_assets, 'ssh_keys', n_keys, 'firewalls', n_fws)\n"
    "if ARGV[8] ~= '-1' then\n"
    "  local t = redis.call('TIME')\n"
    "  redis.call('HSET', KEYS[1], 'ratelimit_limit', ARGV[8], 'ratelimit_remaining', ARGV[9],\n"
    "    'ratelimit_reset', ARGV[10], 'ratelimit_seen_at', ARGV[5],\n"
    "    'ratelimit_seen_ms', t[1] * 1000 + math.floor(t[2] / 1000))\n"
    "end\n"
    "redis.call('HDEL', KEYS[1], 'last_error', 'last_error_code', 'sync_progress')\n"
    "if mode == 'connect' then\n"
    "  redis.call('HSET', KEYS[1], 'token', ARGV[6], 'token_hint', ARGV[7])\n"
    "  redis.call('HSETNX', KEYS[1], 'connected_at', ARGV[5])\n"
    "  redis.call('SADD', KEYS[9], ARGV[1])\n"
    "  local created = ARGV[5]\n"
    "  local list = {}\n"
    "  local old = redis.call('HGET', KEYS[8], 'hetzner')\n"
    "  if old then\n"
    "    local ok, v = pcall(cjson.decode, old)\n"
    "    if ok and type(v) == 'table' then\n"
    "      if type(v.created_at) == 'string' then created = v.created_at end\n"
    "      if type(v.integrations) == 'table' then\n"
    "        for _, x in ipairs(v.integrations) do if type(x) == 'string' then list[#list + 1] = x end end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  local seen = false\n"
    "  for _, x in ipairs(list) do if x == ARGV[1] then seen = true end end\n"
    "  if not seen then list[#list + 1] = ARGV[1] end\n"
    "  table.sort(list)\n"
    "  redis.call('HSET', KEYS[8], 'hetzner', '{\"id\":\"hetzner\",\"name\":\"Hetzner Online GmbH\",'\n"
    "    .. '\"category\":\"Cloud providers\",\"website\":\"https://www.hetzner.com\",'\n"
    "    .. '\"integrations\":[\"' .. table.concat(list, '\",\"') .. '\"],\"created_at\":\"' .. created .. '\"}')\n"
    "end\n"
    "store_tests(i, KEYS[11], KEYS[12], held_findings)\n"
    "redis.call('DEL', KEYS[3])\n"
    "return {added, changed, removed}\n";

/* A sync that failed for good: the inventory stays, the record says so.
 * KEYS: integration, generations, lease.  ARGV: id, generation, lease,
 * now, error_code, error, rl limit, rl remaining, rl reset. */
const char slate_lua_sync_failed[] =
    FENCE
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end\n"
    "redis.call('HSET', KEYS[1], 'status', 'error', 'last_error', ARGV[6],\n"
    "  'last_error_code', ARGV[5], 'last_sync_at', ARGV[4], 'last_sync_status', 'failed')\n"
    "if ARGV[7] ~= '-1' then\n"
    "  local t = redis.call('TIME')\n"
    "  redis.call('HSET', KEYS[1], 'ratelimit_limit', ARGV[7], 'ratelimit_remaining', ARGV[8],\n"
    "    'ratelimit_reset', ARGV[9], 'ratelimit_seen_at', ARGV[4],\n"
    "    'ratelimit_seen_ms', t[1] * 1000 + math.floor(t[2] / 1000))\n"
    "end\n"
    "redis.call('HDEL', KEYS[1], 'sync_progress')\n"
    "return {1}\n";

/* KEYS: integration, generations, lease.  ARGV: id, generation, lease,
 * progress ("12/40"). */
const char slate_lua_set_progress[] =
    FENCE
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end\n"
    "redis.call('HSET', KEYS[1], 'sync_progress', ARGV[4])\n"
    "return {1}\n";

/* KEYS: integration, generations, lease (unused), tests.  ARGV: id,
 * generation, "", then test id/json pairs. */
const char slate_lua_store_tests[] =
    FENCE HSET_CHUNKED
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end\n"
    "local t = {}\n"
    "for k = 4, #ARGV do t[#t + 1] = ARGV[k] end\n"
    "redis.call('DEL', KEYS[4])\n"
    "if #t > 0 then hset_pairs(KEYS[4], t) end\n"
    "return {1}\n";

/* Everything of one integration, in one step; bumps the generation so that
 * no job that began before can write after.
 * KEYS: 1 integration, 2 generations, 3 lease, 4 ssh_keys, 5 firewalls,
 *       6 tests, 7 integration assets set, 8 workspace assets, 9 vendors,
 *       10 integrations set, 11 staged assets, 12 staged test findings.
 * ARGV: id.  Returns {assets removed}. */
const char slate_lua_disconnect[] =
    "redis.call('DEL', KEYS[11], KEYS[12])\n"
    "local removed = 0\n"
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[7])) do\n"
    "  removed = removed + redis.call('HDEL', KEYS[8], id)\n"
    "end\n"
    "redis.call('DEL', KEYS[1], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])\n"
    "redis.call('SREM', KEYS[10], ARGV[1])\n"
    "redis.call('HINCRBY', KEYS[2], ARGV[1], 1)\n"
    "local old = redis.call('HGET', KEYS[9], 'hetzner')\n"
    "if old then\n"
    "  local ok, v = pcall(cjson.decode, old)\n"
    "  local list = {}\n"
    "  local created = ''\n"
    "  if ok and type(v) == 'table' then\n"
    "    if type(v.created_at) == 'string' then created = v.created_at end\n"
    "    if type(v.integrations) == 'table' then\n"
    "      for _, x in ipairs(v.integrations) do\n"
    "        if type(x) == 'string' and x ~= ARGV[1] then list[#list + 1] = x end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  if #list == 0 then\n"
    "    redis.call('HDEL', KEYS[9], 'hetzner')\n"
    "  else\n"
    "    redis.call('HSET', KEYS[9], 'hetzner', '{\"id\":\"hetzner\",\"name\":\"Hetzner Online GmbH\",'\n"
    "      .. '\"category\":\"Cloud providers\",\"website\":\"https://www.hetzner.com\",'\n"
    "      .. '\"integrations\":[\"' .. table.concat(list, '\",\"') .. '\"],\"created_at\":\"' .. created .. '\"}')\n"
    "  end\n"
    "end\n"
    "return {removed}\n";

/* The integration's sync lease, as a Lua function: free for this token when
 * nobody holds it, when we hold it, or when an earlier attempt of the same
 * job does.  A token is "<job_id> <attempt> <holder>": a later attempt of
 * the same job takes over the lease its earlier attempt could not release
 * (that attempt is over: its retry exists only once it finished), while a
 * worker that took over the same attempt waits for the lease to expire. */
#define LEASE_FREE                                                               \
    "local function lease_free(key, token)\n"                                    \
    "  local cur = redis.call('GET', key)\n"                                     \
    "  if not cur or cur == token then return true end\n"                        \
    "  local cj, ca = string.match(cur, '^(%S+) (%d+) ')\n"                      \
    "  local mj, ma = string.match(token, '^(%S+) (%d+) ')\n"                    \
    "  return cj ~= nil and cj == mj and tonumber(ca) < tonumber(ma)\n"          \
    "end\n"

/* Renews the sync lease we hold.  KEYS: lease.  ARGV: token, ttl_ms.
 * Returns 1 when held by us, 0 when another job holds it. */
const char slate_lua_lease[] =
    LEASE_FREE
    "if not lease_free(KEYS[1], ARGV[1]) then return 0 end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "return 1\n";

/* KEYS: lease.  ARGV: token. */
const char slate_lua_release_lease[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end\n"
    "return 1\n";

/* The start of a connect or a sync, in one step: the generation the job's
 * writes are fenced with, the workspace's people, for a sync the
 * integration record and a reservation from the project's rate budget, the
 * sync lease, and the staging keys an earlier attempt may have left.
 *
 * The budget is shared by every worker through the integration record: the
 * last figures the API sent, refilled at limit/3600 per second since, less
 * what syncs started since then reserved.  A sync reserves the requests its
 * last counts predict (a page of 50 per collection, at least one) before it
 * starts; nothing is reserved or taken when the lease is busy.
 * KEYS: 1 integration, 2 generations, 3 lease, 4 members, 5 owners,
 *       6 staged assets, 7 staged findings.
 * ARGV: 1 id, 2 mode (connect|sync), 3 lease token, 4 lease ttl ms.
 * Returns {status, gen, integration flat, members, owners, wait_ms}: status
 * 1 begun, 0 lease busy, -1 not connected (sync), -2 budget too low (wait_ms
 * until it has refilled enough). */
const char slate_lua_begin[] =
    LEASE_FREE
    "local gen = redis.call('HGET', KEYS[2], ARGV[1]) or '0'\n"
    "local members = redis.call('SMEMBERS', KEYS[4])\n"
    "local owners = redis.call('HGETALL', KEYS[5])\n"
    "local integ = {}\n"
    "local function answer(status, wait) return {status, gen, integ, members, owners, wait} end\n"
    "local sync = ARGV[2] == 'sync'\n"
    "if sync then\n"
    "  integ = redis.call('HGETALL', KEYS[1])\n"
    "  if #integ == 0 then return answer(-1, 0) end\n"
    "end\n"
    "if not lease_free(KEYS[3], ARGV[3]) then return answer(0, 0) end\n"
    "if sync then\n"
    "  local f = {}\n"
    "  local need = 0\n"
    "  for k = 1, #integ, 2 do\n"
    "    local name, v = integ[k], integ[k + 1]\n"
    "    f[name] = v\n"
    "    if name == 'servers' or name == 'ssh_keys' or name == 'firewalls' then\n"
    "      local n = tonumber(v) or 0\n"
    "      if n > 0 then need = need + math.ceil(n / 50) else need = need + 1 end\n"
    "    end\n"
    "  end\n"
    "  local limit, remaining = tonumber(f.ratelimit_limit), tonumber(f.ratelimit_remaining)\n"
    "  local reset, seen = tonumber(f.ratelimit_reset), tonumber(f.ratelimit_seen_ms)\n"
    "  if limit and limit > 0 and remaining and remaining >= 0 and seen then\n"
    "    local t = redis.call('TIME')\n"
    "    local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
    "    local budget = remaining + math.max(0, now - seen) * limit / 3600000\n"
    "    if reset and reset > 0 and now >= reset * 1000 then budget = limit end\n"
    "    if budget > limit then budget = limit end\n"
    "    if budget < need then return answer(-2, math.ceil((need - budget) * 3600000 / limit)) end\n"
    "    redis.call('HSET', KEYS[1], 'ratelimit_remaining', math.floor(budget - need),\n"
    "      'ratelimit_seen_ms', now)\n"
    "  end\n"
    "end\n"
    "redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4])\n"
    "redis.call('DEL', KEYS[6], KEYS[7])\n"
    "return answer(1, 0)\n";

/* Everything evaluate needs, read in one step (a consistent snapshot).
 * KEYS: 1 integration, 2 generations, 3 ssh_keys, 4 firewalls,
 *       5 integration assets set, 6 workspace assets, 7 members, 8 owners.
 * ARGV: id.
 * Returns {gen, integration flat, keys flat, firewalls flat, assets list,
 * members, owners flat}. */
const char slate_lua_load[] =
    "local gen = redis.call('HGET', KEYS[2], ARGV[1]) or '0'\n"
    "local members = redis.call('SMEMBERS', KEYS[7])\n"
    "local owners = redis.call('HGETALL', KEYS[8])\n"
    "local integ = redis.call('HGETALL', KEYS[1])\n"
    "local keys = redis.call('HGETALL', KEYS[3])\n"
    "local fws = redis.call('HGETALL', KEYS[4])\n"
    "local ids = redis.call('SMEMBERS', KEYS[5])\n"
    "local assets = {}\n"
    "for k = 1, #ids, 1000 do\n"
    "  local vals = redis.call('HMGET', KEYS[6], unpack(ids, k, math.min(k + 999, #ids)))\n"
    "  for _, v in ipairs(vals) do if v then assets[#assets + 1] = v end end\n"
    "end\n"
    "return {gen, integ, keys, fws, assets, members, owners}\n";

/* Takes over entries idle past the visibility timeout, with the number of
 * times each was delivered (to stop poison jobs).
 * KEYS: jobs.  ARGV: group, consumer, min idle ms, count.
 * Returns {{id, {fields...}, deliveries}, ...}. */
const char slate_lua_reclaim[] =
    "local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], '0-0', 'COUNT', ARGV[4])\n"
    "local out = {}\n"
    "for _, e in ipairs(r[2]) do\n"
    "  if type(e) == 'table' and type(e[2]) == 'table' then\n"
    "    local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)\n"
    "    local n = 1\n"
    "    if #p > 0 then n = p[1][4] end\n"
    "    out[#out + 1] = {e[1], e[2], n}\n"
    "  end\n"
    "end\n"
    "return out\n";

/* Bounded memory: consumers with nothing pending that have not been seen
 * for stale_ms are deleted from the group (XGROUP DELCONSUMER drops pending
 * entries, so only empty ones), and worker heartbeats older than stale_ms
 * are removed.  KEYS: jobs, workers.  ARGV: group, now_ms, stale_ms.
 * Returns the number of records removed. */
const char slate_lua_reap[] =
    "local removed = 0\n"
    "local stale = tonumber(ARGV[3])\n"
    "local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])\n"
    "if ok then\n"
    "  for _, c in ipairs(consumers) do\n"
    "    local f = {}\n"
    "    for i = 1, #c, 2 do f[c[i]] = c[i + 1] end\n"
    "    if f.pending == 0 and f.idle > stale then\n"
    "      redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f.name)\n"
    "      removed = removed + 1\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local now = tonumber(ARGV[2])\n"
    "local all = redis.call('HGETALL', KEYS[2])\n"
    "for i = 1, #all, 2 do\n"
    "  local okj, hb = pcall(cjson.decode, all[i + 1])\n"
    "  if not okj or type(hb) ~= 'table' or type(hb.last_seen_ms) ~= 'number'\n"
    "     or now - hb.last_seen_ms > stale then\n"
    "    redis.call('HDEL', KEYS[2], all[i])\n"
    "    removed = removed + 1\n"
    "  end\n"
    "end\n"
    "return removed\n";

/* Scheduled syncs, exactly once per interval across all workers: each due
 * member of the schedule ("W/I", score = due ms) becomes one sync job with
 * job_id sched:W:I:<due ms>, and moves to its next slot (missed slots are
 * skipped, not replayed).  The whole script is one step, so two workers
 * never enqueue the same slot.
 * KEYS: schedule, jobs.  ARGV: now_ms, interval_ms, limit.  Returns the
 * number of jobs enqueued. */
const char slate_lua_schedule[] =
    "local now, every = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))\n"
    "local n = 0\n"
    "for i = 1, #due, 2 do\n"
    "  local m, at = due[i], tonumber(due[i + 1])\n"
    "  local slash = string.find(m, '/', 1, true)\n"
    "  if slash then\n"
    "    local ws, integ = string.sub(m, 1, slash - 1), string.sub(m, slash + 1)\n"
    "    redis.call('XADD', KEYS[2], '*', 'type', 'sync', 'workspace', ws, 'integration', integ,\n"
    "      'job_id', string.format('sched:%s:%s:%d', ws, integ, at))\n"
    "    n = n + 1\n"
    "    local nxt = at + every\n"
    "    if nxt <= now then nxt = at + math.ceil((now - at + 1) / every) * every end\n"
    "    redis.call('ZADD', KEYS[1], nxt, m)\n"
    "  else\n"
    "    redis.call('ZREM', KEYS[1], m)\n"
    "  end\n"
    "end\n"
    "return n\n";

/* One page of servers staged: their assets, and the findings the page gave
 * each per-server test (one field per page, joined only at the end, so that
 * staging stays linear in the project's size).
 * KEYS: integration, generations, lease, staged assets, staged findings.
 * ARGV: id, generation, lease, n assets, asset id/json pairs, then
 * "<test>|<list>|<page>" / JSON items pairs. */
const char slate_lua_stage_page[] =
    FENCE HSET_CHUNKED
    "local n = tonumber(ARGV[4])\n"
    "local t = {}\n"
    "for k = 5, 4 + 2 * n do t[#t + 1] = ARGV[k] end\n"
    "if #t > 0 then hset_pairs(KEYS[4], t) end\n"
    "local f = {}\n"
    "for k = 5 + 2 * n, #ARGV do f[#f + 1] = ARGV[k] end\n"
    "if #f > 0 then hset_pairs(KEYS[5], f) end\n"
    "return {1}\n";
