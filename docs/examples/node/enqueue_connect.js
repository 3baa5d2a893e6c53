#!/usr/bin/env node
// Seal a Hetzner Cloud API token and enqueue a `connect` job for slate-worker.
//
// What a web tier does when a user pastes a token (docs/web-tier.md):
//   1. seal the token to the workers' public key (`slatectl public-key`) with
//      crypto_box_seal, and base64 it (standard alphabet, with padding);
//   2. XADD one entry to <prefix>:{q}:jobs with type, workspace, integration,
//      a job_id of its own and token_sealed;
//   3. remember the job_id, and read its result (read_results.js).
//
// The plain token never reaches Redis, a log line or the command line: it is
// read from standard input (or --token-file) and only its sealed form leaves.
//
//   export SLATE_PUBLIC_KEY=$(slatectl public-key)
//   printf '%s' "$TOKEN" | node enqueue_connect.js acme hz-prod
//   node enqueue_connect.js --token-file ~/hetzner.token acme hz-prod
//
// Prints the job id on stdout.  Exit status 0 when the job was enqueued, 2 on
// bad input (ids, token, key), 3 when Redis could not be reached.
//
// npm ci   (package.json: redis v4, libsodium-wrappers)
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const { parseArgs } = require('node:util');
const { createClient } = require('redis');
const sodium = require('libsodium-wrappers');

// The contract's identifiers (docs/protocol.md): anything else is an
// invalid_job, so check before enqueueing and tell the user at once.
const ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const JOB_ID_RE = /^[A-Za-z0-9_.:-]{1,128}$/;
const PREFIX_RE = /^[A-Za-z0-9_.-]{1,32}$/;

// node-redis v4 takes redis:// and rediss:// URLs; the workers also accept
// unix:///path[?db=N], which it needs as socket.path.
function clientOptions(url) {
  const socket = { connectTimeout: 10000, reconnectStrategy: false };
  const m = /^unix:\/\/(\/[^?]*)(?:\?db=(\d+))?$/.exec(url);
  if (m) return { socket: { ...socket, path: m[1] }, database: m[2] ? Number(m[2]) : 0 };
  return { url, socket };
}

function fail(code, msg) {
  process.stderr.write(`enqueue_connect: ${msg}\n`);
  process.exit(code);
}

// The token from a file ('-': standard input): one line, one trailing
// newline allowed.  Returns a Buffer.
function readToken(path) {
  let data = fs.readFileSync(path === '-' ? 0 : path);
  if (data.length > 4096) data = data.subarray(0, 4096);
  const s = data.length;
  if (s >= 2 && data[s - 2] === 0x0d && data[s - 1] === 0x0a) return data.subarray(0, s - 2);
  if (s >= 1 && data[s - 1] === 0x0a) return data.subarray(0, s - 1);
  return data;
}

// The worker's own rule: 1-256 bytes of printable ASCII without spaces.
// Anything else ends as invalid_token without a request to Hetzner.
function tokenLooksValid(token) {
  return token.length > 0 && token.length <= 256 && token.every((c) => c >= 0x21 && c <= 0x7e);
}

// base64(crypto_box_seal(token, public key)): the job's token_sealed.
function sealToken(token, publicKeyB64) {
  const pk = Buffer.from(publicKeyB64, 'base64');
  if (pk.length !== sodium.crypto_box_PUBLICKEYBYTES || pk.toString('base64') !== publicKeyB64) {
    throw new Error('the public key must be 32 bytes in standard base64 (44 characters)');
  }
  return Buffer.from(sodium.crypto_box_seal(token, pk)).toString('base64');
}

// One XADD with flat fields; returns the stream entry id.  Works for all four
// job types: only a connect carries token_sealed.
async function enqueue(client, prefix, type, workspace, integration, jobId, tokenSealed) {
  const fields = { type, workspace, integration, job_id: jobId };
  if (tokenSealed !== undefined) fields.token_sealed = tokenSealed;
  return client.xAdd(`${prefix}:{q}:jobs`, '*', fields);
}

async function main() {
  let values, positionals;
  try {
    ({ values, positionals } = parseArgs({
      allowPositionals: true,
      options: {
        'redis-url': { type: 'string', default: process.env.SLATE_REDIS_URL || 'redis://127.0.0.1:6379/0' },
        prefix: { type: 'string', default: process.env.SLATE_PREFIX || 'slate' },
        'public-key': { type: 'string', default: process.env.SLATE_PUBLIC_KEY || '' },
        'job-id': { type: 'string' },
        'token-file': { type: 'string', default: '-' },
      },
    }));
  } catch (e) {
    fail(2, e.message);
  }
  if (positionals.length !== 2) fail(2, 'usage: enqueue_connect.js [options] WORKSPACE INTEGRATION');
  const [workspace, integration] = positionals;
  const prefix = values.prefix;
  if (!PREFIX_RE.test(prefix)) fail(2, 'the prefix must match [A-Za-z0-9_.-]{1,32}');
  if (!ID_RE.test(workspace)) fail(2, 'the workspace id must match [A-Za-z0-9_.-]{1,64}');
  if (!ID_RE.test(integration)) fail(2, 'the integration id must match [A-Za-z0-9_.-]{1,64}');
  const jobId = values['job-id'] || `connect-${crypto.randomUUID()}`;
  if (!JOB_ID_RE.test(jobId)) fail(2, 'the job id must match [A-Za-z0-9_.:-]{1,128}');
  if (!values['public-key']) {
    fail(2, 'no public key: set SLATE_PUBLIC_KEY or --public-key to the output of `slatectl public-key`');
  }

  await sodium.ready;
  const token = readToken(values['token-file']);
  if (!tokenLooksValid(token)) fail(2, 'Invalid API token (1-256 printable characters, no spaces)');
  let sealed;
  try {
    sealed = sealToken(token, values['public-key']);
  } catch (e) {
    fail(2, `bad public key: ${e.message}`);
  } finally {
    token.fill(0); // only the sealed form goes any further
  }

  // No reconnect loop for a one-shot: an unreachable Redis is an error.
  const client = createClient(clientOptions(values['redis-url']));
  client.on('error', () => {}); // reported by the awaited call below
  let entry;
  try {
    await client.connect();
    entry = await enqueue(client, prefix, 'connect', workspace, integration, jobId, sealed);
  } catch (e) {
    // A refused write (e.g. OOM under maxmemory-policy noeviction) enqueued nothing.
    fail(3, `Redis did not take the job: ${e.message}`);
  } finally {
    if (client.isOpen) await client.quit();
  }
  process.stdout.write(`${jobId}\n`);
  process.stderr.write(`enqueue_connect: enqueued connect ${workspace}/${integration} ` +
                       `job_id=${jobId} entry=${entry}\n`);
}

main().catch((e) => fail(1, e.message));
