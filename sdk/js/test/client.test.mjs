// The SDK against a real stack (control-plane, gateway and a delivery worker started from the
// build, on the Postgres and NATS that `bash deploy/batchpipe.sh test` starts): every method,
// what it sends and what it resolves to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

import { eventually, freePort, randomName, useStack } from '../../../tests/node/lib/stack.mjs';
import create_default, { BatchPipeClient, BatchPipeError, create_batchpipe_client } from '../index.js';

// BP_SDK_TEST_STACK: a JSON file describing a stack that runs already ({ gatewayUrl, fileRoot,
// workspaces: { a: { key }, b: { key } } }, with workers delivering files under fileRoot): the
// multi-replica test (tests/replicas/run.sh) runs this suite against its shape that way.
// Otherwise the suite starts its own stack.
const external = process.env.BP_SDK_TEST_STACK ? JSON.parse(readFileSync(process.env.BP_SDK_TEST_STACK, 'utf8')) : null;
let worker;
const stack =
  external ??
  useStack({
    async setup(s) {
      worker = await s.startWorker('sdk-worker');
    },
  });

const client = () => create_batchpipe_client({ base_url: `${stack.gatewayUrl}/`, api_key: stack.workspaces.a.key });
const clientB = () => create_batchpipe_client({ base_url: stack.gatewayUrl, api_key: stack.workspaces.b.key });

async function newPipe(c, body = {}) {
  const res = await c.create_pipe({ name: randomName('sdk'), ...body });
  assert.equal(res.status, 201, JSON.stringify(res.data));
  return res.data;
}

test('exports: the factory (named and default) and the class', () => {
  assert.equal(create_default, create_batchpipe_client);
  const c = create_batchpipe_client({ base_url: 'http://example.invalid/', api_key: 'bp_v1_x' });
  assert.ok(c instanceof BatchPipeClient);
  assert.equal(c.base_url, 'http://example.invalid');
  assert.throws(() => new BatchPipeClient({}), TypeError);
  assert.throws(() => create_batchpipe_client(), TypeError);
});

test('health: 200 without an API key', async () => {
  let sent;
  const c = create_batchpipe_client({
    base_url: stack.gatewayUrl,
    api_key: stack.workspaces.a.key,
    fetch: (url, init) => {
      sent = init.headers;
      return fetch(url, init);
    },
  });
  const res = await c.health();
  assert.equal(res.status, 200);
  assert.equal(res.ok, true);
  assert.equal(res.data.status, 'ok');
  assert.equal(sent.Authorization, undefined);
});

test('pipes: create, get, list (paged), update, delete', async () => {
  const c = client();
  const name = randomName('sdk_pipe');
  const created = await c.create_pipe({ name });
  assert.equal(created.status, 201);
  assert.equal(created.ok, true);
  assert.equal(created.data.name, name);
  const id = created.data.id;

  const got = await c.get_pipe(id);
  assert.equal(got.status, 200);
  assert.equal(got.data.id, id);

  const second = await newPipe(c);
  const page1 = await c.list_pipes({ limit: 1 });
  assert.equal(page1.status, 200);
  assert.equal(page1.data.pipes.length, 1);
  assert.ok(page1.data.next_cursor, 'a second page exists');
  const seen = new Set(page1.data.pipes.map((p) => p.id));
  for (let cursor = page1.data.next_cursor; cursor; ) {
    const page = await c.list_pipes({ limit: 1, cursor });
    assert.equal(page.status, 200);
    for (const p of page.data.pipes) seen.add(p.id);
    cursor = page.data.next_cursor;
  }
  assert.ok(seen.has(id) && seen.has(second.id), 'paging reaches every pipe');

  const renamed = await c.update_pipe(id, { name: `${name}_2` });
  assert.equal(renamed.status, 200);
  assert.equal(renamed.data.name, `${name}_2`);
  assert.equal((await c.get_pipe(id)).data.name, `${name}_2`);

  const deleted = await c.delete_pipe(id);
  assert.equal(deleted.status, 204);
  assert.equal(deleted.data, null);
  const gone = await c.get_pipe(id);
  assert.equal(gone.status, 404);
  assert.equal(gone.ok, false);
  assert.equal(gone.data.error, 'not_found');
});

test('HTTP errors resolve with ok: false and the parsed body', async () => {
  const invalid = await client().create_pipe({});
  assert.equal(invalid.status, 400);
  assert.equal(invalid.ok, false);
  assert.equal(typeof invalid.data.error, 'string');
  const noKey = await create_batchpipe_client({ base_url: stack.gatewayUrl }).list_pipes();
  assert.equal(noKey.status, 401);
  const badKey = await create_batchpipe_client({ base_url: stack.gatewayUrl, api_key: 'bp_v1_nope' }).list_pipes();
  assert.equal(badKey.status, 401);
  assert.equal(badKey.data.error, 'unauthorized');
  // Another workspace's pipe does not exist for this key.
  const pipe = await newPipe(client());
  assert.equal((await clientB().get_pipe(pipe.id)).status, 404);
});

