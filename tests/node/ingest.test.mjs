// POST/GET /v1/ingest/:pipe_id: the 202 body, what lands in JetStream, and every row of seed
// 000's error table (503 buffer_unavailable has its own file).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Api, assertError, RANDOM_UUID, UUID_RE } from './lib/api.mjs';
import { JetStreamProbe } from './lib/jetstream.mjs';
import { eventually, useStack } from './lib/stack.mjs';

let api; // workspace A
let other; // workspace B
let js;
let pipe; // API-key pipe with a parked destination, so JetStream keeps its messages

const stack = useStack({
  async setup() {
    api = new Api(stack.gatewayUrl, { key: stack.workspaces.a.key });
    other = new Api(stack.gatewayUrl, { key: stack.workspaces.b.key });
    js = await JetStreamProbe.connect(stack.natsUrl);
    pipe = await api.createPipe({ name: 'ingest_main' });
    await api.createDestination(pipe.id);
  },
  async teardown() {
    await js?.close();
  },
});

/** A pipe with a destination (so messages stay in the stream); fields go to POST /v1/pipes. */
async function pipeWithDestination(fields = {}, destination = {}) {
  const p = await api.createPipe(fields);
  await api.createDestination(p.id, destination);
  return p;
}

/** Runs fn and asserts that no message was added to the pipe's subject meanwhile. */
async function assertNothingStored(pipeId, fn) {
  const before = await js.lastSeq(pipeId);
  const result = await fn();
  assert.equal(await js.lastSeq(pipeId), before, 'no JetStream message was stored');
  return result;
}

function assertAccepted(res, p, count) {
  assert.equal(res.status, 202, res.text);
  assert.equal(res.body.accepted, true);
  assert.equal(res.body.pipe_id, p.id);
  assert.equal(res.body.pipe_name, p.name);
  assert.equal(res.body.records_count, count);
  assert.match(res.body.request_id, UUID_RE);
  assert.equal(res.body.message, 'Records accepted for processing');
}

