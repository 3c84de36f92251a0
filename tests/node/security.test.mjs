// What a workspace keeps to itself, checked where it is stored and where it could leak: secrets
// of destinations never in a response, a log line or the database in clear; API keys stored
// only as SHA-256 hashes; browser origins that are not http(s) origins refused, and `Vary:
// Origin` on every answer to a request with an Origin; the control-plane's gRPC API not
// reachable through the gateway's port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { Api } from './lib/api.mjs';
import { psqlRows, randomName, useStack } from './lib/stack.mjs';

let api;
const stack = useStack({
  workspaces: ['a'],
  async setup(s) {
    api = new Api(s.gatewayUrl, { key: s.workspaces.a.key });
  },
});

function controlPlaneDb() {
  const url = new URL(process.env.BP_TEST_PG_URL);
  url.pathname = `/${stack.dbName}`;
  return url.toString();
}

async function allLogs() {
  const texts = [];
  for (const s of stack.services) texts.push(await readFile(s.logFile, 'utf8').catch(() => ''));
  return texts.join('\n');
}

test('destination secrets: redacted in every answer, encrypted in the database, absent from logs', async () => {
  const secrets = {
    webhook: `whsec_${Buffer.from(randomName('hook')).toString('base64')}`,
    postgres: randomName('pgpass'),
    s3: randomName('s3secret'),
  };
  const pipe = await api.createPipe();
  const created = [];
  for (const [type, config] of [
    ['webhook', { url: 'https://hooks.example.com/bp', signing_secret: secrets.webhook }],
    ['postgres', { host: 'db.example.com', database: 'x', user: 'u', password: secrets.postgres, table: 't' }],
    [
      's3',
      { endpoint: 'https://s3.example.com', bucket: 'bkt', access_key_id: 'AKIA1', secret_access_key: secrets.s3 },
    ],
  ]) {
    const res = await api.post(`/v1/pipes/${pipe.id}/destinations`, { type, name: randomName(type), config });
    assert.equal(res.status, 201, res.text);
    created.push(res);
  }
  const readBack = [await api.get(`/v1/pipes/${pipe.id}`), await api.get('/v1/pipes')];
  // An update that keeps the secret ("[redacted]") must not reveal it either.
  const webhook = created[0].body;
  readBack.push(
    await api.patch(`/v1/pipes/${pipe.id}/destinations/${webhook.id}`, { config: { ...webhook.config, url: 'https://hooks.example.com/v2' } }),
  );
  const answers = [...created, ...readBack].map((r) => r.text).join('\n');
  for (const secret of Object.values(secrets)) assert.ok(!answers.includes(secret), 'no secret in any answer');
  assert.ok(answers.includes('[redacted]'), 'secrets show as [redacted]');

  const rows = await psqlRows(
    controlPlaneDb(),
    `SELECT config::text, encode(secrets_ciphertext, 'hex'), secrets_key_id FROM destination WHERE pipe_id = '${pipe.id}'`,
  );
  assert.equal(rows.length, 3);
  // In clear, or as the hex of the clear text (what a bytea column would show).
  const stored = rows.map((r) => r.join('|')).join('\n');
  for (const secret of Object.values(secrets)) {
    assert.ok(!stored.includes(Buffer.from(secret).toString('hex')), 'the secret is not stored unencrypted as bytes');
  }
  for (const secret of Object.values(secrets)) assert.ok(!stored.includes(secret), 'no secret in clear in the database');
  for (const [, ciphertext, keyId] of rows) {
    assert.ok(ciphertext.length > 2 * 28, 'a ciphertext (12-byte nonce, data, 16-byte tag) is stored');
    assert.ok(keyId, 'with the id of the master key that sealed it');
  }
  const logs = await allLogs();
  for (const secret of Object.values(secrets)) assert.ok(!logs.includes(secret), 'no secret in any log line');
});

test('API keys: only a SHA-256 hash is stored; the secret is in no log and no later answer', async () => {
  const created = await api.post('/v1/api-keys', { name: randomName('key') });
  assert.equal(created.status, 201, created.text);
  const { id, secret } = created.body;
  const rows = await psqlRows(controlPlaneDb(), `SELECT row_to_json(k)::text, key_sha256 FROM api_key k WHERE id = '${id}'`);
  assert.equal(rows.length, 1);
  const [rowJson, hash] = rows[0];
  assert.equal(hash, createHash('sha256').update(secret).digest('hex'));
  assert.ok(!rowJson.includes(secret), 'the secret is not a column value');
  // The key works, then appears nowhere.
  assert.equal((await api.as(secret).get('/v1/pipes')).status, 200);
  const later = [await api.get('/v1/api-keys?limit=200'), await api.get(`/v1/pipes`)].map((r) => r.text).join('\n');
  assert.ok(!later.includes(secret));
  assert.ok(!(await allLogs()).includes(secret), 'no key in any log line');
  assert.ok(!(await allLogs()).includes(stack.workspaces.a.key), 'nor the bootstrap key');
});

test('origins that are not http(s) origins are refused; every answer to an Origin varies on it', async () => {
  const pipe = await api.createPipe({ require_api_key: false, allow_any_browser_origin: true });
  const open = api.as(null);
  const ok = await open.ingest(pipe.id, { a: 1 }, { headers: { origin: 'https://app.example.com' } });
  assert.equal(ok.status, 202, ok.text);
  assert.match(ok.headers.get('vary') ?? '', /Origin/);
  for (const origin of ['null', 'file://', 'file:///etc/passwd', 'chrome-extension://abc', 'https://exa mple.com', 'https://', 'javascript:alert(1)']) {
    const res = await open.ingest(pipe.id, { a: 1 }, { headers: { origin } });
    assert.ok([400, 401, 403].includes(res.status), `Origin ${JSON.stringify(origin)} → ${res.status}`);
    assert.equal(res.headers.get('access-control-allow-origin'), null, `no CORS grant for ${origin}`);
    assert.match(res.headers.get('vary') ?? '', /Origin/, `Vary: Origin for ${origin}`);
    const preflight = await open.options(`/v1/ingest/${pipe.id}`, {
      headers: { origin, 'access-control-request-method': 'POST' },
    });
    assert.ok(preflight.status >= 400, `preflight for ${origin} → ${preflight.status}`);
    assert.equal(preflight.headers.get('access-control-allow-origin'), null);
  }
});

test("the control-plane's gRPC API is not reachable through the gateway's port", async () => {
  // An HTTP/2 (gRPC) connection preface: the gateway speaks HTTP/1.1 only and must not proxy it.
  const { port, hostname } = new URL(stack.gatewayUrl);
  const answer = await new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname, () => socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
    let data = '';
    socket.on('data', (d) => (data += d.toString('latin1')));
    socket.on('close', () => resolve(data));
    socket.on('error', () => resolve(data));
    socket.setTimeout(5000, () => socket.destroy());
  });
  assert.ok(answer === '' || /^HTTP\/1\.1 4\d\d /.test(answer), `HTTP/2 preface got: ${JSON.stringify(answer.slice(0, 80))}`);
  // A gRPC method path over HTTP/1.1 is an unknown route.
  const res = await api.post('/batchpipe.v1.ControlPlane/ListPipes', {}, { openapi: { response: 'NotFound' } });
  assert.equal(res.status, 404);
  // And the gateway still serves.
  assert.equal((await api.get('/v1/health')).status, 200);
});
