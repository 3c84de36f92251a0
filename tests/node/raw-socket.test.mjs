// The gateway on raw bytes: malformed request lines, bad chunked encoding, oversized headers and
// bodies, garbage after a valid request, slow-loris clients. Each case asserts what comes back
// (a status line, or the connection closed) and that the gateway still answers /v1/health; at
// the end its resident memory has not grown past a bound. The gateway runs with short timeouts
// so that the slow clients are dropped within the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { useStack, sleep } from './lib/stack.mjs';

let gw; // { url, service }
let host;
let port;
const stack = useStack({
  workspaces: ['a'],
  async setup(s) {
    gw = await s.startGateway('gw-raw', {
      BP_READ_TIMEOUT_MS: '1500',
      BP_IDLE_TIMEOUT_MS: '1500',
      BP_MAX_HEADER_BYTES: '8192',
      BP_MAX_BODY_BYTES: '65536',
    });
    ({ hostname: host, port } = new URL(gw.url));
  },
});

/** Sends `chunks` (strings or Buffers, with optional pauses as numbers of ms) and collects the answer until close or timeout. */
function exchange(chunks, { timeoutMs = 5000 } = {}) {
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), host);
    let data = Buffer.alloc(0);
    let closed = false;
    const done = () => {
      if (closed) return;
      closed = true;
      socket.destroy();
      resolve({ text: data.toString('latin1'), closedByServer: socket.readableEnded });
    };
    socket.on('data', (d) => (data = Buffer.concat([data, d])));
    socket.on('end', done);
    socket.on('close', done);
    socket.on('error', done);
    socket.setTimeout(timeoutMs, done);
    socket.on('connect', async () => {
      for (const c of chunks) {
        if (typeof c === 'number') await sleep(c);
        else if (!socket.destroyed) socket.write(c);
      }
    });
  });
}

