// The SDK in a browser: headless Chromium (Debian's `chromium`) loads a page from another
// localhost origin that imports index.js as an ES module and calls ingest() on a CORS-only pipe
// that allows that origin (a preflight, then the POST); a pipe that does not allow it is refused.
// (Only the ingest routes answer cross-origin requests: management is for servers.)
// Skipped when /usr/bin/chromium (or playwright-core) is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { eventually, randomName, useStack } from '../../../tests/node/lib/stack.mjs';
import { create_batchpipe_client } from '../index.js';

const CHROMIUM = process.env.BP_CHROMIUM || '/usr/bin/chromium';
const sdkSource = readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'index.js'));

async function launch() {
  if (!existsSync(CHROMIUM)) return { skip: `${CHROMIUM} not found` };
  try {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
    return { browser };
  } catch (err) {
    return { skip: `cannot launch ${CHROMIUM}: ${String(err.message).split('\n')[0]}` };
  }
}

const launched = await launch();
if (launched.skip) {
  test('the SDK in a browser', { skip: launched.skip }, () => {});
} else {
  const stack = useStack();
  test('the SDK in a browser: ingest from an allowed origin, refused from another', async (t) => {
    const { browser } = launched;
    t.after(() => browser.close());
    // The site serves the page and the SDK module from its own origin.
    const site = http.createServer((req, res) => {
      if (req.url === '/batchpipe-sdk.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' });
        res.end(sdkSource);
      } else {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<!doctype html><title>sdk</title>');
      }
    });
    await new Promise((resolve) => site.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise((resolve) => site.close(resolve)));
    const origin = `http://127.0.0.1:${site.address().port}`;

    const admin = create_batchpipe_client({ base_url: stack.gatewayUrl, api_key: stack.workspaces.a.key });
    const allowed = (await admin.create_pipe({ name: randomName('sdk_web'), require_api_key: false })).data;
    assert.equal((await admin.add_allowed_origin(allowed.id, { origin_domain: origin })).status, 201);
    const other = (await admin.create_pipe({ name: randomName('sdk_web2'), require_api_key: false })).data;
    assert.equal((await admin.add_allowed_origin(other.id, { origin_domain: 'https://elsewhere.example' })).status, 201);

    const page = await browser.newPage();
    await page.goto(`${origin}/`);
    const call = (pipeId) =>
      page.evaluate(
        async ({ base, pipeId }) => {
          const { create_batchpipe_client, BatchPipeError } = await import('/batchpipe-sdk.js');
          const bp = create_batchpipe_client({ base_url: base });
          try {
            const res = await bp.ingest(pipeId, [{ from: 'browser' }], { api_key: null });
            return { status: res.status, data: res.data };
          } catch (err) {
            return { rejected: err instanceof BatchPipeError, message: err.message };
          }
        },
        { base: stack.gatewayUrl, pipeId },
      );
    await eventually(async () => {
      const ok = await call(allowed.id);
      assert.equal(ok.status, 202, JSON.stringify(ok));
      assert.equal(ok.data.records_count, 1);
    }, { timeoutMs: 5000, intervalMs: 200 });
    // Not allowed: the gateway answers 403 without CORS grants, so the browser hides the
    // response and the SDK rejects (no HTTP answer visible to the page).
    const refused = await call(other.id);
    assert.equal(refused.rejected, true, JSON.stringify(refused));
  });
}
