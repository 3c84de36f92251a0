// The one way tests talk to the gateway: every response must carry X-Request-ID and match
// docs/openapi.yaml (status, documented headers, JSON body), or the test fails.
import assert from 'node:assert/strict';
import { OpenApi, openapiPath } from './openapi.mjs';

let openapi; // undefined: not loaded yet; null: no document
let warned = false;

export function loadOpenApi() {
  if (openapi === undefined) openapi = OpenApi.loadIfPresent();
  return openapi;
}

/**
 * Validation modes per request:
 *   true (default)  the operation must be documented and the response must conform
 *   'if-documented' validated when the document has the operation (ops endpoints such as /readyz)
 *   { response: 'Name' }  validated against #/components/responses/Name (for answers that
 *                   belong to no operation: unknown routes, wrong methods)
 *   false           not validated
 */
function validate(mode, { method, path, status, contentType, body, text, headers, requestBody }) {
  if (mode === false) return;
  const spec = loadOpenApi();
  if (!spec) {
    if (!warned) {
      warned = true;
      process.stderr.write(`# ${openapiPath} is missing: responses are not validated against OpenAPI\n`);
    }
    return;
  }
  if (mode === 'if-documented') {
    const found = spec.findOperation(method, path);
    if (!found?.operation) return;
  }
  const response = { method, path, status, contentType, body, text, headers };
  const problems = typeof mode === 'object' ? spec.checkComponent(mode.response, response) : spec.check(response);
  if (status >= 200 && status < 300 && requestBody !== undefined && typeof mode !== 'object') {
    problems.push(...spec.checkAcceptedRequest({ method, path, requestBody }));
  }
  assert.deepEqual(problems, [], `response does not match ${openapiPath}:\n  ${problems.join('\n  ')}\nbody: ${text.slice(0, 2000)}`);
}

/** The JSON value of a request body declared as JSON, or undefined. */
function sentJson(body, contentType) {
  if (typeof body !== 'string' || !/json/i.test(contentType || '')) return undefined;
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

export class Api {
  /** @param {string} baseUrl gateway URL; @param {{key?: string}} options default API key */
  constructor(baseUrl, { key = null } = {}) {
    this.baseUrl = baseUrl;
    this.key = key;
  }

  as(key) {
    return new Api(this.baseUrl, { key });
  }

  /**
   * Sends one request. Options: json (serialized as the body, Content-Type application/json
   * unless contentType says otherwise), body (raw string), key (null: no Authorization),
   * headers, contentType, openapi (validation mode, see above), requestIdHeader (false: do
   * not insist on X-Request-ID; only for tests of a known bug).
   * Returns { status, headers, body (parsed JSON or null), text }.
   */
  async request(method, path, options = {}) {
    const { json, key = this.key, openapi: mode = true } = options;
    const headers = { ...options.headers };
    let body = options.body;
    if (json !== undefined) {
      body = JSON.stringify(json);
      headers['content-type'] = 'application/json';
    }
    if (options.contentType !== undefined) headers['content-type'] = options.contentType;
    if (key) headers.authorization = `Bearer ${key}`;
    const res = await fetch(this.baseUrl + path, { method, headers, body, redirect: 'manual' });
    const text = await res.text();
    let parsed = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    const result = { status: res.status, headers: res.headers, body: parsed, text };
    if (options.requestIdHeader !== false) {
      assert.ok(res.headers.get('x-request-id'), `${method} ${path} → ${res.status} has an X-Request-ID header`);
    } else {
      res.headers.ignored = new Set(['x-request-id']);
    }
    validate(mode, {
      method,
      path: path.split('?')[0],
      status: res.status,
      contentType: res.headers.get('content-type'),
      body: parsed,
      text,
      headers: res.headers,
      requestBody: sentJson(body, headers['content-type']),
    });
    return result;
  }

  get(path, options) {
    return this.request('GET', path, options);
  }
  post(path, json, options = {}) {
    return this.request('POST', path, { json, ...options });
  }
  put(path, json, options = {}) {
    return this.request('PUT', path, { json, ...options });
  }
  patch(path, json, options = {}) {
    return this.request('PATCH', path, { json, ...options });
  }
  delete(path, options) {
    return this.request('DELETE', path, options);
  }
  options(path, options) {
    return this.request('OPTIONS', path, options);
  }

  // Small conveniences used by many tests. Each asserts the status, so a setup failure is
  // reported where it happens.

  async createPipe(fields = {}) {
    const res = await this.post('/v1/pipes', { name: `pipe_${Math.random().toString(36).slice(2, 10)}`, ...fields });
    assert.equal(res.status, 201, `create pipe: ${res.text}`);
    return res.body;
  }

  /** A webhook destination to a closed port: keeps JetStream messages (interest retention). */
  async createDestination(pipeId, fields = {}) {
    const res = await this.post(`/v1/pipes/${pipeId}/destinations`, {
      type: 'webhook',
      name: `parking_${Math.random().toString(36).slice(2, 10)}`,
      config: { url: 'http://127.0.0.1:9/never' },
      ...fields,
    });
    assert.equal(res.status, 201, `create destination: ${res.text}`);
    return res.body;
  }

  async addOrigin(pipeId, origin) {
    const res = await this.post(`/v1/pipes/${pipeId}/allowed-origins`, { origin_domain: origin });
    assert.equal(res.status, 201, `add origin: ${res.text}`);
    return res.body;
  }

  async putLimits(pipeId, limits) {
    const res = await this.put(`/v1/pipes/${pipeId}/limits`, limits);
    assert.equal(res.status, 200, `put limits: ${res.text}`);
    return res.body;
  }

  async updatePipe(pipeId, fields) {
    const res = await this.patch(`/v1/pipes/${pipeId}`, fields);
    assert.equal(res.status, 200, `update pipe: ${res.text}`);
    return res.body;
  }

  ingest(pipeId, records, options = {}) {
    return this.request('POST', `/v1/ingest/${pipeId}`, {
      body: typeof records === 'string' ? records : JSON.stringify(records),
      contentType: 'application/json',
      ...options,
    });
  }
}

/** Asserts the shape of an error response: status, {error, message}. */
export function assertError(res, status, code) {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${res.text}`);
  assert.equal(res.body?.error, code, `error code in ${res.text}`);
  assert.equal(typeof res.body.message, 'string');
  assert.ok(res.body.message.length > 0, 'error message is not empty');
}

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const RANDOM_UUID = () => crypto.randomUUID();