const statusOf = (text) => Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1] ?? 0);
const statuses = (text) => [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

// On a connection of its own: fetch() would reuse a kept-alive connection, and with the gateway's
// 1.5-s idle timeout the gateway may close it just as fetch() sends on it ("fetch failed", once in
// a CI run), which says nothing about the gateway still serving.
async function stillServing() {
  const { text } = await exchange(['GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
  assert.equal(statusOf(text), 200, `the gateway still answers: ${text.slice(0, 200)}`);
}

function rssKiB() {
  const status = readFileSync(`/proc/${gw.service.proc.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
}

const cases = [
  ['a malformed request line', ['GARBAGE\r\n\r\n'], [400]],
  ['a bad HTTP version', ['GET /v1/health HTTP/9.9\r\nHost: x\r\n\r\n'], [400]],
  ['a header line without a colon', ['GET /v1/health HTTP/1.1\r\nHost x\r\n\r\n'], [400]],
  ['NUL bytes in the target', ['GET /v1/\0health HTTP/1.1\r\nHost: x\r\n\r\n'], [400]],
  ['bad chunked encoding', ['POST /v1/ingest/00000000-0000-4000-8000-000000000000 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n'], [400]],
  ['a chunk larger than the body cap', ['POST /v1/ingest/00000000-0000-4000-8000-000000000000 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFF\r\n'], [413]],
  ['Content-Length and chunked together', ['POST /v1/ingest/00000000-0000-4000-8000-000000000000 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'], [400]],
  ['an invalid Content-Length', ['POST /v1/pipes HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n'], [400]],
  ['headers over the cap', [`GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`], [431]],
  ['a declared body over the cap', ['POST /v1/ingest/00000000-0000-4000-8000-000000000000 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{'], [413]],
];

for (const [name, chunks, expected] of cases) {
  test(`raw: ${name} → ${expected.join(' or ')} and close`, async () => {
    const { text } = await exchange(chunks);
    assert.ok(expected.includes(statusOf(text)), `${name}: got ${JSON.stringify(text.slice(0, 120))}`);
    assert.match(text, /\r\nConnection: close\r\n/i, 'the gateway closes after an unparseable request');
    await stillServing();
  });
}

test('raw: garbage after a valid request: the request is answered, then 400 and close', async () => {
  const { text } = await exchange(['GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n', 'this is not http\r\n\r\n']);
  const seen = statuses(text);
  assert.equal(seen[0], 200, text.slice(0, 200));
  assert.ok(seen.length === 1 || seen[1] === 400, `then: ${seen}`);
  await stillServing();
});

test('raw: pipelined requests are answered in order', async () => {
  const req = 'GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n';
  const { text } = await exchange([req + req + 'GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
  assert.deepEqual(statuses(text), [200, 200, 404]);
});

test('raw: bodies that come with the header, after it, or with the next request are read whole', async () => {
  // An unknown pipe answers 404 after the whole request is read. The body looks like a request:
  // were it taken for one, an extra status would come back.
  const body = 'GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n';
  const post = `POST /v1/ingest/00000000-0000-4000-8000-000000000000 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n`;
  const last = 'GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
  // Two requests with their bodies and a third in one write.
  let { text } = await exchange([post + '\r\n' + body + post + '\r\n' + body + last]);
  assert.deepEqual(statuses(text), [404, 404, 200], text.slice(0, 300));
  // The header alone, then the body in two pieces, then the next request.
  ({ text } = await exchange([post + '\r\n', 100, body.slice(0, 10), 100, body.slice(10) + last]));
  assert.deepEqual(statuses(text), [404, 200], text.slice(0, 300));
  // Part of the body with the header, the rest with the next request.
  ({ text } = await exchange([post + '\r\n' + body.slice(0, 5), 100, body.slice(5) + last]));
  assert.deepEqual(statuses(text), [404, 200], text.slice(0, 300));
  // Expect: 100-continue: the body is sent after the interim answer.
  ({ text } = await exchange([post + 'Expect: 100-continue\r\n\r\n', 200, body + last]));
  assert.deepEqual(statuses(text), [100, 404, 200], text.slice(0, 300));
  // A chunked body, whole in the first write and split across two.
  const chunked = 'POST /v1/ingest/00000000-0000-4000-8000-000000000000 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n';
  ({ text } = await exchange([chunked + last]));
  assert.deepEqual(statuses(text), [404, 200], text.slice(0, 300));
  ({ text } = await exchange([chunked.slice(0, -9), 100, chunked.slice(-9) + last]));
  assert.deepEqual(statuses(text), [404, 200], text.slice(0, 300));
});

test('raw: slow-loris clients are dropped by the read timeout; memory stays bounded', async () => {
  const before = rssKiB();
  // 200 connections that send a header byte now and then, never finishing the request.
  const sockets = [];
  for (let i = 0; i < 200; i += 1) {
    const s = net.connect(Number(port), host);
    s.on('error', () => {});
    s.write('POST /v1/pipes HTTP/1.1\r\nHost: x\r\n');
    sockets.push(s);
  }
  const drip = setInterval(() => {
    for (const s of sockets) if (!s.destroyed) s.write('X-A: b\r\n');
  }, 300);
  try {
    await stillServing(); // others are served meanwhile
    const closed = await Promise.all(
      sockets.map(
        (s) =>
          new Promise((resolve) => {
            const t = setTimeout(() => resolve(false), 6000);
            s.on('close', () => {
              clearTimeout(t);
              resolve(true);
            });
          }),
      ),
    );
    assert.equal(closed.filter(Boolean).length, 200, 'every slow client was dropped by the read timeout');
  } finally {
    clearInterval(drip);
    for (const s of sockets) s.destroy();
  }
  // Many over-large requests in a row: buffers are released.
  for (let i = 0; i < 50; i += 1) {
    await exchange([`GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`]);
  }
  await stillServing();
  const after = rssKiB();
  assert.ok(after - before < 32 * 1024, `RSS grew by ${after - before} KiB (from ${before} KiB)`);
});

test('raw: a keep-alive connection stays open while used and is closed after the idle timeout', async () => {
  const socket = net.connect(Number(port), host);
  let data = '';
  socket.on('data', (d) => (data += d.toString('latin1')));
  const closedAt = new Promise((resolve) => socket.on('close', () => resolve(Date.now())));
  socket.on('error', () => {});
  await new Promise((resolve) => socket.on('connect', resolve));
  const health = 'GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n';
  // Requests 1 s apart (the idle timeout is 1.5 s): each waits less than the timeout, all of
  // them together more than it, so the connection lives as long as it is used.
  let lastAnswer = 0;
  for (let i = 0; i < 3; i += 1) {
    if (i > 0) await sleep(1000);
    socket.write(health);
    const deadline = Date.now() + 3000;
    while (statuses(data).length < i + 1 && Date.now() < deadline) await sleep(10);
    assert.equal(statuses(data).length, i + 1, `request ${i + 1} answered on the same connection`);
    lastAnswer = Date.now();
  }
  assert.deepEqual(statuses(data), [200, 200, 200]);
  // Then idle: closed by the gateway after 1.5 s (checked every quarter of it), not before.
  const closed = await Promise.race([closedAt, sleep(6000).then(() => 0)]);
  assert.ok(closed > 0, 'the idle connection was closed by the gateway');
  const idle = closed - lastAnswer;
  assert.ok(idle >= 1400 && idle <= 3000, `closed after ${idle} ms of idleness`);
});
