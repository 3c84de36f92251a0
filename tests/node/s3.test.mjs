// The s3 destination end to end: records ingested through the gateway reach an S3-compatible
// object store through a real delivery worker, as gzip NDJSON objects PUT with AWS Signature
// Version 4. The store is a small S3 server written here (no S3 service can run on this machine):
// it speaks the real protocol (path-style PUT Object, SigV4 verified with its own
// implementation, S3's XML errors) and can be told to fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import { Api } from './lib/api.mjs';
import { eventually, randomName, useStack } from './lib/stack.mjs';

const ACCESS_KEY = 'AKIABATCHPIPETEST';
const SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYBATCHPIPE';
const REGION = 'eu-west-3';

let api;
const stores = [];
const stack = useStack({
  workspaces: ['a'],
  controlPlaneEnv: { BP_ACK_WAIT_SECONDS: '5' },
  async setup(s) {
    api = new Api(s.gatewayUrl, { key: s.workspaces.a.key });
    await s.startWorker('s3-worker');
  },
  async teardown() {
    for (const store of stores) await store.close();
  },
});

const sha256 = (data) => createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => createHmac('sha256', key).update(data).digest();

/** The signature S3 expects for a request, computed from what arrived on the wire. */
function expectedSignature(req, body, signedHeaders, scope) {
  const [date, region, service] = scope.split('/');
  const url = new URL(req.url, 'http://x');
  const query = [...url.searchParams].map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).sort().join('&');
  const headers = signedHeaders.map((h) => `${h}:${String(req.headers[h] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonical = [req.method, url.pathname, query, headers, signedHeaders.join(';'), sha256(body)].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', req.headers['x-amz-date'], scope, sha256(canonical)].join('\n');
  let key = hmac(`AWS4${SECRET_KEY}`, date);
  for (const part of [region, service, 'aws4_request']) key = hmac(key, part);
  return createHmac('sha256', key).update(toSign).digest('hex');
}

const s3Error = (res, status, code, message) => {
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`);
};

