// 429s: repeated failed authentication from one client address is refused for the rest of a
// window (every route that takes an API key, valid keys included, other addresses unaffected),
// and a pipe's pl_ingest_max_requests_per_second is enforced with Retry-After. Gateways with a
// small limit and window are started for the test; responses are checked against the OpenAPI
// document like everywhere else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Api, assertError } from './lib/api.mjs';
import { sleep, useStack } from './lib/stack.mjs';

const stack = useStack({ workspaces: ['a'] });

const BAD_KEY = 'bp_v1_0000000000000000000000000000000000000000000AAAAAA';

test('failed authentications from one address: 429 with Retry-After until the window ends', async () => {
  const { url } = await stack.startGateway('gw-auth', { BP_AUTH_FAILURE_LIMIT: '3', BP_AUTH_FAILURE_WINDOW_MS: '2000' });
  const good = new Api(url, { key: stack.workspaces.a.key });
  const bad = good.as(BAD_KEY);
  const pipe = await good.createPipe();
  assertError(await bad.get('/v1/pipes'), 401, 'unauthorized');
  assertError(await bad.ingest(pipe.id, { a: 1 }), 401, 'unauthorized');
  assertError(await good.as(null).get('/v1/api-keys'), 401, 'unauthorized'); // no key at all counts too
  const blocked = await bad.get('/v1/pipes');
  assertError(blocked, 429, 'rate_limited');
  const retryAfter = Number(blocked.headers.get('retry-after'));
  assert.ok(retryAfter >= 1 && retryAfter <= 2, `Retry-After ${retryAfter}`);
  // The address is blocked for every key-taking route, whatever the key.
  assertError(await good.get('/v1/pipes'), 429, 'rate_limited');
  assertError(await good.ingest(pipe.id, { a: 1 }), 429, 'rate_limited');
  // Routes without a key are not affected.
  assert.equal((await good.get('/v1/health')).status, 200);
  await sleep(2100);
  assert.equal((await good.get('/v1/pipes')).status, 200);
  assert.equal((await good.ingest(pipe.id, { a: 1 })).status, 202);
});

test('behind a trusted proxy, one client address does not block another', async () => {
  const { url } = await stack.startGateway('gw-xff', {
    BP_AUTH_FAILURE_LIMIT: '2',
    BP_AUTH_FAILURE_WINDOW_MS: '60000',
    BP_TRUST_FORWARDED_FOR: '1',
  });
  const call = (ip, key) =>
    new Api(url, { key }).get('/v1/pipes', { headers: { 'X-Forwarded-For': `${ip}, 10.0.0.1` } });
  assertError(await call('203.0.113.7', BAD_KEY), 401, 'unauthorized');
  assertError(await call('203.0.113.7', BAD_KEY), 401, 'unauthorized');
  assertError(await call('203.0.113.7', stack.workspaces.a.key), 429, 'rate_limited');
  assert.equal((await call('198.51.100.20', stack.workspaces.a.key)).status, 200);
});

test('pl_ingest_max_requests_per_second: a burst of one second, then 429 with Retry-After', async () => {
  const api = new Api(stack.gatewayUrl, { key: stack.workspaces.a.key });
  const pipe = await api.createPipe();
  await api.putLimits(pipe.id, { pl_ingest_max_requests_per_second: 3 });
  // The limit reaches the gateway with the pipe (change event): wait until it bites.
  let statuses = [];
  for (let attempt = 0; attempt < 20 && !statuses.includes(429); attempt += 1) {
    statuses = [];
    for (let i = 0; i < 6; i += 1) statuses.push((await api.ingest(pipe.id, { i })).status);
    if (!statuses.includes(429)) await sleep(100);
  }
  assert.ok(statuses.includes(429), `statuses ${statuses}`);
  await sleep(1100); // a full bucket again
  statuses = [];
  let limited;
  for (let i = 0; i < 12 && !limited; i += 1) {
    const res = await api.ingest(pipe.id, { i });
    statuses.push(res.status);
    if (res.status === 429) limited = res;
  }
  assert.deepEqual(statuses.slice(0, 3), [202, 202, 202], `statuses ${statuses}`);
  assert.ok(limited, `statuses ${statuses}`);
  assertError(limited, 429, 'rate_limited');
  assert.equal(limited.headers.get('retry-after'), '1');
  assert.match(limited.body.message, /at most 3 requests per second/);
  // Other pipes keep their own budget.
  const other = await api.createPipe();
  assert.equal((await api.ingest(other.id, { a: 1 })).status, 202);
});