test('a request without an HTTP answer rejects with BatchPipeError', async () => {
  const port = await freePort();
  const c = create_batchpipe_client({ base_url: `http://127.0.0.1:${port}`, api_key: 'bp_v1_x' });
  await assert.rejects(c.list_pipes(), (err) => {
    assert.ok(err instanceof BatchPipeError);
    assert.equal(err.method, 'GET');
    assert.equal(err.url, `http://127.0.0.1:${port}/v1/pipes`);
    assert.match(err.message, /ECONNREFUSED/);
    assert.ok(err.cause);
    return true;
  });
  const slow = create_batchpipe_client({
    base_url: stack.gatewayUrl,
    timeout_ms: 50,
    fetch: (url, init) =>
      new Promise((resolve, reject) => {
        // A server that never answers. The timer keeps the event loop alive until the abort
        // (AbortSignal.timeout's own timer does not).
        const hang = setTimeout(() => reject(new Error('the timeout did not fire')), 5000);
        init.signal.addEventListener('abort', () => {
          clearTimeout(hang);
          reject(init.signal.reason);
        });
      }),
  });
  await assert.rejects(slow.health(), BatchPipeError);
});

test('ingest: one record, an array, per-call keys, idempotency', async () => {
  const c = client();
  const pipe = await newPipe(c);
  const one = await c.ingest(pipe.id, { event: 'signup', user_id: '123' });
  assert.equal(one.status, 202);
  assert.equal(one.data.accepted, true);
  assert.equal(one.data.records_count, 1);
  assert.equal(one.data.pipe_id, pipe.id);
  assert.match(one.data.request_id, /\S/);

  const many = await c.ingest(pipe.id, [{ n: 1 }, { n: 2 }, { n: 3 }]);
  assert.equal(many.status, 202);
  assert.equal(many.data.records_count, 3);

  // Per call: the other workspace's key is not valid for this pipe; no key at all neither.
  assert.equal((await c.ingest(pipe.id, { n: 1 }, { api_key: stack.workspaces.b.key })).status, 401);
  assert.equal((await c.ingest(pipe.id, { n: 1 }, { api_key: null })).status, 401);
  const anonymous = create_batchpipe_client({ base_url: stack.gatewayUrl });
  assert.equal((await anonymous.ingest(pipe.id, { n: 1 }, { api_key: stack.workspaces.a.key })).status, 202);

  const key = randomName('idem');
  const first = await c.ingest(pipe.id, { n: 1 }, { idempotency_key: key });
  const again = await c.ingest(pipe.id, { n: 1 }, { idempotency_key: key });
  assert.equal(first.status, 202);
  assert.equal(first.data.duplicate, undefined);
  assert.equal(again.status, 202);
  assert.equal(again.data.duplicate, true);

  const bad = await c.ingest(pipe.id, [1, 2]);
  assert.equal(bad.status, 400);
  assert.equal(bad.data.error, 'invalid_payload');
  assert.equal((await c.ingest('not-a-uuid', { n: 1 })).status, 400);
});

test('ingest hint: the discovery JSON of a pipe', async () => {
  const pipe = await newPipe(client());
  const hint = await client().get_ingest_hint(pipe.id);
  assert.equal(hint.status, 200);
  assert.equal(hint.data.pipe_id, pipe.id);
  assert.equal(hint.data.method, 'POST');
  assert.equal((await client().get_ingest_hint('00000000-0000-4000-8000-000000000000')).status, 404);
});

test('allowed origins: add, then ingest with that origin from a CORS-only pipe, remove', async () => {
  const c = client();
  const pipe = await newPipe(c, { require_api_key: false });
  const added = await c.add_allowed_origin(pipe.id, { origin_domain: 'https://app.example.com' });
  assert.equal(added.status, 201);
  assert.equal(added.data.origin_domain, 'https://app.example.com');

  await eventually(async () => {
    const ok = await c.ingest(pipe.id, { page: '/' }, { api_key: null, origin: 'https://app.example.com' });
    assert.equal(ok.status, 202, JSON.stringify(ok.data));
  });
  const other = await c.ingest(pipe.id, { page: '/' }, { api_key: null, origin: 'https://evil.example.com' });
  assert.equal(other.status, 403);

  const removed = await c.remove_allowed_origin(pipe.id, added.data.id);
  assert.equal(removed.status, 204);
  assert.equal(removed.data, null);
  const origins = (await c.get_pipe(pipe.id)).data.allowed_origins ?? [];
  assert.equal(origins.length, 0);
});