describe('accepted ingest', () => {
  test('one JSON object is 202 and lands in JetStream as a one-record array', async () => {
    const record = { event: 'signup', user_id: '123', nested: { plan: 'pro', tags: ['a', 'b'] } };
    const res = await api.ingest(pipe.id, record);
    assertAccepted(res, pipe, 1);
    assert.equal(res.body.duplicate, undefined, 'no duplicate flag on a first delivery');
    assert.equal(res.headers.get('x-request-id'), res.body.request_id, 'X-Request-ID is the request id');

    const msg = await js.lastMessage(pipe.id);
    assert.ok(msg, 'a message is stored on bp.in.<pipe_id>');
    assert.equal(msg.subject, `bp.in.${pipe.id}`);
    assert.deepEqual(msg.records, [record]);
    assert.equal(msg.headers['Bp-Request-Id'], res.body.request_id);
    assert.equal(msg.headers['Bp-Record-Count'], '1');
    // Without an Idempotency-Key there is nothing to deduplicate: no message id to hold in the
    // stream's duplicate window (decision 0009).
    assert.equal(msg.headers['Nats-Msg-Id'], undefined, 'no Nats-Msg-Id without an Idempotency-Key');
  });

  test('an array of objects is 202 with records_count and one message for the request', async () => {
    const records = [{ n: 1 }, { n: 2, s: 'two' }, { n: 3, ok: true, nothing: null }];
    const countBefore = await js.messageCount(pipe.id);
    const res = await api.ingest(pipe.id, records);
    assertAccepted(res, pipe, 3);
    assert.equal(await js.messageCount(pipe.id), countBefore + 1, 'one message per request');
    const msg = await js.lastMessage(pipe.id);
    assert.deepEqual(msg.records, records, 'records in order, unchanged');
    assert.equal(msg.headers['Bp-Record-Count'], '3');
    assert.equal(msg.headers['Bp-Request-Id'], res.body.request_id);
  });

  test('a 3 MB body (over NATS\'s 1 MB default message size) is accepted and stored whole', async () => {
    const records = Array.from({ length: 3000 }, (_, i) => ({ i, pad: 'x'.repeat(1000) }));
    const countBefore = await js.messageCount(pipe.id);
    const res = await api.ingest(pipe.id, records);
    assertAccepted(res, pipe, 3000);
    assert.equal(await js.messageCount(pipe.id), countBefore + 1);
    assert.equal((await js.lastMessage(pipe.id)).records.length, 3000);
  });

  test('{} is one (empty) record', async () => {
    const res = await api.ingest(pipe.id, {});
    assertAccepted(res, pipe, 1);
    assert.deepEqual((await js.lastMessage(pipe.id)).records, [{}]);
  });

  test('each request gets its own request_id, even when the client sends X-Request-ID', async () => {
    const first = await api.ingest(pipe.id, { n: 1 }, { headers: { 'x-request-id': 'client-trace-1' } });
    const second = await api.ingest(pipe.id, { n: 2 }, { headers: { 'x-request-id': 'client-trace-1' } });
    assert.equal(first.status, 202);
    assert.equal(first.headers.get('x-request-id'), 'client-trace-1', 'the client id is echoed');
    assert.notEqual(first.body.request_id, second.body.request_id);
    assert.match(first.body.request_id, UUID_RE);
  });

  test('Content-Type application/json with charset, in any case, is accepted', async () => {
    const res = await api.ingest(pipe.id, { a: 1 }, { contentType: 'Application/Json; charset=UTF-8' });
    assertAccepted(res, pipe, 1);
  });

  test('enrichment adds the ingest timestamp and client IP fields (server values win)', async () => {
    const p = await pipeWithDestination();
    await api.updatePipe(p.id, { enrich_ingest_timestamp_field: 'received_at', enrich_client_ip_field: 'client_ip' });
    const started = Date.now();
    const msg = await eventually(async () => {
      const res = await api.ingest(p.id, [{ event: 'a' }, { event: 'b', client_ip: '6.6.6.6' }]);
      assertAccepted(res, p, 2);
      const stored = await js.lastMessage(p.id);
      assert.ok('received_at' in stored.records[0], `enrichment applied: ${stored.raw}`);
      return stored;
    });
    for (const record of msg.records) {
      assert.equal(record.client_ip, '127.0.0.1', 'client IP is the peer address, not the client-sent value');
      const ts = Date.parse(record.received_at);
      assert.ok(!Number.isNaN(ts), `received_at is a timestamp: ${record.received_at}`);
      assert.ok(ts >= started - 5000 && ts <= Date.now() + 5000, 'received_at is now');
    }
    assert.deepEqual(
      msg.records.map((r) => r.event),
      ['a', 'b'],
    );

    await api.updatePipe(p.id, { enrich_ingest_timestamp_field: null, enrich_client_ip_field: null });
    await eventually(async () => {
      await api.ingest(p.id, { event: 'plain' });
      assert.deepEqual((await js.lastMessage(p.id)).records, [{ event: 'plain' }], 'enrichment switched off');
    });
  });

  test('a repeated Idempotency-Key is 202 duplicate:true and stored once', async () => {
    const p = await pipeWithDestination();
    for (const header of ['idempotency-key', 'x-idempotency-key']) {
      const key = `order-${header}-${RANDOM_UUID()}`;
      const countBefore = await js.messageCount(p.id);
      const first = await api.ingest(p.id, { order: 1 }, { headers: { [header]: key } });
      assertAccepted(first, p, 1);
      assert.equal(first.body.duplicate, undefined);
      const again = await api.ingest(p.id, { order: 1 }, { headers: { [header]: key } });
      assertAccepted(again, p, 1);
      assert.equal(again.body.duplicate, true, `${header}: repeat is flagged`);
      assert.equal(await js.messageCount(p.id), countBefore + 1, `${header}: stored once`);
      assert.equal((await js.lastMessage(p.id)).headers['Nats-Msg-Id'], `${p.id}:${key}`, `${header}: the message id`);
    }
  });

  test('the same Idempotency-Key on two pipes is not a duplicate', async () => {
    const p1 = await pipeWithDestination();
    const p2 = await pipeWithDestination();
    const key = `shared-${RANDOM_UUID()}`;
    assert.equal((await api.ingest(p1.id, { a: 1 }, { headers: { 'idempotency-key': key } })).body.duplicate, undefined);
    assert.equal((await api.ingest(p2.id, { a: 1 }, { headers: { 'idempotency-key': key } })).body.duplicate, undefined);
  });

  test('a paused pipe still accepts records', async () => {
    const p = await pipeWithDestination({ status: 'paused' });
    assertAccepted(await api.ingest(p.id, { a: 1 }), p, 1);
  });

  test('an upper-case pipe id is the same pipe', async () => {
    const res = await api.ingest(pipe.id.toUpperCase(), { upper: true });
    assertAccepted(res, pipe, 1);
    assert.deepEqual((await js.lastMessage(pipe.id)).records, [{ upper: true }]);
  });

  test('records wait in JetStream for a blocked destination', async () => {
    const p = await pipeWithDestination({}, { destination_status: 'blocked' });
    const res = await api.ingest(p.id, [{ held: 1 }, { held: 2 }]);
    assertAccepted(res, p, 2);
    const msg = await js.lastMessage(p.id);
    assert.equal(msg?.headers['Bp-Request-Id'], res.body.request_id, 'the message is kept for the blocked destination');
    assert.deepEqual(msg.records, [{ held: 1 }, { held: 2 }]);
  });

  test('a pipe without destinations accepts records (202)', async () => {
    const p = await api.createPipe();
    assertAccepted(await api.ingest(p.id, [{ a: 1 }, { a: 2 }]), p, 2);
  });

  test('ingest counts appear in the pipe usage', async () => {
    const p = await pipeWithDestination();
    await api.ingest(p.id, [{ a: 1 }, { a: 2 }]);
    await api.ingest(p.id, { a: 3 });
    await eventually(
      async () => {
        const usage = (await api.get(`/v1/pipes/${p.id}`)).body.usage;
        assert.equal(usage.total.requests_accepted, 2);
        assert.equal(usage.total.records_accepted, 3);
        assert.equal(usage.last_24h.records_accepted, 3);
        assert.ok(usage.total.bytes_accepted > 0);
      },
      { timeoutMs: 8000, intervalMs: 250 },
    );
  });
});

