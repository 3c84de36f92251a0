// CORS on /v1/ingest/:pipe_id as plain HTTP: preflights, origin echo, Vary, and which origins
// each kind of pipe accepts. (browser.test.mjs checks the same rules from a real browser.)
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Api, assertError } from './lib/api.mjs';
import { eventually, useStack } from './lib/stack.mjs';

const APP = 'https://app.example.com';
let api;
let corsOnly; // require_api_key false, allowed origin APP
let anyOrigin; // require_api_key false, allow_any_browser_origin
let keyAny; // require_api_key true, allow_any_browser_origin
let keyAllowlist; // require_api_key true, allowed origin APP
let keyPlain; // require_api_key true, no origin settings

const stack = useStack({
  async setup() {
    api = new Api(stack.gatewayUrl, { key: stack.workspaces.a.key });
    corsOnly = await api.createPipe({ name: 'cors_only', require_api_key: false });
    await api.addOrigin(corsOnly.id, APP);
    anyOrigin = await api.createPipe({ name: 'cors_any', require_api_key: false, allow_any_browser_origin: true });
    keyAny = await api.createPipe({ name: 'key_any', allow_any_browser_origin: true });
    keyAllowlist = await api.createPipe({ name: 'key_allowlist' });
    await api.addOrigin(keyAllowlist.id, APP);
    keyPlain = await api.createPipe({ name: 'key_plain' });
  },
});

const preflight = (pipeId, origin, requestHeaders = 'content-type') =>
  api.options(`/v1/ingest/${pipeId}`, {
    key: null,
    headers: {
      ...(origin ? { origin } : {}),
      'access-control-request-method': 'POST',
      'access-control-request-headers': requestHeaders,
    },
  });

const listOf = (res, name) =>
  (res.headers.get(name) || '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);

function assertPreflightOk(res, origin, { authorization }) {
  assert.equal(res.status, 204, res.text);
  assert.equal(res.text, '');
  assert.equal(res.headers.get('access-control-allow-origin'), origin, 'the Origin is echoed (never *)');
  assert.ok(listOf(res, 'vary').includes('origin'), 'Vary: Origin');
  assert.ok(listOf(res, 'access-control-allow-methods').includes('post'), 'POST is allowed');
  const allowed = listOf(res, 'access-control-allow-headers');
  assert.ok(allowed.includes('content-type'), `Content-Type allowed: ${allowed}`);
  if (authorization) assert.ok(allowed.includes('authorization'), `Authorization allowed: ${allowed}`);
}

describe('preflight (OPTIONS /v1/ingest/:pipe_id)', () => {
  test('an allowed origin gets 204 with the CORS headers', async () => {
    assertPreflightOk(await preflight(corsOnly.id, APP), APP, { authorization: false });
  });

  test('an API-key pipe with "any browser origin" allows any http(s) origin and Authorization', async () => {
    for (const origin of ['https://anything.example', 'http://localhost:3000']) {
      assertPreflightOk(await preflight(keyAny.id, origin, 'authorization, content-type'), origin, { authorization: true });
    }
    assertPreflightOk(await preflight(keyAllowlist.id, APP, 'authorization, content-type'), APP, { authorization: true });
  });

  test('the allowlist compares normalised origins and echoes the Origin as sent', async () => {
    for (const origin of ['https://APP.example.com', 'https://app.example.com:443']) {
      assertPreflightOk(await preflight(corsOnly.id, origin), origin, { authorization: false });
    }
  });

  test('no Origin is 400 with an empty body', async () => {
    for (const p of [corsOnly, keyAny]) {
      const res = await preflight(p.id, null);
      assert.equal(res.status, 400);
      assert.equal(res.text, '');
      assert.equal(res.headers.get('access-control-allow-origin'), null);
    }
  });

  test('an unknown pipe is 404 and a malformed id 400, both with an empty body', async () => {
    const unknown = await preflight(crypto.randomUUID(), APP);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.text, '');
    const malformed = await preflight('not-a-uuid', APP);
    assert.equal(malformed.status, 400);
    assert.equal(malformed.text, '');
  });

  test('a disallowed origin is 403 with an empty body', async () => {
    const cases = [
      [corsOnly, 'https://evil.example'],
      [corsOnly, 'http://app.example.com'],
      [corsOnly, 'https://app.example.com:8443'],
      [keyAllowlist, 'https://evil.example'],
      [anyOrigin, 'null'],
      [anyOrigin, 'chrome-extension://abcdef'],
      [keyPlain, APP],
    ];
    for (const [p, origin] of cases) {
      const res = await preflight(p.id, origin);
      assert.equal(res.status, 403, `${p.name} ${origin}: ${res.status}`);
      assert.equal(res.text, '');
      assert.equal(res.headers.get('access-control-allow-origin'), null, `${origin} not echoed`);
    }
  });
});