/** An S3 store on a free port: PUT Object into `buckets`, SigV4 checked; `failNext` 500s first. */
async function startStore(buckets) {
  const store = { objects: new Map(), puts: 0, refused: [], failNext: 0 };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const auth = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8}\/[^/]+\/s3\/aws4_request), SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(
        req.headers.authorization ?? '',
      );
      const refuse = (status, code, message) => {
        store.refused.push(code);
        s3Error(res, status, code, message);
      };
      if (req.method !== 'PUT') return refuse(405, 'MethodNotAllowed', req.method);
      if (!auth) return refuse(403, 'AccessDenied', 'missing or malformed Authorization');
      const [, accessKey, scope, signed, signature] = auth;
      const signedHeaders = signed.split(';');
      if (accessKey !== ACCESS_KEY) return refuse(403, 'InvalidAccessKeyId', accessKey);
      if (!scope.includes(`/${REGION}/`)) return refuse(400, 'AuthorizationHeaderMalformed', scope);
      for (const h of ['host', 'x-amz-content-sha256', 'x-amz-date']) {
        if (!signedHeaders.includes(h)) return refuse(403, 'AccessDenied', `${h} is not signed`);
      }
      if (req.headers['x-amz-content-sha256'] !== sha256(body)) return refuse(400, 'XAmzContentSHA256Mismatch', '');
      const amzDate = req.headers['x-amz-date'];
      const when = Date.parse(amzDate.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
      if (!(Math.abs(Date.now() - when) < 15 * 60 * 1000)) return refuse(403, 'RequestTimeTooSkewed', amzDate);
      if (signature !== expectedSignature(req, body, signedHeaders, scope)) {
        return refuse(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match');
      }
      const [, bucket, ...keyParts] = new URL(req.url, 'http://x').pathname.split('/');
      if (!buckets.includes(bucket)) return refuse(404, 'NoSuchBucket', bucket);
      if (store.failNext > 0) {
        store.failNext -= 1;
        return s3Error(res, 500, 'InternalError', 'try again');
      }
      store.puts += 1;
      const key = decodeURIComponent(keyParts.join('/'));
      store.objects.set(`${bucket}/${key}`, { body, headers: req.headers });
      res.writeHead(200, { etag: `"${createHash('md5').update(body).digest('hex')}"` });
      res.end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  store.endpoint = `http://127.0.0.1:${server.address().port}`;
  store.close = () => new Promise((resolve) => server.close(resolve));
  stores.push(store);
  return store;
}

/** The records of every object of `bucket`, parsed from gzip NDJSON. */
function storedRecords(store, bucket) {
  return [...store.objects.entries()]
    .filter(([k]) => k.startsWith(`${bucket}/`))
    .flatMap(([, o]) => gunzipSync(o.body).toString('utf8').trim().split('\n').map((line) => JSON.parse(line)));
}

async function s3Destination(pipeId, store, bucket, overrides = {}) {
  const res = await api.post(`/v1/pipes/${pipeId}/destinations`, {
    type: 's3',
    name: randomName('s3'),
    config: {
      endpoint: store.endpoint,
      region: REGION,
      bucket,
      prefix: 'events/',
      access_key_id: ACCESS_KEY,
      secret_access_key: SECRET_KEY,
      ...overrides,
    },
  });
  assert.equal(res.status, 201, res.text);
  return res.body;
}

async function ingest(pipeId, count, tag) {
  for (let i = 0; i < count; i += 1) {
    const res = await api.ingest(pipeId, [{ tag, n: i, i: 0 }, { tag, n: i, i: 1 }]);
    assert.equal(res.status, 202, res.text);
  }
}

test('s3: every record lands once in gzip NDJSON objects under the prefix, signed with SigV4', async () => {
  const store = await startStore(['bp-events']);
  const pipe = await api.createPipe();
  await s3Destination(pipe.id, store, 'bp-events');
  await ingest(pipe.id, 10, 'plain');
  const records = await eventually(
    () => {
      const got = storedRecords(store, 'bp-events');
      assert.equal(got.length, 20, `${got.length} records stored`);
      return got;
    },
    { timeoutMs: 20_000, intervalMs: 200 },
  );
  assert.deepEqual(store.refused, [], 'no request was refused');
  const seen = new Set(records.map((r) => `${r.n}:${r.i}`));
  assert.equal(seen.size, 20, 'no duplicates');
  for (const [key, object] of store.objects) {
    assert.match(key, /^bp-events\/events\/\d{4}\/\d\d\/\d\d\/\d{6}-[0-9a-f-]{36}\.ndjson\.gz$/);
    assert.equal(object.headers['content-encoding'], 'gzip');
    assert.equal(object.headers['content-type'], 'application/x-ndjson');
  }
});

test('s3: a store that fails for a while gets every record once (a retry rewrites the same object)', async () => {
  const store = await startStore(['bp-flaky']);
  store.failNext = 3;
  const pipe = await api.createPipe();
  await s3Destination(pipe.id, store, 'bp-flaky');
  await ingest(pipe.id, 5, 'flaky');
  await eventually(
    () => assert.equal(storedRecords(store, 'bp-flaky').length, 10),
    { timeoutMs: 30_000, intervalMs: 200 },
  );
  assert.equal(store.failNext, 0, 'the failures were met');
  assert.equal(store.objects.size, store.puts, 'each successful PUT wrote its own key once');
});

test('s3: wrong credentials are refused by the store; the records wait and the run says why', async () => {
  const store = await startStore(['bp-locked']);
  const pipe = await api.createPipe();
  const dest = await s3Destination(pipe.id, store, 'bp-locked', { secret_access_key: 'not-the-secret' });
  await ingest(pipe.id, 2, 'locked');
  const run = await eventually(
    async () => {
      const res = await api.get(`/v1/pipes/${pipe.id}/runs`);
      const r = res.body.runs.find((x) => x.destination_id === dest.id && x.status === 'retrying');
      assert.ok(r, JSON.stringify(res.body.runs));
      return r;
    },
    { timeoutMs: 20_000, intervalMs: 200 },
  );
  assert.match(run.error, /s3 answered 403.*SignatureDoesNotMatch/);
  assert.ok(store.refused.includes('SignatureDoesNotMatch'));
  assert.equal(store.objects.size, 0);
  // Fixed credentials: the waiting records are delivered.
  const fixed = await api.patch(`/v1/pipes/${pipe.id}/destinations/${dest.id}`, {
    config: { ...dest.config, secret_access_key: SECRET_KEY },
  });
  assert.equal(fixed.status, 200, fixed.text);
  await eventually(() => assert.equal(storedRecords(store, 'bp-locked').length, 4), {
    timeoutMs: 30_000,
    intervalMs: 200,
  });
});
