// 503 buffer_unavailable, black-box: a second gateway whose NATS has no JetStream (so no
// stream BP_INGEST) cannot enqueue anything. It answers 503 with a request_id, and the client
// may retry against a working gateway.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Api, assertError, UUID_RE } from './lib/api.mjs';
import { freePort, sleep, useStack } from './lib/stack.mjs';

const NATS_SERVER = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'].find(existsSync);

let api;
let broken; // Api of the gateway without a buffer
const stack = useStack({
  async setup() {
    api = new Api(stack.gatewayUrl, { key: stack.workspaces.a.key });
    if (!NATS_SERVER) return;
    const port = await freePort();
    const nats = stack.spawn('nats-without-jetstream', NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port)]);
    for (let i = 0; i < 100 && nats.running; i += 1) {
      if (await canConnect(port)) break;
      await sleep(50);
    }
    const gateway = await stack.startGateway('gateway-without-buffer', {
      BP_NATS_URL: `nats://127.0.0.1:${port}`,
      BP_PUBLISH_TIMEOUT_MS: '1000',
    });
    broken = new Api(gateway.url, { key: stack.workspaces.a.key });
  },
});

async function canConnect(port) {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

describe('503 buffer_unavailable', { skip: NATS_SERVER ? false : 'nats-server is not installed' }, () => {
  test('a gateway that cannot enqueue answers 503 buffer_unavailable with request_id', async () => {
    const pipe = await api.createPipe();
    await api.createDestination(pipe.id);
    const started = Date.now();
    const res = await broken.ingest(pipe.id, [{ a: 1 }, { a: 2 }]);
    assertError(res, 503, 'buffer_unavailable');
    assert.match(res.body.request_id, UUID_RE, 'the body carries the request_id');
    assert.ok(Date.now() - started < 5000, 'answers promptly');

    const retry = await api.ingest(pipe.id, [{ a: 1 }, { a: 2 }]);
    assert.equal(retry.status, 202, 'safe to retry on a working gateway');
  });

  test('the same gateway still answers health and management', async () => {
    assert.equal((await broken.get('/v1/health')).status, 200);
    assert.equal((await broken.get('/v1/pipes')).status, 200);
  });
});
