// /v1/api-keys: list, create (secret shown once), revoke; a revoked key stops working at ingest
// within a second.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Api, assertError, RANDOM_UUID, UUID_RE } from './lib/api.mjs';
import { sleep, useStack } from './lib/stack.mjs';

let api;
const stack = useStack({
  async setup() {
    api = new Api(stack.gatewayUrl, { key: stack.workspaces.a.key });
  },
});

const KEY_FIELDS = ['created_at', 'expires_at', 'id', 'last_used_at', 'name', 'prefix', 'revoked_at'];

async function createKey(fields = {}) {
  const res = await api.post('/v1/api-keys', { name: `key_${Math.random().toString(36).slice(2, 8)}`, ...fields });
  assert.equal(res.status, 201, res.text);
  return res.body;
}

describe('api keys', () => {
  test('GET /v1/api-keys lists metadata only (no secret, no hash)', async () => {
    const res = await api.get('/v1/api-keys');
    assert.equal(res.status, 200);
    assert.equal(res.body.next_cursor, null);
    assert.ok(res.body.api_keys.length >= 1);
    for (const key of res.body.api_keys) {
      assert.deepEqual(Object.keys(key).sort(), KEY_FIELDS);
      assert.match(key.id, UUID_RE);
    }
    assert.ok(!res.text.includes(stack.workspaces.a.key), 'the key itself is never listed');
    const bootstrap = res.body.api_keys.find((k) => stack.workspaces.a.key.startsWith(k.prefix));
    assert.ok(bootstrap, 'the bootstrap key is listed, recognisable by its prefix');
    assert.equal(bootstrap.revoked_at, null);
  });

  test('POST /v1/api-keys answers 201 with the secret once', async () => {
    const res = await api.post('/v1/api-keys', { name: 'ci' });
    assert.equal(res.status, 201, res.text);
    const key = res.body;
    assert.match(key.id, UUID_RE);
    assert.equal(key.name, 'ci');
    assert.match(key.secret, /^bp_v1_[A-Za-z0-9]+$/);
    assert.ok(key.secret.startsWith(key.prefix), 'prefix is the start of the secret');
    assert.equal(key.expires_at, null);
    assert.equal(key.revoked_at, null);
    assert.equal(key.last_used_at, null);

    const listed = (await api.get('/v1/api-keys?limit=200')).body.api_keys.find((k) => k.id === key.id);
    assert.ok(listed, 'the new key is listed');
    assert.equal(listed.secret, undefined, 'the list never shows the secret');

    const viaNewKey = await api.as(key.secret).get('/v1/pipes');
    assert.equal(viaNewKey.status, 200, 'the new key works');
  });

  test('expires_in_days sets expires_at', async () => {
    const key = await createKey({ expires_in_days: 30 });
    const days = (Date.parse(key.expires_at) - Date.now()) / 86_400_000;
    assert.ok(days > 29.9 && days < 30.1, `expires in ~30 days: ${key.expires_at}`);
  });

  test('invalid key bodies are 400 validation_error', async () => {
    const cases = [
      [{}, 'name'],
      [{ name: '' }, 'name'],
      [{ name: 'x', expires_in_days: 'soon' }, 'expires_in_days'],
      [{ name: 'x', expires_in_days: 0 }, 'expires_in_days'],
      [{ name: 'x', expires_in_days: -3 }, 'expires_in_days'],
      [{ name: 'x', scope: 'all' }, 'scope'],
    ];
    for (const [body, field] of cases) {
      const res = await api.post('/v1/api-keys', body);
      assertError(res, 400, 'validation_error');
      assert.equal(typeof res.body.errors?.[field], 'string', `errors.${field} for ${JSON.stringify(body)}: ${res.text}`);
    }
  });

  test('DELETE /v1/api-keys/:id revokes (204): the key is refused and listed as revoked', async () => {
    const key = await createKey();
    assert.equal((await api.as(key.secret).get('/v1/pipes')).status, 200);
    const res = await api.delete(`/v1/api-keys/${key.id}`);
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    const listed = (await api.get('/v1/api-keys?limit=200')).body.api_keys.find((k) => k.id === key.id);
    assert.ok(listed && listed.revoked_at && !Number.isNaN(Date.parse(listed.revoked_at)), 'revoked_at is set');
    assertError(await api.as(key.secret).get('/v1/pipes'), 401, 'unauthorized');
    assertError(await api.as(key.secret).post('/v1/api-keys', { name: 'x' }), 401, 'unauthorized');
  });

  test('revoking the key making the request is 409 conflict', async () => {
    const key = await createKey();
    const self = api.as(key.secret);
    assertError(await self.delete(`/v1/api-keys/${key.id}`), 409, 'conflict');
    assert.equal((await self.get('/v1/pipes')).status, 200, 'the key still works');
  });

  test('an unknown key id is 404 not_found', async () => {
    assertError(await api.delete(`/v1/api-keys/${RANDOM_UUID()}`), 404, 'not_found');
    assertError(await api.delete('/v1/api-keys/not-a-uuid'), 404, 'not_found');
  });

  test('a revoked key gets 401 at ingest within 1 s', async () => {
    const pipe = await api.createPipe();
    const key = await createKey();
    const ingestor = api.as(key.secret);
    // Use the key first, so the gateway has it cached: revocation must still take effect.
    for (let i = 0; i < 3; i += 1) assert.equal((await ingestor.ingest(pipe.id, { i })).status, 202);

    assert.equal((await api.delete(`/v1/api-keys/${key.id}`)).status, 204);
    const revokedAt = Date.now();
    let last;
    while (Date.now() - revokedAt < 1500) {
      last = await ingestor.ingest(pipe.id, { after: 'revoke' });
      if (last.status === 401) break;
      await sleep(25);
    }
    const elapsed = Date.now() - revokedAt;
    assertError(last, 401, 'unauthorized');
    assert.ok(elapsed <= 1000, `refused ${elapsed} ms after the revoke (at most 1000 ms)`);
    assert.equal((await api.ingest(pipe.id, { still: 'ok' })).status, 202, 'other keys keep working');
  });

  test('GET /v1/api-keys pages with limit and next_cursor', async () => {
    for (let i = 0; i < 3; i += 1) await createKey();
    const all = (await api.get('/v1/api-keys?limit=200')).body.api_keys.map((k) => k.id);
    const seen = [];
    let cursor = null;
    do {
      const res = await api.get(`/v1/api-keys?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(res.status, 200, res.text);
      seen.push(...res.body.api_keys.map((k) => k.id));
      cursor = res.body.next_cursor;
    } while (cursor && seen.length <= all.length);
    assert.deepEqual(seen, all, 'pages add up to the whole list, same order');
    assertError(await api.get('/v1/api-keys?limit=0'), 400, 'validation_error');
  });
});
