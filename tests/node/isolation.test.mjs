// Workspace isolation through HTTP: a key of workspace B sees nothing of workspace A, on every
// management route (404 not_found, never 403), and cannot ingest into A's pipes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Api, assertError } from './lib/api.mjs';
import { useStack } from './lib/stack.mjs';

let a; // workspace A's client
let b; // workspace B's client
let owned; // A's resources
const stack = useStack({
  async setup() {
    a = new Api(stack.gatewayUrl, { key: stack.workspaces.a.key });
    b = new Api(stack.gatewayUrl, { key: stack.workspaces.b.key });
    const pipe = await a.createPipe({ name: 'a_private' });
    const destination = await a.createDestination(pipe.id, { name: 'a_hook' });
    const origin = await a.addOrigin(pipe.id, 'https://a.example');
    await a.putLimits(pipe.id, { pl_ingest_max_records_per_request: 10 });
    const key = await a.post('/v1/api-keys', { name: 'a_second_key' });
    assert.equal(key.status, 201);
    owned = { pipe: (await a.get(`/v1/pipes/${pipe.id}`)).body, destination, origin, key: key.body };
  },
});

describe('workspace isolation', () => {
  test("B's lists do not show A's pipes or keys", async () => {
    const pipes = await b.get('/v1/pipes?limit=200');
    assert.equal(pipes.status, 200);
    assert.deepEqual(pipes.body.pipes, []);
    const keys = await b.get('/v1/api-keys?limit=200');
    assert.equal(keys.status, 200);
    assert.ok(keys.body.api_keys.length >= 1, "B sees its own key");
    const aIds = new Set((await a.get('/v1/api-keys?limit=200')).body.api_keys.map((k) => k.id));
    for (const k of keys.body.api_keys) assert.ok(!aIds.has(k.id), `B's list shows A's key ${k.id}`);
  });

  test("every management route answers 404 not_found for A's ids with B's key", async () => {
    const p = owned.pipe.id;
    const d = owned.destination.id;
    const o = owned.origin.id;
    const cases = [
      ['GET', `/v1/pipes/${p}`],
      ['PATCH', `/v1/pipes/${p}`, { name: 'stolen' }],
      ['DELETE', `/v1/pipes/${p}`],
      ['POST', `/v1/pipes/${p}/destinations`, { type: 'webhook', name: 'x', config: { url: 'https://evil.example' } }],
      ['PATCH', `/v1/pipes/${p}/destinations/${d}`, { name: 'stolen' }],
      ['PATCH', `/v1/pipes/${p}/destinations/${d}/status`, { destination_status: 'blocked' }],
      ['DELETE', `/v1/pipes/${p}/destinations/${d}`],
      ['PUT', `/v1/pipes/${p}/limits`, { pl_ingest_max_records_per_request: 1 }],
      ['POST', `/v1/pipes/${p}/allowed-origins`, { origin_domain: 'https://evil.example' }],
      ['DELETE', `/v1/pipes/${p}/allowed-origins/${o}`],
      ['GET', `/v1/pipes/${p}/runs`],
      ['DELETE', `/v1/api-keys/${owned.key.id}`],
    ];
    for (const [method, path, json] of cases) {
      const res = await b.request(method, path, { json });
      assertError(res, 404, 'not_found');
      assert.ok(!res.text.includes('a_private'), `${method} ${path} leaks nothing`);
    }
  });

  test("A's resources are unchanged after B's attempts", async () => {
    const pipe = await a.get(`/v1/pipes/${owned.pipe.id}`);
    assert.equal(pipe.status, 200);
    const { usage: _u1, ...now } = pipe.body;
    const { usage: _u2, ...then } = owned.pipe;
    assert.deepEqual(now, then);
    const keys = (await a.get('/v1/api-keys?limit=200')).body.api_keys;
    assert.equal(keys.find((k) => k.id === owned.key.id)?.revoked_at, null, "A's key is not revoked");
  });

  test("B's key cannot ingest into A's pipe (401), A's key can (202)", async () => {
    const denied = await b.ingest(owned.pipe.id, { event: 'x' });
    assertError(denied, 401, 'unauthorized');
    const accepted = await a.ingest(owned.pipe.id, { event: 'x' });
    assert.equal(accepted.status, 202, accepted.text);
  });

  test("A's own second key works for A's pipe and only A's", async () => {
    const second = a.as(owned.key.secret);
    assert.equal((await second.get(`/v1/pipes/${owned.pipe.id}`)).status, 200);
    const bPipe = await b.createPipe({ name: 'b_pipe' });
    assertError(await second.get(`/v1/pipes/${bPipe.id}`), 404, 'not_found');
    assertError(await second.ingest(bPipe.id, { event: 'x' }), 401, 'unauthorized');
  });
});
