// Management API: pipes, destinations, limits, allowed origins and runs, with one workspace key.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Api, assertError, RANDOM_UUID, UUID_RE } from './lib/api.mjs';
import { JetStreamProbe } from './lib/jetstream.mjs';
import { useStack } from './lib/stack.mjs';

let api;
let js;
const stack = useStack({
  async setup() {
    api = new Api(stack.gatewayUrl, { key: stack.workspaces.a.key });
    js = await JetStreamProbe.connect(stack.natsUrl);
  },
  async teardown() {
    await js?.close();
  },
});

const ZERO_USAGE = {
  requests_accepted: 0,
  records_accepted: 0,
  bytes_accepted: 0,
  records_delivered: 0,
  records_failed: 0,
};

const isDate = (value) => typeof value === 'string' && !Number.isNaN(Date.parse(value));

function assertValidationError(res, fields) {
  assertError(res, 400, 'validation_error');
  assert.equal(typeof res.body.errors, 'object', `errors object in ${res.text}`);
  for (const field of fields) {
    assert.equal(typeof res.body.errors[field], 'string', `errors["${field}"] in ${res.text}`);
  }
}

describe('pipes', () => {
  test('POST /v1/pipes creates a pipe with documented defaults (201)', async () => {
    const res = await api.post('/v1/pipes', { name: 'orders' });
    assert.equal(res.status, 201, res.text);
    const pipe = res.body;
    assert.match(pipe.id, UUID_RE);
    assert.equal(pipe.name, 'orders');
    assert.equal(pipe.description, '');
    assert.equal(pipe.status, 'active');
    assert.equal(pipe.require_api_key, true);
    assert.equal(pipe.allow_any_browser_origin, false);
    assert.equal(pipe.enrich_ingest_timestamp_field, null);
    assert.equal(pipe.enrich_client_ip_field, null);
    assert.ok(isDate(pipe.created_at) && isDate(pipe.updated_at));
    assert.equal(pipe.limits, null);
    assert.deepEqual(pipe.allowed_origins, []);
    assert.deepEqual(pipe.destinations, []);
    assert.deepEqual(pipe.usage, { last_24h: ZERO_USAGE, total: ZERO_USAGE });
  });

  test('POST /v1/pipes takes every pipe field', async () => {
    const fields = {
      name: 'browser_events',
      description: 'from the web app',
      status: 'paused',
      require_api_key: false,
      allow_any_browser_origin: true,
      enrich_ingest_timestamp_field: 'received_at',
      enrich_client_ip_field: 'client_ip',
    };
    const res = await api.post('/v1/pipes', fields);
    assert.equal(res.status, 201, res.text);
    for (const [k, v] of Object.entries(fields)) assert.equal(res.body[k], v, k);
  });

  test('GET /v1/pipes/:id returns the pipe', async () => {
    const created = await api.createPipe({ description: 'detail' });
    const res = await api.get(`/v1/pipes/${created.id}`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, created);
  });

  test('PATCH /v1/pipes/:id changes only the fields sent (200)', async () => {
    const created = await api.createPipe({ description: 'before' });
    const res = await api.patch(`/v1/pipes/${created.id}`, {
      name: 'renamed',
      status: 'paused',
      enrich_ingest_timestamp_field: 'ts',
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.name, 'renamed');
    assert.equal(res.body.status, 'paused');
    assert.equal(res.body.enrich_ingest_timestamp_field, 'ts');
    assert.equal(res.body.description, 'before');
    assert.equal(res.body.require_api_key, true);
    assert.equal(res.body.created_at, created.created_at);
    assert.ok(Date.parse(res.body.updated_at) >= Date.parse(created.updated_at));

    const cleared = await api.patch(`/v1/pipes/${created.id}`, { enrich_ingest_timestamp_field: null });
    assert.equal(cleared.status, 200);
    assert.equal(cleared.body.enrich_ingest_timestamp_field, null, 'null switches enrichment off');
    assert.equal((await api.get(`/v1/pipes/${created.id}`)).body.name, 'renamed', 'the change is stored');
  });

  test('DELETE /v1/pipes/:id answers 204 and the pipe is gone', async () => {
    const created = await api.createPipe();
    await api.createDestination(created.id);
    await api.addOrigin(created.id, 'https://gone.example');
    const res = await api.delete(`/v1/pipes/${created.id}`);
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    assertError(await api.get(`/v1/pipes/${created.id}`), 404, 'not_found');
    assertError(await api.delete(`/v1/pipes/${created.id}`), 404, 'not_found');
    assert.ok(!(await api.get('/v1/pipes?limit=200')).body.pipes.some((p) => p.id === created.id));
  });

  test("deleting a pipe removes its destinations' JetStream consumers", async () => {
    const created = await api.createPipe();
    const d1 = await api.createDestination(created.id);
    const d2 = await api.createDestination(created.id, { destination_status: 'blocked' });
    assert.equal(await js.hasConsumer(`dest-${d1.id}`), true);
    assert.equal((await api.delete(`/v1/pipes/${created.id}`)).status, 204);
    assert.equal(await js.hasConsumer(`dest-${d1.id}`), false);
    assert.equal(await js.hasConsumer(`dest-${d2.id}`), false);
  });

  test('pipe names are unique in a workspace (400 on a duplicate)', async () => {
    const first = await api.createPipe({ name: 'unique_name' });
    assertValidationError(await api.post('/v1/pipes', { name: 'unique_name' }), ['name']);
    const second = await api.createPipe({ name: 'unique_name_2' });
    assertValidationError(await api.patch(`/v1/pipes/${second.id}`, { name: first.name }), ['name']);
  });

  test('unknown and malformed pipe ids are 404 not_found', async () => {
    for (const id of [RANDOM_UUID(), 'not-a-uuid']) {
      assertError(await api.get(`/v1/pipes/${id}`), 404, 'not_found');
      assertError(await api.patch(`/v1/pipes/${id}`, { name: 'x' }), 404, 'not_found');
      assertError(await api.delete(`/v1/pipes/${id}`), 404, 'not_found');
    }
  });

  test('invalid pipe bodies are 400 validation_error with dot-path errors', async () => {
    assertValidationError(await api.post('/v1/pipes', {}), ['name']);
    assertValidationError(await api.post('/v1/pipes', { name: '' }), ['name']);
    assertValidationError(await api.post('/v1/pipes', { name: '   ' }), ['name']);
    assertValidationError(await api.post('/v1/pipes', { name: 'x'.repeat(101) }), ['name']);
    assertValidationError(await api.post('/v1/pipes', { name: 'x', description: 'd'.repeat(1001) }), ['description']);
    assertValidationError(await api.post('/v1/pipes', { name: 'x', status: 'sleeping' }), ['status']);
    assertValidationError(await api.post('/v1/pipes', { name: 'x', require_api_key: 'yes' }), ['require_api_key']);
    assertValidationError(await api.post('/v1/pipes', { name: 'x', allow_any_browser_origin: 1 }), [
      'allow_any_browser_origin',
    ]);
    assertValidationError(await api.post('/v1/pipes', { name: 'x', enrich_client_ip_field: '1 bad' }), [
      'enrich_client_ip_field',
    ]);
    assertValidationError(await api.post('/v1/pipes', { name: 'x', colour: 'blue' }), ['colour']);
    assertValidationError(await api.post('/v1/pipes', [{ name: 'x' }]), ['body']);
    assertValidationError(await api.request('POST', '/v1/pipes', { body: '{"name":', contentType: 'application/json' }), [
      'body',
    ]);

    const pipe = await api.createPipe();
    assertValidationError(await api.patch(`/v1/pipes/${pipe.id}`, { status: 'gone' }), ['status']);
    assertValidationError(await api.patch(`/v1/pipes/${pipe.id}`, { name: '' }), ['name']);
    assertValidationError(await api.patch(`/v1/pipes/${pipe.id}`, { enrich_ingest_timestamp_field: 'a-b' }), [
      'enrich_ingest_timestamp_field',
    ]);
    assert.deepEqual((await api.get(`/v1/pipes/${pipe.id}`)).body, pipe, 'a rejected PATCH changes nothing');
  });

  test('GET /v1/pipes pages with limit and next_cursor', async () => {
    const before = (await api.get('/v1/pipes?limit=200')).body.pipes.map((p) => p.id);
    const created = [];
    for (let i = 0; i < 3; i += 1) created.push((await api.createPipe({ name: `paged_${i}` })).id);
    const seen = [];
    let cursor = null;
    let pages = 0;
    do {
      const res = await api.get(`/v1/pipes?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(res.status, 200, res.text);
      assert.ok(res.body.pipes.length <= 2);
      seen.push(...res.body.pipes.map((p) => p.id));
      cursor = res.body.next_cursor;
      pages += 1;
    } while (cursor && pages < 100);
    assert.equal(cursor, null, 'the last page has next_cursor null');
    assert.equal(new Set(seen).size, seen.length, 'no pipe appears twice');
    assert.deepEqual(new Set(seen), new Set([...before, ...created]));
    assert.ok(pages >= 2);
  });

  test('GET /v1/pipes rejects a bad limit or cursor with 400', async () => {
    assertValidationError(await api.get('/v1/pipes?limit=0'), ['limit']);
    assertValidationError(await api.get('/v1/pipes?limit=201'), ['limit']);
    assertValidationError(await api.get('/v1/pipes?limit=abc'), ['limit']);
    assertValidationError(await api.get('/v1/pipes?cursor=not-a-cursor'), ['cursor']);
  });
});

describe('destinations', () => {
  const configs = {
    postgres: {
      config: { host: 'db.internal', database: 'events', user: 'writer', password: 'pg-secret', table: 'raw' },
      secret: 'password',
    },
    webhook: { config: { url: 'https://hooks.example/in', signing_secret: 'whsec-abc' }, secret: 'signing_secret' },
    file: { config: { path: 'exports/events' }, secret: null },
    s3: {
      config: { endpoint: 'http://127.0.0.1:9000', bucket: 'events', access_key_id: 'AKIA', secret_access_key: 's3-secret' },
      secret: 'secret_access_key',
    },
  };

  for (const [type, { config, secret }] of Object.entries(configs)) {
    test(`POST /v1/pipes/:id/destinations creates a ${type} destination (201), secrets redacted`, async () => {
      const pipe = await api.createPipe();
      const res = await api.post(`/v1/pipes/${pipe.id}/destinations`, { type, name: `my ${type}`, config });
      assert.equal(res.status, 201, res.text);
      const d = res.body;
      assert.match(d.id, UUID_RE);
      assert.equal(d.pipe_id, pipe.id);
      assert.equal(d.type, type);
      assert.equal(d.name, `my ${type}`);
      assert.equal(d.destination_status, 'active');
      assert.ok(isDate(d.created_at) && isDate(d.updated_at));
      for (const [k, v] of Object.entries(config)) {
        assert.equal(d.config[k], k === secret ? '[redacted]' : v, `config.${k}`);
      }
      assert.ok(!res.text.includes(config[secret] ?? '\u0000'), 'the secret never comes back');

      const detail = await api.get(`/v1/pipes/${pipe.id}`);
      assert.deepEqual(detail.body.destinations, [d]);
      assert.ok(!detail.text.includes(config[secret] ?? '\u0000'), 'the pipe detail does not show the secret');
    });
  }

  test('a new destination gets its JetStream consumer; deleting it removes the consumer', async () => {
    const pipe = await api.createPipe();
    const d = await api.createDestination(pipe.id);
    assert.equal(await js.hasConsumer(`dest-${d.id}`), true, 'consumer dest-<id> exists');
    assert.equal((await api.delete(`/v1/pipes/${pipe.id}/destinations/${d.id}`)).status, 204);
    assert.equal(await js.hasConsumer(`dest-${d.id}`), false, 'consumer removed with the destination');
  });

  test('a destination can be created blocked', async () => {
    const pipe = await api.createPipe();
    const d = await api.createDestination(pipe.id, { destination_status: 'blocked' });
    assert.equal(d.destination_status, 'blocked');
  });

  test('invalid destination bodies are 400 validation_error', async () => {
    const pipe = await api.createPipe();
    const path = `/v1/pipes/${pipe.id}/destinations`;
    assertValidationError(await api.post(path, { type: 'ftp', name: 'x', config: {} }), ['type']);
    assertValidationError(await api.post(path, { type: 'webhook' }), ['name', 'config']);
    assertValidationError(await api.post(path, { type: 'webhook', name: 'x', config: 'url' }), ['config']);
    assertValidationError(await api.post(path, { type: 'webhook', name: 'x', config: { url: 'ftp://x' } }), ['config.url']);
    assertValidationError(
      await api.post(path, { type: 'webhook', name: 'x', config: { url: 'https://a.example', retries: 3 } }),
      ['config.retries'],
    );
    assertValidationError(
      await api.post(path, { type: 'postgres', name: 'x', config: { host: 'h', user: 'u', table: 't' } }),
      ['config.database'],
    );
    assertValidationError(
      await api.post(path, { type: 'webhook', name: 'x', destination_status: 'paused', config: { url: 'https://a.example' } }),
      ['destination_status'],
    );
    assert.deepEqual((await api.get(`/v1/pipes/${pipe.id}`)).body.destinations, [], 'nothing was created');
  });

  test('PATCH a destination: name, config, empty secret keeps the stored one (200)', async () => {
    const pipe = await api.createPipe();
    const { config } = configs.postgres;
    const d = await api.createDestination(pipe.id, { type: 'postgres', name: 'pg', config });

    const renamed = await api.patch(`/v1/pipes/${pipe.id}/destinations/${d.id}`, { name: 'warehouse' });
    assert.equal(renamed.status, 200, renamed.text);
    assert.equal(renamed.body.name, 'warehouse');
    assert.deepEqual(renamed.body.config, d.config);

    const updated = await api.patch(`/v1/pipes/${pipe.id}/destinations/${d.id}`, {
      config: { ...config, password: '', table: 'raw_v2' },
    });
    assert.equal(updated.status, 200, updated.text);
    assert.equal(updated.body.config.table, 'raw_v2');
    assert.equal(updated.body.config.password, '[redacted]', 'an empty secret keeps the stored secret');

    const roundTrip = await api.patch(`/v1/pipes/${pipe.id}/destinations/${d.id}`, { config: updated.body.config });
    assert.equal(roundTrip.status, 200, roundTrip.text);
    assert.equal(roundTrip.body.config.password, '[redacted]');

    assertValidationError(
      await api.patch(`/v1/pipes/${pipe.id}/destinations/${d.id}`, { config: { ...config, port: 'x' } }),
      ['config.port'],
    );
    assertValidationError(await api.patch(`/v1/pipes/${pipe.id}/destinations/${d.id}`, { type: 'file' }), ['type']);
    const stored = (await api.get(`/v1/pipes/${pipe.id}`)).body.destinations[0];
    assert.equal(stored.name, 'warehouse');
    assert.equal(stored.config.table, 'raw_v2');
  });

  test('PATCH …/status switches between active and blocked (200)', async () => {
    const pipe = await api.createPipe();
    const d = await api.createDestination(pipe.id);
    const path = `/v1/pipes/${pipe.id}/destinations/${d.id}/status`;
    const blocked = await api.patch(path, { destination_status: 'blocked' });
    assert.equal(blocked.status, 200, blocked.text);
    assert.equal(blocked.body.destination_status, 'blocked');
    assert.equal((await api.get(`/v1/pipes/${pipe.id}`)).body.destinations[0].destination_status, 'blocked');
    const active = await api.patch(path, { destination_status: 'active' });
    assert.equal(active.body.destination_status, 'active');
    assertValidationError(await api.patch(path, { destination_status: 'paused' }), ['destination_status']);
    assertValidationError(await api.patch(path, {}), ['destination_status']);
  });

  test('DELETE a destination answers 204; a second time 404', async () => {
    const pipe = await api.createPipe();
    const d = await api.createDestination(pipe.id);
    const res = await api.delete(`/v1/pipes/${pipe.id}/destinations/${d.id}`);
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    assert.deepEqual((await api.get(`/v1/pipes/${pipe.id}`)).body.destinations, []);
    assertError(await api.delete(`/v1/pipes/${pipe.id}/destinations/${d.id}`), 404, 'not_found');
  });

  test("a destination is not reachable through another pipe's path (404)", async () => {
    const owner = await api.createPipe();
    const otherPipe = await api.createPipe();
    const d = await api.createDestination(owner.id);
    const base = `/v1/pipes/${otherPipe.id}/destinations/${d.id}`;
    assertError(await api.patch(base, { name: 'x' }), 404, 'not_found');
    assertError(await api.patch(`${base}/status`, { destination_status: 'blocked' }), 404, 'not_found');
    assertError(await api.delete(base), 404, 'not_found');
    assert.deepEqual((await api.get(`/v1/pipes/${owner.id}`)).body.destinations, [d], 'untouched');
  });

  test('unknown pipe or destination ids are 404 not_found', async () => {
    const pipe = await api.createPipe();
    const missing = RANDOM_UUID();
    assertError(
      await api.post(`/v1/pipes/${missing}/destinations`, { type: 'file', name: 'x', config: { path: 'x' } }),
      404,
      'not_found',
    );
    assertError(await api.patch(`/v1/pipes/${pipe.id}/destinations/${missing}`, { name: 'x' }), 404, 'not_found');
    assertError(
      await api.patch(`/v1/pipes/${pipe.id}/destinations/${missing}/status`, { destination_status: 'active' }),
      404,
      'not_found',
    );
    assertError(await api.delete(`/v1/pipes/${pipe.id}/destinations/${missing}`), 404, 'not_found');
  });
});

describe('limits', () => {
  const ALL_LIMITS = [
    'pl_ingest_max_records_per_request',
    'pl_ingest_max_bytes_per_request',
    'pl_ingest_max_requests_per_second',
    'pl_delivery_max_records',
    'pl_delivery_max_bytes',
    'pl_delivery_max_interval_ms',
    'pl_delivery_max_attempts',
  ];

  test('PUT /v1/pipes/:id/limits stores the row and replaces it on the next PUT (200)', async () => {
    const pipe = await api.createPipe();
    const first = await api.put(`/v1/pipes/${pipe.id}/limits`, {
      pl_ingest_max_records_per_request: 500,
      pl_delivery_max_records: 1000,
      pl_delivery_max_interval_ms: 2000,
    });
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(Object.keys(first.body).sort(), [...ALL_LIMITS].sort());
    assert.equal(first.body.pl_ingest_max_records_per_request, 500);
    assert.equal(first.body.pl_delivery_max_records, 1000);
    assert.equal(first.body.pl_ingest_max_bytes_per_request, null);
    assert.deepEqual((await api.get(`/v1/pipes/${pipe.id}`)).body.limits, first.body);

    const second = await api.put(`/v1/pipes/${pipe.id}/limits`, { pl_delivery_max_attempts: 5 });
    assert.equal(second.status, 200);
    assert.equal(second.body.pl_delivery_max_attempts, 5);
    assert.equal(second.body.pl_ingest_max_records_per_request, null, 'an omitted field is reset (PUT replaces)');
    assert.equal(second.body.pl_delivery_max_records, null);
    assert.deepEqual((await api.get(`/v1/pipes/${pipe.id}`)).body.limits, second.body);
  });

  test('invalid limits are 400 validation_error', async () => {
    const pipe = await api.createPipe();
    const path = `/v1/pipes/${pipe.id}/limits`;
    assertValidationError(await api.put(path, { pl_ingest_max_records_per_request: 0 }), [
      'pl_ingest_max_records_per_request',
    ]);
    assertValidationError(await api.put(path, { pl_delivery_max_attempts: -1 }), ['pl_delivery_max_attempts']);
    assertValidationError(await api.put(path, { pl_delivery_max_bytes: 'big' }), ['pl_delivery_max_bytes']);
    assertValidationError(await api.put(path, { pl_delivery_max_records: 1.5 }), ['pl_delivery_max_records']);
    assertValidationError(await api.put(path, { max_records: 10 }), ['max_records']);
    assert.equal((await api.get(`/v1/pipes/${pipe.id}`)).body.limits, null, 'nothing stored');
    assertError(await api.put(`/v1/pipes/${RANDOM_UUID()}/limits`, {}), 404, 'not_found');
  });
});

describe('allowed origins', () => {
  test('POST /v1/pipes/:id/allowed-origins adds a normalised origin (201)', async () => {
    const pipe = await api.createPipe();
    const res = await api.post(`/v1/pipes/${pipe.id}/allowed-origins`, { origin_domain: 'HTTPS://App.Example.com:443' });
    assert.equal(res.status, 201, res.text);
    assert.match(res.body.id, UUID_RE);
    assert.equal(res.body.origin_domain, 'https://app.example.com');
    assert.ok(isDate(res.body.created_at));
    assert.deepEqual((await api.get(`/v1/pipes/${pipe.id}`)).body.allowed_origins, [res.body]);
  });

  test('invalid origins are 400 validation_error', async () => {
    const pipe = await api.createPipe();
    const path = `/v1/pipes/${pipe.id}/allowed-origins`;
    for (const origin of ['not a url', 'https://a.example/path', 'ftp://a.example', 'null', '']) {
      assertValidationError(await api.post(path, { origin_domain: origin }), ['origin_domain']);
    }
    assertValidationError(await api.post(path, {}), ['origin_domain']);
    assert.deepEqual((await api.get(`/v1/pipes/${pipe.id}`)).body.allowed_origins, []);
  });

  test('DELETE /v1/pipes/:id/allowed-origins/:oid answers 204; a second time 404', async () => {
    const pipe = await api.createPipe();
    const origin = await api.addOrigin(pipe.id, 'https://a.example');
    const keep = await api.addOrigin(pipe.id, 'https://b.example');
    const res = await api.delete(`/v1/pipes/${pipe.id}/allowed-origins/${origin.id}`);
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    assert.deepEqual((await api.get(`/v1/pipes/${pipe.id}`)).body.allowed_origins, [keep]);
    assertError(await api.delete(`/v1/pipes/${pipe.id}/allowed-origins/${origin.id}`), 404, 'not_found');
    assertError(
      await api.post(`/v1/pipes/${RANDOM_UUID()}/allowed-origins`, { origin_domain: 'https://a.example' }),
      404,
      'not_found',
    );
  });
});

describe('runs', () => {
  test('GET /v1/pipes/:id/runs lists delivery runs ({runs, next_cursor})', async () => {
    const pipe = await api.createPipe();
    const res = await api.get(`/v1/pipes/${pipe.id}/runs`);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { runs: [], next_cursor: null }, 'no worker runs in this stack');
    assertValidationError(await api.get(`/v1/pipes/${pipe.id}/runs?limit=0`), ['limit']);
    assertError(await api.get(`/v1/pipes/${RANDOM_UUID()}/runs`), 404, 'not_found');
  });

  test('GET /v1/pipes/:id/runs/:run_id of an unknown run is 404', async () => {
    const pipe = await api.createPipe();
    assertError(await api.get(`/v1/pipes/${pipe.id}/runs/${RANDOM_UUID()}`, { openapi: 'if-documented' }), 404, 'not_found');
  });
});
