// CORS from a real browser: headless Chromium (Debian's `chromium` package) loads a page from
// another localhost port and fetches the gateway's ingest URL cross-origin. An allowed page
// can read the 202 body; a page from an origin that is not allowed is blocked by the browser.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { Api, UUID_RE } from './lib/api.mjs';
import { JetStreamProbe } from './lib/jetstream.mjs';
import { eventually, useStack } from './lib/stack.mjs';

const CHROMIUM = process.env.BP_CHROMIUM || '/usr/bin/chromium';
const LAUNCH_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launches Chromium, or returns the reason it cannot (then the tests are skipped). */
async function launchBrowser() {
  if (!existsSync(CHROMIUM)) {
    return { skip: `${CHROMIUM} not found: install Debian's chromium package (apt-get install chromium)` };
  }
  try {
    const { chromium } = await import('playwright-core');
    return { browser: await chromium.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS }) };
  } catch (err) {
    return { skip: `cannot launch ${CHROMIUM}: ${err.message.split('\n')[0]}` };
  }
}

/** A tiny site on its own port: its origin is http://127.0.0.1:<port>. */
async function startSite() {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>BatchPipe CORS test page</title><p>ok</p>');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return { origin, close: () => new Promise((resolve) => server.close(resolve)) };
}

// Runs in the page: a cross-origin fetch, reporting what a page script can see.
async function pageFetch({ url, headers, body }) {
  try {
    const res = await fetch(url, { method: 'POST', headers, body });
    const text = await res.text();
    return { ok: true, status: res.status, text, requestIdHeader: res.headers.get('x-request-id') };
  } catch (err) {
    return { ok: false, name: err.name, message: String(err.message) };
  }
}

const launched = await launchBrowser();
if (launched.skip) {
  process.stderr.write(`# browser tests skipped: ${launched.skip}\n`);
  test('browser CORS (headless Chromium)', { skip: launched.skip }, () => {});
} else {
  describe('browser CORS (headless Chromium)', browserTests);
}

function browserTests() {
  const { browser } = launched;
  let api;
  let js;
  let allowedSite;
  let otherSite;
  let page;
  let corsOnly;
  let keyAny;

  const stack = useStack({
    async setup() {
      api = new Api(stack.gatewayUrl, { key: stack.workspaces.a.key });
      js = await JetStreamProbe.connect(stack.natsUrl);
      allowedSite = await startSite();
      otherSite = await startSite();
      corsOnly = await api.createPipe({ name: 'browser_cors_only', require_api_key: false });
      await api.addOrigin(corsOnly.id, allowedSite.origin);
      await api.createDestination(corsOnly.id);
      keyAny = await api.createPipe({ name: 'browser_key_any', allow_any_browser_origin: true });
      await api.createDestination(keyAny.id);
      page = await browser.newPage();
    },
    async teardown() {
      await page?.close().catch(() => {});
      await browser?.close().catch(() => {});
      await js?.close();
      await allowedSite?.close();
      await otherSite?.close();
    },
  });

  async function fetchFrom(site, pipeId, { records, headers = {} }) {
    await page.goto(`${site.origin}/`);
    return page.evaluate(pageFetch, {
      url: `${stack.gatewayUrl}/v1/ingest/${pipeId}`,
      headers: { 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify(records),
    });
  }

  test('an allowed page can POST to a CORS-only pipe and read the 202 body', async () => {
    const records = [{ event: 'click', from: 'browser' }];
    const result = await fetchFrom(allowedSite, corsOnly.id, { records });
    assert.equal(result.ok, true, `fetch failed in the page: ${result.name}: ${result.message}`);
    assert.equal(result.status, 202, result.text);
    const body = JSON.parse(result.text);
    assert.equal(body.accepted, true);
    assert.equal(body.pipe_id, corsOnly.id);
    assert.match(body.request_id, UUID_RE, 'the page can read request_id');
    const msg = await js.lastMessage(corsOnly.id);
    assert.equal(msg.headers['Bp-Request-Id'], body.request_id);
    assert.deepEqual(msg.records, records);
  });

  test('a page from an origin that is not allowed is blocked by the browser (TypeError)', async () => {
    const before = await js.lastSeq(corsOnly.id);
    const result = await fetchFrom(otherSite, corsOnly.id, { records: [{ event: 'blocked' }] });
    assert.equal(result.ok, false, `the browser let the page read status ${result.status}: ${result.text}`);
    assert.equal(result.name, 'TypeError');
    assert.equal(await js.lastSeq(corsOnly.id), before, 'nothing was ingested');
  });

  test('an API-key pipe with "any browser origin" accepts a browser POST with Authorization', async () => {
    const records = [{ event: 'keyed' }, { event: 'keyed', n: 2 }];
    const result = await eventually(async () => {
      const r = await fetchFrom(otherSite, keyAny.id, {
        records,
        headers: { Authorization: `Bearer ${stack.workspaces.a.key}` },
      });
      assert.equal(r.ok, true, `fetch failed in the page (preflight refused?): ${r.name}: ${r.message}`);
      return r;
    });
    assert.equal(result.status, 202, result.text);
    const body = JSON.parse(result.text);
    assert.equal(body.records_count, 2);
    assert.deepEqual((await js.lastMessage(keyAny.id)).records, records);
  });

  // docs/openapi.yaml: "When the origin is allowed, responses (success and errors) echo it in
  // Access-Control-Allow-Origin". The gateway checks the key before the origin and sends no
  // Access-Control-Allow-Origin on this 401, so the page only sees "Failed to fetch".
  test(
    'the same API-key pipe refuses a browser POST without the key, readably (401)',
    async () => {
      const result = await fetchFrom(allowedSite, keyAny.id, { records: [{ event: 'anonymous' }] });
      assert.equal(result.ok, true, `${result.name}: ${result.message}`);
      assert.equal(result.status, 401);
      assert.equal(JSON.parse(result.text).error, 'unauthorized');
    },
  );

  // The gateway lists X-Request-ID in Access-Control-Expose-Headers on the preflight only;
  // browsers read that header from the actual response.
  test(
    'an allowed page can read the X-Request-ID response header',
    async () => {
      const result = await fetchFrom(allowedSite, corsOnly.id, { records: [{ event: 'trace' }] });
      assert.equal(result.status, 202, result.text);
      assert.equal(result.requestIdHeader, JSON.parse(result.text).request_id);
    },
  );
}