describe('cross-origin POST', () => {
  test('a CORS-only pipe accepts an allowed Origin without a key and echoes it', async () => {
    const res = await api.ingest(corsOnly.id, { a: 1 }, { key: null, headers: { origin: APP } });
    assert.equal(res.status, 202, res.text);
    assert.equal(res.headers.get('access-control-allow-origin'), APP);
    assert.ok(listOf(res, 'vary').includes('origin'));
  });

  test('a CORS-only pipe with "any browser origin" accepts any http(s) origin, not "null"', async () => {
    for (const origin of ['https://one.example', 'http://127.0.0.1:5173']) {
      const res = await api.ingest(anyOrigin.id, { a: 1 }, { key: null, headers: { origin } });
      assert.equal(res.status, 202, `${origin}: ${res.text}`);
      assert.equal(res.headers.get('access-control-allow-origin'), origin);
    }
    assertError(await api.ingest(anyOrigin.id, { a: 1 }, { key: null, headers: { origin: 'null' } }), 403, 'forbidden');
    assertError(await api.ingest(anyOrigin.id, { a: 1 }, { key: null }), 401, 'unauthorized');
  });

  test('an API-key pipe with "any browser origin" needs the key and echoes the Origin', async () => {
    const origin = 'https://dashboard.example';
    const ok = await api.ingest(keyAny.id, { a: 1 }, { headers: { origin } });
    assert.equal(ok.status, 202, ok.text);
    assert.equal(ok.headers.get('access-control-allow-origin'), origin);
    assertError(await api.ingest(keyAny.id, { a: 1 }, { key: null, headers: { origin } }), 401, 'unauthorized');
  });

  test('an API-key pipe with allowed origins checks Origin when one is sent', async () => {
    const ok = await api.ingest(keyAllowlist.id, { a: 1 }, { headers: { origin: APP } });
    assert.equal(ok.status, 202, ok.text);
    assert.equal(ok.headers.get('access-control-allow-origin'), APP);
    assertError(
      await api.ingest(keyAllowlist.id, { a: 1 }, { headers: { origin: 'https://evil.example' } }),
      403,
      'forbidden',
    );
    assert.equal((await api.ingest(keyAllowlist.id, { a: 1 })).status, 202, 'server-to-server without Origin');
  });

  test('an API-key pipe without origin settings: the key alone authenticates', async () => {
    const res = await api.ingest(keyPlain.id, { a: 1 }, { headers: { origin: 'https://any.example' } });
    assert.equal(res.status, 202, res.text);
    assert.notEqual(res.headers.get('access-control-allow-origin'), '*');
  });

  test('errors after the origin check still carry the echo, so the page can read them', async () => {
    const res = await api.ingest(corsOnly.id, '[]', { key: null, headers: { origin: APP } });
    assertError(res, 400, 'empty_payload');
    assert.equal(res.headers.get('access-control-allow-origin'), APP);
  });

  test(
    'a 401 for an allowed origin echoes it too, so the page can read the error',
    async () => {
      const origin = 'https://dashboard.example';
      const res = await api.ingest(keyAny.id, { a: 1 }, { key: 'bp_v1_wrong', headers: { origin } });
      assertError(res, 401, 'unauthorized');
      assert.equal(res.headers.get('access-control-allow-origin'), origin);
    },
  );

  test('removing the last allowed origin makes the CORS-only pipe misconfigured (500)', async () => {
    const p = await api.createPipe({ require_api_key: false });
    const origin = await api.addOrigin(p.id, 'https://temp.example');
    await eventually(async () => {
      const ok = await api.ingest(p.id, { a: 1 }, { key: null, headers: { origin: 'https://temp.example' } });
      assert.equal(ok.status, 202, ok.text);
    });
    assert.equal((await api.delete(`/v1/pipes/${p.id}/allowed-origins/${origin.id}`)).status, 204);
    await eventually(async () =>
      assertError(
        await api.ingest(p.id, { a: 1 }, { key: null, headers: { origin: 'https://temp.example' } }),
        500,
        'configuration_error',
      ),
    );
  });
});