describe('GET /v1/ingest/:pipe_id', () => {
  test('answers 200 with a JSON hint and ingests nothing', async () => {
    const res = await assertNothingStored(pipe.id, () => api.get(`/v1/ingest/${pipe.id}`, { key: null }));
    assert.equal(res.status, 200);
    assert.equal(typeof res.body, 'object');
    assert.match(res.text, /POST/, 'the hint says to use POST');
  });

  test('invalid id is 400 invalid_pipe_id; unknown or inactive pipe is 404 pipe_not_found', async () => {
    assertError(await api.get('/v1/ingest/not-a-uuid', { key: null }), 400, 'invalid_pipe_id');
    assertError(await api.get(`/v1/ingest/${RANDOM_UUID()}`, { key: null }), 404, 'pipe_not_found');
    const p = await api.createPipe();
    await api.updatePipe(p.id, { status: 'inactive' });
    await eventually(async () => assertError(await api.get(`/v1/ingest/${p.id}`, { key: null }), 404, 'pipe_not_found'));
  });
});

describe('ingest error table', () => {
  test('400 invalid_pipe_id when pipe_id is not a UUID (before authentication)', async () => {
    for (const id of ['not-a-uuid', '1234', `${RANDOM_UUID()}x`, 'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz']) {
      assertError(await api.ingest(id, { a: 1 }), 400, 'invalid_pipe_id');
      assertError(await api.ingest(id, { a: 1 }, { key: null }), 400, 'invalid_pipe_id');
    }
  });

  test('400 invalid_payload when the body is not an object or an array of objects', async () => {
    for (const body of ['{"a":', 'not json', '"text"', '42', 'null', 'true', '[1,2]', '[{"a":1},2]', '[[{"a":1}]]', '{"a":1} {"b":2}']) {
      const res = await assertNothingStored(pipe.id, () => api.ingest(pipe.id, body));
      assertError(res, 400, 'invalid_payload');
    }
  });

  test('400 empty_payload for an empty body or an empty array', async () => {
    for (const body of ['', '   \n', '[]']) {
      const res = await assertNothingStored(pipe.id, () => api.ingest(pipe.id, body));
      assertError(res, 400, 'empty_payload');
    }
  });

  test('401 unauthorized for a missing or invalid API key', async () => {
    const cases = [
      { key: null },
      { key: 'bp_v1_thisisnotarealkey000000000000000000000000000000' },
      { key: `${stack.workspaces.a.key}x` },
      { key: null, headers: { authorization: stack.workspaces.a.key } },
      { key: null, headers: { authorization: `Basic ${stack.workspaces.a.key}` } },
    ];
    for (const options of cases) {
      const res = await assertNothingStored(pipe.id, () => api.ingest(pipe.id, { a: 1 }, options));
      assertError(res, 401, 'unauthorized');
    }
  });

  test("401 unauthorized for a valid key of another workspace", async () => {
    const res = await assertNothingStored(pipe.id, () => other.ingest(pipe.id, { a: 1 }));
    assertError(res, 401, 'unauthorized');
  });

  test('401 unauthorized for a CORS-only pipe without Origin', async () => {
    const p = await pipeWithDestination({ require_api_key: false });
    await api.addOrigin(p.id, 'https://app.example');
    await eventually(async () => {
      const res = await assertNothingStored(p.id, () => api.ingest(p.id, { a: 1 }, { key: null }));
      assertError(res, 401, 'unauthorized');
    });
    const withKey = await assertNothingStored(p.id, () => api.ingest(p.id, { a: 1 }));
    assertError(withKey, 401, 'unauthorized');
  });

  test('403 forbidden when the Origin is not allowed', async () => {
    const keyPipe = await pipeWithDestination();
    await api.addOrigin(keyPipe.id, 'https://app.example');
    const corsPipe = await pipeWithDestination({ require_api_key: false });
    await api.addOrigin(corsPipe.id, 'https://app.example');
    await eventually(async () => {
      const res = await assertNothingStored(keyPipe.id, () =>
        api.ingest(keyPipe.id, { a: 1 }, { headers: { origin: 'https://evil.example' } }),
      );
      assertError(res, 403, 'forbidden');
    });
    for (const origin of ['https://evil.example', 'http://app.example', 'https://app.example:8443', 'null']) {
      const res = await assertNothingStored(corsPipe.id, () =>
        api.ingest(corsPipe.id, { a: 1 }, { key: null, headers: { origin } }),
      );
      assertError(res, 403, 'forbidden');
      assert.notEqual(res.headers.get('access-control-allow-origin'), origin, 'a refused origin is not echoed');
    }
  });

  test('404 pipe_not_found for an unknown pipe, a deleted pipe and an inactive pipe', async () => {
    assertError(await api.ingest(RANDOM_UUID(), { a: 1 }), 404, 'pipe_not_found');
    assertError(await api.ingest(RANDOM_UUID(), { a: 1 }, { key: null }), 404, 'pipe_not_found');

    const deleted = await api.createPipe();
    assert.equal((await api.ingest(deleted.id, { a: 1 })).status, 202);
    assert.equal((await api.delete(`/v1/pipes/${deleted.id}`)).status, 204);
    await eventually(async () => assertError(await api.ingest(deleted.id, { a: 1 }), 404, 'pipe_not_found'));

    const p = await pipeWithDestination();
    assert.equal((await api.ingest(p.id, { a: 1 })).status, 202);
    await api.updatePipe(p.id, { status: 'inactive' });
    await eventually(async () => {
      const res = await assertNothingStored(p.id, () => api.ingest(p.id, { a: 1 }));
      assertError(res, 404, 'pipe_not_found');
    });
    await api.updatePipe(p.id, { status: 'active' });
    await eventually(async () => assertAccepted(await api.ingest(p.id, { a: 2 }), p, 1));
  });

  test('413 batch_too_large above pl_ingest_max_records_per_request', async () => {
    const p = await pipeWithDestination();
    await api.putLimits(p.id, { pl_ingest_max_records_per_request: 2 });
    await eventually(async () => {
      const res = await assertNothingStored(p.id, () => api.ingest(p.id, [{ n: 1 }, { n: 2 }, { n: 3 }]));
      assertError(res, 413, 'batch_too_large');
    });
    assertAccepted(await api.ingest(p.id, [{ n: 1 }, { n: 2 }]), p, 2);
    assertAccepted(await api.ingest(p.id, { n: 1 }), p, 1);

    await api.putLimits(p.id, {});
    await eventually(async () => assertAccepted(await api.ingest(p.id, [{ n: 1 }, { n: 2 }, { n: 3 }]), p, 3));
  });

  test('413 payload_too_large above pl_ingest_max_bytes_per_request', async () => {
    const p = await pipeWithDestination();
    await api.putLimits(p.id, { pl_ingest_max_bytes_per_request: 100 });
    await eventually(async () => {
      const res = await assertNothingStored(p.id, () => api.ingest(p.id, { blob: 'x'.repeat(200) }));
      assert.equal(res.status, 413, res.text);
      assert.equal(typeof res.body.error, 'string');
    });
    assertAccepted(await api.ingest(p.id, { small: 1 }), p, 1);
  });

  test('415 unsupported_media_type when the body is not declared JSON', async () => {
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx']) {
      const res = await assertNothingStored(pipe.id, () => api.ingest(pipe.id, { a: 1 }, { contentType }));
      assertError(res, 415, 'unsupported_media_type');
    }
  });

  test('500 configuration_error for a CORS-only pipe with no allowed origin and no "any origin"', async () => {
    const p = await pipeWithDestination({ require_api_key: false });
    for (const options of [{ key: null, headers: { origin: 'https://app.example' } }, { key: null }, {}]) {
      const res = await assertNothingStored(p.id, () => api.ingest(p.id, { a: 1 }, options));
      assertError(res, 500, 'configuration_error');
    }
  });

  test('an invalid Idempotency-Key is refused with 400 and nothing is stored', async () => {
    for (const key of ['x'.repeat(256), 'has space']) {
      const res = await assertNothingStored(pipe.id, () => api.ingest(pipe.id, { a: 1 }, { headers: { 'idempotency-key': key } }));
      assert.equal(res.status, 400, res.text);
    }
  });
});
