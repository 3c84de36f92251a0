// Operations endpoints of every service after real traffic: /metrics of the gateway (requests
// by route pattern and status, records and bytes accepted, publish latency), the control-plane
// (gRPC calls by method and code, Postgres pool) and a delivery worker (records delivered, batch
// sizes, leases, consumer backlog), and /readyz on each. Exact counts: the stack is this file's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Api } from './lib/api.mjs';
import { eventually, randomName, useStack } from './lib/stack.mjs';

let api;
let worker;
const stack = useStack({
  workspaces: ['a'],
  async setup(s) {
    api = new Api(s.gatewayUrl, { key: s.workspaces.a.key });
    worker = await s.startWorker('metrics-worker');
  },
});

/** Samples of a Prometheus text page: [{name, labels: {..}, value}]. */
async function scrape(url) {
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200, `${url}/metrics`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  const samples = [];
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `malformed sample line: ${line}`);
    const labels = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

/** The value of the sample named `name` whose labels include `labels` (undefined if none). */
function value(samples, name, labels = {}) {
  const s = samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value;
}

test('metrics and probes of the gateway, the control-plane and a worker after traffic', async () => {
  const pipe = await api.createPipe();
  const dest = await api.createDestination(pipe.id, { type: 'file', name: 'files', config: { path: randomName('m') } });
  const bodies = [{ a: 1 }, [{ a: 1 }, { a: 2 }], [{ a: 1 }, { a: 2 }, { a: 3 }]];
  for (const body of bodies) assert.equal((await api.ingest(pipe.id, body)).status, 202);
  // What is published: each body as an array of records, as the client wrote it.
  const published = bodies.reduce((n, b) => n + JSON.stringify(Array.isArray(b) ? b : [b]).length, 0);
  assert.equal((await fetch(`${stack.gatewayUrl}/no/such/route`)).status, 404);
  assert.equal((await fetch(`${stack.gatewayUrl}/v1/pipes`)).status, 401);

  const gw = await scrape(stack.gatewayUrl);
  const ingest = { method: 'POST', route: '/v1/ingest/:p' };
  assert.equal(value(gw, 'bp_gateway_http_requests_total', { ...ingest, status: '202' }), 3);
  assert.equal(value(gw, 'bp_gateway_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' }), 1);
  assert.equal(value(gw, 'bp_gateway_http_requests_total', { method: 'GET', route: '/v1/pipes', status: '401' }), 1);
  assert.equal(value(gw, 'bp_gateway_request_seconds_count', ingest), 3);
  assert.equal(value(gw, 'bp_gateway_request_seconds_bucket', { ...ingest, le: '+Inf' }), 3);
  assert.equal(value(gw, 'bp_gateway_records_accepted_total'), 6);
  assert.equal(value(gw, 'bp_gateway_bytes_accepted_total'), published);
  assert.equal(value(gw, 'bp_gateway_publish_seconds_count'), 3);
  assert.ok(value(gw, 'bp_gateway_publish_seconds_sum') > 0);
  assert.ok(value(gw, 'bp_gateway_pipe_cache_misses_total') >= 1);
  assert.ok(value(gw, 'bp_gateway_key_cache_hits_total') >= 1);
  // Two I/O threads started (the suite's setting); this light traffic keeps every connection on
  // the first (BP_THREAD_SPREAD=load), so none has moved.
  assert.equal(value(gw, 'bp_gateway_io_threads'), 2);
  assert.equal(value(gw, 'bp_gateway_io_threads_active'), 1);
  assert.equal(value(gw, 'bp_gateway_connection_moves_total'), 0);
  assert.equal(value(gw, 'bp_gateway_io_thread_trials_failed_total'), 0);
  // Ids never become labels.
  assert.ok(!gw.some((s) => Object.values(s.labels).some((v) => v.includes(pipe.id))), 'no pipe id in a label');

  const cp = await scrape(stack.controlPlaneHttp);
  assert.equal(value(cp, 'bp_control_plane_grpc_requests_total', { method: 'CreatePipe', code: 'OK' }), 1);
  assert.equal(value(cp, 'bp_control_plane_grpc_requests_total', { method: 'CreateDestination', code: 'OK' }), 1);
  assert.ok(value(cp, 'bp_control_plane_grpc_requests_total', { method: 'ResolvePipe', code: 'OK' }) >= 1);
  assert.equal(value(cp, 'bp_control_plane_grpc_seconds_count', { method: 'CreatePipe' }), 1);
  assert.ok(value(cp, 'bp_control_plane_pg_pool_size') > 0);
  assert.equal(value(cp, 'bp_control_plane_nats_connected'), 1);

  const w = await eventually(
    async () => {
      const samples = await scrape(worker.url);
      assert.equal(value(samples, 'bp_worker_records_delivered_total', { type: 'file' }), 6);
      assert.equal(value(samples, 'bp_worker_consumer_pending', { destination_id: dest.id, type: 'file' }), 0);
      return samples;
    },
    { timeoutMs: 20_000, intervalMs: 200 },
  );
  const batches = value(w, 'bp_worker_batches_total', { type: 'file' });
  assert.ok(batches >= 1 && batches <= 3, `${batches} batches`);
  assert.equal(value(w, 'bp_worker_batch_records_count', { type: 'file' }), batches);
  assert.equal(value(w, 'bp_worker_batch_records_sum', { type: 'file' }), 6);
  assert.equal(value(w, 'bp_worker_sink_seconds_count', { type: 'file' }), batches);
  assert.equal(value(w, 'bp_worker_leases_held'), 1);

  for (const url of [stack.gatewayUrl, stack.controlPlaneHttp, worker.url]) {
    const res = await fetch(`${url}/readyz`);
    assert.equal(res.status, 200, `${url}/readyz`);
    assert.equal((await fetch(`${url}/healthz`)).status, 200, `${url}/healthz`);
  }
});

test('a worker reports the backlog of a blocked destination it holds', async () => {
  const pipe = await api.createPipe();
  const dest = await api.createDestination(pipe.id, {
    type: 'file',
    name: 'held',
    destination_status: 'blocked',
    config: { path: randomName('b') },
  });
  for (let i = 0; i < 4; i += 1) assert.equal((await api.ingest(pipe.id, { i })).status, 202);
  // A blocked destination has no runner holding it: no backlog series from this worker.
  const before = await scrape(worker.url);
  assert.equal(value(before, 'bp_worker_consumer_pending', { destination_id: dest.id }), undefined);
  // Active again: while it drains, the series appears, and ends at 0.
  const res = await api.patch(`/v1/pipes/${pipe.id}/destinations/${dest.id}/status`, { destination_status: 'active' });
  assert.equal(res.status, 200);
  await eventually(
    async () => assert.equal(value(await scrape(worker.url), 'bp_worker_consumer_pending', { destination_id: dest.id }), 0),
    { timeoutMs: 20_000, intervalMs: 200 },
  );
});
