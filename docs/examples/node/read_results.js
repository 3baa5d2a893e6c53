#!/usr/bin/env node
// Read slate-worker's results through a consumer group, and acknowledge them.
//
// What a web tier's result reader does (docs/web-tier.md):
//   * create its own consumer group on <prefix>:{q}:results once
//     (XGROUP CREATE ... web $ MKSTREAM; BUSYGROUP means it is already there);
//   * at start, re-read what it was given before but did not acknowledge
//     (XREADGROUP ... 0): a reader that crashed mid-entry loses nothing;
//   * then read new entries (XREADGROUP ... >), handle each one, and only
//     then XACK it;
//   * recreate the group when Redis answers NOGROUP (Redis lost its data).
//
// Each result is printed as one JSON line: the entry's fields as Redis holds
// them (strings; `summary` is a JSON text), plus `entry_id`, `final` (false
// only for `retrying`) and `message`, the sentence to show the user.
//
//   node read_results.js                               # follow every result
//   node read_results.js --until connect-1234 --timeout 120
//
// With --until, it stops at that job's final result: exit status 0 when it
// succeeded, 1 when it failed or went dead, 4 when --timeout passed first.
// Always: 2 bad arguments, 3 Redis unreachable.
'use strict';

const { parseArgs } = require('node:util');
const { createClient } = require('redis');

const FINAL = new Set(['succeeded', 'failed', 'dead']);

// What to tell the user for each error_code (docs/web-tier.md).
const MESSAGES = {
  invalid_token: 'Hetzner did not accept this API token. Create a token with Read permission ' +
                 'in the Hetzner Cloud Console and paste it again.',
  forbidden: 'This API token may not read the project. Use a token of this project with Read permission.',
  rate_limited: 'The Hetzner API rate limit of this project is used up; the sync waits until it has refilled.',
  hetzner_unavailable: 'The Hetzner Cloud API is unavailable at the moment.',
  timeout: 'The Hetzner Cloud API did not answer in time.',
  bad_response: 'The Hetzner Cloud API answered with something we could not read. Our team has been notified.',
  invalid_job: 'Something went wrong on our side. Our team has been notified.',
  not_connected: 'This Hetzner Cloud integration is not connected. Connect it again.',
  internal: 'Something went wrong on our side. Please try again later.',
};

// The sentence for a person.  `error` (the worker's own sentence) is for logs
// and support; it never holds a secret, but it is not written for end users.
function message(res) {
  if (res.status === 'succeeded') {
    return { connect: 'Connected.', sync: 'Synced.', evaluate: 'Tests updated.',
             disconnect: 'Disconnected.' }[res.type] || 'Done.';
  }
  const text = MESSAGES[res.error_code] || MESSAGES.internal;
  if (res.status === 'retrying') {
    return `Still working: attempt ${res.attempt || '?'} did not succeed (${text}) Trying again.`;
  }
  if (res.status === 'dead') return `${text} We gave up after several attempts; try again later.`;
  return text;
}

// node-redis v4 takes redis:// and rediss:// URLs; the workers also accept
// unix:///path[?db=N], which it needs as socket.path.
function clientOptions(url) {
  const socket = { connectTimeout: 10000, reconnectStrategy: false };
  const m = /^unix:\/\/(\/[^?]*)(?:\?db=(\d+))?$/.exec(url);
  if (m) return { socket: { ...socket, path: m[1] }, database: m[2] ? Number(m[2]) : 0 };
  return { url, socket };
}

function fail(code, msg) {
  process.stderr.write(`read_results: ${msg}\n`);
  process.exit(code);
}

async function ensureGroup(client, key, group, start) {
  try {
    await client.sendCommand(['XGROUP', 'CREATE', key, group, start, 'MKSTREAM']);
  } catch (e) {
    if (!String(e.message).startsWith('BUSYGROUP')) throw e;
  }
}

// Your application logic goes here: store the outcome by job_id, update the
// UI.  It must be idempotent: an entry is delivered again if the reader stops
// between handling and XACK.
function handle(entryId, res) {
  const out = { ...res, entry_id: entryId, final: FINAL.has(res.status), message: message(res) };
  const sorted = Object.fromEntries(Object.keys(out).sort().map((k) => [k, out[k]]));
  process.stdout.write(`${JSON.stringify(sorted)}\n`);
}

async function main() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        'redis-url': { type: 'string', default: process.env.SLATE_REDIS_URL || 'redis://127.0.0.1:6379/0' },
        prefix: { type: 'string', default: process.env.SLATE_PREFIX || 'slate' },
        group: { type: 'string', default: process.env.RESULTS_GROUP || 'web' },
        consumer: { type: 'string', default: process.env.RESULTS_CONSUMER || 'web-1' },
        'group-start': { type: 'string', default: '$' },
        until: { type: 'string' },
        timeout: { type: 'string' },
      },
    }));
  } catch (e) {
    fail(2, e.message);
  }
  const key = `${values.prefix}:{q}:results`;
  const { group, consumer, until } = values;
  const deadline = values.timeout !== undefined ? Date.now() + Number(values.timeout) * 1000 : null;
  if (deadline !== null && Number.isNaN(deadline)) fail(2, '--timeout needs a number of seconds');

  const client = createClient(clientOptions(values['redis-url']));
  client.on('error', () => {}); // reported by the awaited calls
  try {
    await client.connect();
    await ensureGroup(client, key, group, values['group-start']);
    process.stderr.write(`read_results: reading ${key} as ${group}/${consumer}\n`);
    let cursor = '0'; // first our own unacknowledged entries, then new ones
    for (;;) {
      if (deadline !== null && Date.now() >= deadline) {
        process.stderr.write(until ? `read_results: no final result for ${until} in time\n`
                                   : 'read_results: --timeout reached\n');
        return 4;
      }
      // Raw XREADGROUP: an entry trimmed away by MAXLEN while pending comes
      // back as [id, null], which node-redis v4's parsed xReadGroup cannot take.
      const args = ['XREADGROUP', 'GROUP', group, consumer, 'COUNT', '100'];
      if (cursor === '>') args.push('BLOCK', '2000');
      args.push('STREAMS', key, cursor);
      let reply;
      try {
        reply = await client.sendCommand(args);
      } catch (e) {
        if (String(e.message).startsWith('NOGROUP')) { // Redis restarted without its data
          await ensureGroup(client, key, group, values['group-start']);
          continue;
        }
        throw e;
      }
      const entries = reply ? reply[0][1] : [];
      if (cursor === '0' && entries.length === 0) {
        cursor = '>'; // the backlog of our own pending entries is done
        continue;
      }
      for (const [entryId, flat] of entries) {
        let res = null;
        if (flat) {
          res = {};
          for (let i = 0; i + 1 < flat.length; i += 2) res[flat[i]] = flat[i + 1];
          handle(entryId, res);
        }
        await client.sendCommand(['XACK', key, group, entryId]); // only after handling
        if (until && res && res.job_id === until && FINAL.has(res.status)) {
          return res.status === 'succeeded' ? 0 : 1;
        }
      }
    }
  } catch (e) {
    fail(3, `Redis failed: ${e.message}`);
  } finally {
    if (client.isOpen) await client.quit();
  }
  return 0;
}

main().then((code) => process.exit(code), (e) => fail(1, e.message));