test('limits: set and read back', async () => {
  const c = client();
  const pipe = await newPipe(c);
  const set = await c.set_pipe_limits(pipe.id, { pl_ingest_max_records_per_request: 2, pl_delivery_max_records: 500 });
  assert.equal(set.status, 200, JSON.stringify(set.data));
  assert.equal(set.data.pl_ingest_max_records_per_request, 2);
  assert.equal(set.data.pl_delivery_max_records, 500);
  await eventually(async () => {
    const res = await c.ingest(pipe.id, [{}, {}, {}]);
    assert.equal(res.status, 413);
    assert.equal(res.data.error, 'batch_too_large');
  });
  const invalid = await c.set_pipe_limits(pipe.id, { pl_delivery_max_records: -1 });
  assert.equal(invalid.status, 400);
});

test('destinations: create, update, status, runs delivered by a worker, dead letters, delete', async () => {
  const c = client();
  const pipe = await newPipe(c);
  const dir = randomName('sdk_files');
  const created = await c.create_destination(pipe.id, {
    type: 'file',
    name: 'files',
    config: { path: dir },
  });
  assert.equal(created.status, 201, JSON.stringify(created.data));
  const dest = created.data;

  const updated = await c.update_destination(pipe.id, dest.id, { name: 'files-2' });
  assert.equal(updated.status, 200, JSON.stringify(updated.data));
  assert.equal(updated.data.name, 'files-2');

  const blocked = await c.set_destination_status(pipe.id, dest.id, { destination_status: 'blocked' });
  assert.equal(blocked.status, 200);
  assert.equal(blocked.data.destination_status, 'blocked');
  const active = await c.set_destination_status(pipe.id, dest.id, { destination_status: 'active' });
  assert.equal(active.data.destination_status, 'active');
  assert.equal((await c.set_destination_status(pipe.id, dest.id, { destination_status: 'paused' })).status, 400);

  // Records reach the file sink through the worker; the run shows up in list_runs and get_run.
  assert.equal((await c.ingest(pipe.id, [{ n: 1 }, { n: 2 }])).status, 202);
  const run = await eventually(
    async () => {
      const runs = await c.list_runs(pipe.id, { limit: 10 });
      assert.equal(runs.status, 200);
      const done = runs.data.runs.find((r) => r.status === 'success');
      assert.ok(done, `a successful run: ${JSON.stringify(runs.data)}`);
      return done;
    },
    { timeoutMs: 20_000, intervalMs: 200 },
  );
  const one = await c.get_run(pipe.id, run.id);
  assert.equal(one.status, 200);
  assert.equal(one.data.id, run.id);
  assert.equal((await c.get_run(pipe.id, '00000000-0000-4000-8000-000000000000')).status, 404);
  const files = await readdir(path.join(stack.fileRoot, dir));
  assert.ok(files.length > 0, 'the worker wrote a file');
  const lines = (await readFile(path.join(stack.fileRoot, dir, files[0]), 'utf8')).trim().split('\n');
  assert.equal(lines.length, 2);

  const letters = await c.list_dead_letters(pipe.id, dest.id, { limit: 5 });
  assert.equal(letters.status, 200);
  assert.deepEqual(letters.data.dead_letters, []);
  assert.equal(letters.data.next_cursor, null);
  const replay = await c.replay_dead_letters(pipe.id, dest.id);
  assert.equal(replay.status, 200);
  assert.equal(replay.data.replayed, 0);

  const deleted = await c.delete_destination(pipe.id, dest.id);
  assert.equal(deleted.status, 204);
  assert.equal((await c.list_dead_letters(pipe.id, dest.id)).status, 404);
  assert.equal((await c.delete_destination(pipe.id, dest.id)).status, 404);
});

test('API keys: create (secret once), list (no secrets), use, revoke', async () => {
  const c = client();
  const created = await c.create_api_key({ name: randomName('sdk_key') });
  assert.equal(created.status, 201, JSON.stringify(created.data));
  const { id, secret } = created.data;
  assert.match(secret, /^bp_v1_/);

  const listed = await c.list_api_keys({ limit: 200 });
  assert.equal(listed.status, 200);
  const entry = listed.data.api_keys.find((k) => k.id === id);
  assert.ok(entry, 'the new key is listed');
  assert.ok(!JSON.stringify(listed.data).includes(secret), 'no secret in the list');

  const withNewKey = create_batchpipe_client({ base_url: stack.gatewayUrl, api_key: secret });
  assert.equal((await withNewKey.list_pipes()).status, 200);
  // A key cannot revoke itself.
  assert.equal((await withNewKey.revoke_api_key(id)).status, 409);

  const revoked = await c.revoke_api_key(id);
  assert.equal(revoked.status, 204);
  await eventually(async () => assert.equal((await withNewKey.list_pipes()).status, 401));
});

test('path parameters are encoded, and empty ones refused before any request', async () => {
  const c = client();
  // Unencoded, "../api-keys" would be normalized into GET /v1/api-keys (200).
  const traversal = await c.get_pipe('../api-keys');
  assert.ok([400, 404].includes(traversal.status), `status ${traversal.status}`);
  assert.throws(() => c.get_pipe(''), TypeError);
});

test('worker stays up', { skip: external ? 'the stack is not ours' : false }, () => assert.ok(worker.service.running));
