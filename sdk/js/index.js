// BatchPipe JavaScript SDK: a thin client for the `/v1` JSON API (health, ingest, management).
// No dependencies: it needs only `fetch`, `URL` and `JSON`, so it runs in Node.js 20+ and in
// browsers. `npm run docs` turns the JSDoc below into docs/sdk/README.md; keep the "HTTP:" line
// of every method exact, the reference links the route's anchor from it.

/**
 * What every method resolves to. `data` is the parsed JSON body, `null` for an empty body (204),
 * or the body as text when the server (or a proxy in front of it) did not answer JSON.
 *
 * @typedef {object} BatchPipeResponse
 * @property {number} status HTTP status code.
 * @property {boolean} ok `true` for a 2xx status.
 * @property {*} data Parsed JSON body, `null` when the body is empty.
 */

/**
 * Options of {@link BatchPipeClient} and {@link create_batchpipe_client}.
 *
 * @typedef {object} BatchPipeClientOptions
 * @property {string} base_url BatchPipe origin, e.g. `https://api.example.com` (a trailing slash is ignored).
 * @property {string} [api_key] Workspace API key (`bp_v1_…`). Required for management methods; ingest can also take it per call.
 * @property {typeof fetch} [fetch] The `fetch` to use (default: the global one).
 * @property {number} [timeout_ms] Abort a request that takes longer than this (default: no timeout).
 */

/**
 * Per-call options of {@link BatchPipeClient#ingest}.
 *
 * @typedef {object} IngestOptions
 * @property {string|null} [api_key] API key for this call instead of the client's; `null` sends none (CORS-only pipes).
 * @property {string} [origin] `Origin` header to send (server-side callers of CORS-only pipes; browsers set it themselves).
 * @property {string} [idempotency_key] `Idempotency-Key`: a retry with the same key is answered `202` with `duplicate: true` and stored once.
 */

/**
 * Page options of the list methods.
 *
 * @typedef {object} PageOptions
 * @property {number} [limit] Items per page (1–200, default 50).
 * @property {string} [cursor] `next_cursor` of the previous page.
 */

/**
 * Thrown (as a rejected promise) when a request gets no HTTP answer at all: connection refused,
 * DNS failure, TLS failure, timeout. HTTP error statuses never throw: they resolve with `ok: false`.
 */
export class BatchPipeError extends Error {
  /**
   * @param {string} message What failed, with the method and URL.
   * @param {{cause?: unknown, method?: string, url?: string}} [details]
   */
  constructor(message, details = {}) {
    super(message, { cause: details.cause });
    this.name = 'BatchPipeError';
    /** @type {string|undefined} HTTP method of the failed request. */
    this.method = details.method;
    /** @type {string|undefined} URL of the failed request. */
    this.url = details.url;
  }
}

function segment(value, name) {
  if (typeof value !== 'string' || value === '') throw new TypeError(`${name} must be a non-empty string`);
  return encodeURIComponent(value);
}

function pageQuery(page) {
  const query = {};
  if (page && page.limit !== undefined) query.limit = page.limit;
  if (page && page.cursor !== undefined && page.cursor !== null) query.cursor = page.cursor;
  return query;
}

/**
 * Construct a client for BatchPipe's `/v1` JSON API (health, ingest, management). Pass `base_url`
 * (and usually `api_key` for management calls). Method names use `snake_case` and mirror the HTTP
 * API; every method resolves to `{ status, ok, data }` and rejects only when there is no HTTP answer.
 */
export class BatchPipeClient {
  /**
   * @param {BatchPipeClientOptions} options
   */
  constructor(options) {
    if (!options || typeof options.base_url !== 'string' || options.base_url === '') {
      throw new TypeError('BatchPipeClient: options.base_url is required, e.g. "https://api.example.com"');
    }
    /** @type {string} */
    this.base_url = options.base_url.replace(/\/+$/, '');
    /** @type {string|undefined} */
    this.api_key = options.api_key;
    this._fetch = options.fetch || globalThis.fetch;
    this._timeout_ms = options.timeout_ms;
    if (typeof this._fetch !== 'function') {
      throw new TypeError('BatchPipeClient: no fetch available (Node.js 20+ or a browser has one; or pass options.fetch)');
    }
  }

  /**
   * One request. `auth`: true sends the client's key; a string sends that key; null/false none.
   * @private
   */
  async _request(method, path, { body, query, auth = true, headers = {} } = {}) {
    const url = new URL(this.base_url + path);
    for (const [k, v] of Object.entries(query || {})) url.searchParams.set(k, String(v));
    const h = { Accept: 'application/json', ...headers };
    const key = auth === true ? this.api_key : auth || undefined;
    if (key) h.Authorization = `Bearer ${key}`;
    const init = { method, headers: h };
    if (body !== undefined) {
      h['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    if (this._timeout_ms) init.signal = AbortSignal.timeout(this._timeout_ms);
    let res;
    let text;
    try {
      res = await this._fetch.call(globalThis, url.toString(), init);
      text = await res.text();
    } catch (err) {
      const why = err && err.cause && err.cause.code ? `${err.message} (${err.cause.code})` : String(err && err.message);
      throw new BatchPipeError(`BatchPipe ${method} ${url} failed: ${why}`, { cause: err, method, url: url.toString() });
    }
    let data = null;
    if (text !== '') {
      try {
        data = JSON.parse(text);
      } catch {
        data = text;
      }
    }
    return { status: res.status, ok: res.ok, data };
  }

  /**
   * Ping deployment health. No API key is sent.
   * HTTP: GET /v1/health
   * @returns {Promise<BatchPipeResponse>}
   */
  health() {
    return this._request('GET', '/v1/health', { auth: false });
  }

  /**
   * Send one record object or an array of objects to `pipe_id`. Optional per-call `api_key` /
   * `origin` (and `idempotency_key`) in `options`. Resolves `202` with
   * `records_count` and `request_id` once the records are stored durably.
   * HTTP: POST /v1/ingest/:pipe_id
   * @param {string} pipe_id
   * @param {object|Array<object>} records Single record object or array of objects.
   * @param {IngestOptions} [options]
   * @returns {Promise<BatchPipeResponse>}
   */
  ingest(pipe_id, records, options = {}) {
    const headers = {};
    if (options.origin) headers.Origin = options.origin;
    if (options.idempotency_key) headers['Idempotency-Key'] = options.idempotency_key;
    const auth = options.api_key === undefined ? true : options.api_key;
    return this._request('POST', `/v1/ingest/${segment(pipe_id, 'pipe_id')}`, { body: records, auth, headers });
  }

  /**
   * Read the ingest "hint" JSON for a pipe (discovery only; does not enqueue records).
   * HTTP: GET /v1/ingest/:pipe_id
   * @param {string} pipe_id
   * @returns {Promise<BatchPipeResponse>}
   */
  get_ingest_hint(pipe_id) {
    return this._request('GET', `/v1/ingest/${segment(pipe_id, 'pipe_id')}`, { auth: false });
  }

  /**
   * List pipes and usage for the workspace tied to the client's API key, a page at a time
   * (`data.pipes`, `data.next_cursor`).
   * HTTP: GET /v1/pipes
   * @param {PageOptions} [page]
   * @returns {Promise<BatchPipeResponse>}
   */
  list_pipes(page) {
    return this._request('GET', '/v1/pipes', { query: pageQuery(page) });
  }

  /**
   * Fetch a single pipe by id, with its destinations (secrets redacted), limits, allowed origins and usage.
   * HTTP: GET /v1/pipes/:pipe_id
   * @param {string} pipe_id
   * @returns {Promise<BatchPipeResponse>}
   */
  get_pipe(pipe_id) {
    return this._request('GET', `/v1/pipes/${segment(pipe_id, 'pipe_id')}`);
  }

  /**
   * Create a pipe. `body` matches the management HTTP API (`name`, `require_api_key`,
   * `allow_any_browser_origin`, enrichment fields).
   * HTTP: POST /v1/pipes
   * @param {object} body Request body (see the HTTP API).
   * @returns {Promise<BatchPipeResponse>}
   */
  create_pipe(body) {
    return this._request('POST', '/v1/pipes', { body });
  }

  /**
   * Update fields on a pipe.
   * HTTP: PATCH /v1/pipes/:pipe_id
   * @param {string} pipe_id
   * @param {object} body Fields to change.
   * @returns {Promise<BatchPipeResponse>}
   */
  update_pipe(pipe_id, body) {
    return this._request('PATCH', `/v1/pipes/${segment(pipe_id, 'pipe_id')}`, { body });
  }

  /**
   * Delete a pipe (and dependent resources per server rules).
   * HTTP: DELETE /v1/pipes/:pipe_id
   * @param {string} pipe_id
   * @returns {Promise<BatchPipeResponse>}
   */
  delete_pipe(pipe_id) {
    return this._request('DELETE', `/v1/pipes/${segment(pipe_id, 'pipe_id')}`);
  }

  /**
   * Add a destination to a pipe (`pipe_id`, configuration `body`: `type`, `name`, `config`,
   * optional `destination_status`).
   * HTTP: POST /v1/pipes/:pipe_id/destinations
   * @param {string} pipe_id
   * @param {object} body
   * @returns {Promise<BatchPipeResponse>}
   */
  create_destination(pipe_id, body) {
    return this._request('POST', `/v1/pipes/${segment(pipe_id, 'pipe_id')}/destinations`, { body });
  }

  /**
   * Update an existing destination's configuration. A secret field sent as `""` or
   * `"[redacted]"` keeps its stored value.
   * HTTP: PATCH /v1/pipes/:pipe_id/destinations/:destination_id
   * @param {string} pipe_id
   * @param {string} destination_id
   * @param {object} body
   * @returns {Promise<BatchPipeResponse>}
   */
  update_destination(pipe_id, destination_id, body) {
    return this._request(
      'PATCH',
      `/v1/pipes/${segment(pipe_id, 'pipe_id')}/destinations/${segment(destination_id, 'destination_id')}`,
      { body },
    );
  }

  /**
   * Pause or resume delivery for one destination (`body` matches the status endpoint:
   * `{ destination_status: "active" | "blocked" }`).
   * HTTP: PATCH /v1/pipes/:pipe_id/destinations/:destination_id/status
   * @param {string} pipe_id
   * @param {string} destination_id
   * @param {object} body
   * @returns {Promise<BatchPipeResponse>}
   */
  set_destination_status(pipe_id, destination_id, body) {
    return this._request(
      'PATCH',
      `/v1/pipes/${segment(pipe_id, 'pipe_id')}/destinations/${segment(destination_id, 'destination_id')}/status`,
      { body },
    );
  }

  /**
   * Remove a destination from a pipe.
   * HTTP: DELETE /v1/pipes/:pipe_id/destinations/:destination_id
   * @param {string} pipe_id
   * @param {string} destination_id
   * @returns {Promise<BatchPipeResponse>}
   */
  delete_destination(pipe_id, destination_id) {
    return this._request(
      'DELETE',
      `/v1/pipes/${segment(pipe_id, 'pipe_id')}/destinations/${segment(destination_id, 'destination_id')}`,
    );
  }

  /**
   * Replace the pipe's limits: ingest caps (`pl_ingest_*`) and delivery flush (`pl_delivery_*`).
   * HTTP: PUT /v1/pipes/:pipe_id/limits
   * @param {string} pipe_id
   * @param {object} body
   * @returns {Promise<BatchPipeResponse>}
   */
  set_pipe_limits(pipe_id, body) {
    return this._request('PUT', `/v1/pipes/${segment(pipe_id, 'pipe_id')}/limits`, { body });
  }

  /**
   * Allowlist a browser origin for CORS ingest on a pipe (`{ origin_domain: "https://app.example.com" }`).
   * HTTP: POST /v1/pipes/:pipe_id/allowed-origins
   * @param {string} pipe_id
   * @param {object} body
   * @returns {Promise<BatchPipeResponse>}
   */
  add_allowed_origin(pipe_id, body) {
    return this._request('POST', `/v1/pipes/${segment(pipe_id, 'pipe_id')}/allowed-origins`, { body });
  }

  /**
   * Remove a previously allowlisted browser origin.
   * HTTP: DELETE /v1/pipes/:pipe_id/allowed-origins/:origin_id
   * @param {string} pipe_id
   * @param {string} origin_id
   * @returns {Promise<BatchPipeResponse>}
   */
  remove_allowed_origin(pipe_id, origin_id) {
    return this._request(
      'DELETE',
      `/v1/pipes/${segment(pipe_id, 'pipe_id')}/allowed-origins/${segment(origin_id, 'origin_id')}`,
    );
  }

  /**
   * List the pipe's delivery runs, newest first, a page at a time (`data.runs`, `data.next_cursor`).
   * HTTP: GET /v1/pipes/:pipe_id/runs
   * @param {string} pipe_id
   * @param {PageOptions} [page]
   * @returns {Promise<BatchPipeResponse>}
   */
  list_runs(pipe_id, page) {
    return this._request('GET', `/v1/pipes/${segment(pipe_id, 'pipe_id')}/runs`, { query: pageQuery(page) });
  }

  /**
   * Fetch one delivery run.
   * HTTP: GET /v1/pipes/:pipe_id/runs/:run_id
   * @param {string} pipe_id
   * @param {string} run_id
   * @returns {Promise<BatchPipeResponse>}
   */
  get_run(pipe_id, run_id) {
    return this._request('GET', `/v1/pipes/${segment(pipe_id, 'pipe_id')}/runs/${segment(run_id, 'run_id')}`);
  }

  /**
   * List a destination's dead letters (records it refused for good), a page at a time
   * (`data.dead_letters`, `data.next_cursor`).
   * HTTP: GET /v1/pipes/:pipe_id/destinations/:destination_id/dead-letters
   * @param {string} pipe_id
   * @param {string} destination_id
   * @param {PageOptions} [page]
   * @returns {Promise<BatchPipeResponse>}
   */
  list_dead_letters(pipe_id, destination_id, page) {
    return this._request(
      'GET',
      `/v1/pipes/${segment(pipe_id, 'pipe_id')}/destinations/${segment(destination_id, 'destination_id')}/dead-letters`,
      { query: pageQuery(page) },
    );
  }

  /**
   * Re-enqueue every dead letter of a destination, for that destination only (`data.replayed`).
   * HTTP: POST /v1/pipes/:pipe_id/destinations/:destination_id/dead-letters/replay
   * @param {string} pipe_id
   * @param {string} destination_id
   * @returns {Promise<BatchPipeResponse>}
   */
  replay_dead_letters(pipe_id, destination_id) {
    return this._request(
      'POST',
      `/v1/pipes/${segment(pipe_id, 'pipe_id')}/destinations/${segment(destination_id, 'destination_id')}/dead-letters/replay`,
    );
  }

  /**
   * List workspace API keys (metadata only; secrets are not returned).
   * HTTP: GET /v1/api-keys
   * @param {PageOptions} [page]
   * @returns {Promise<BatchPipeResponse>}
   */
  list_api_keys(page) {
    return this._request('GET', '/v1/api-keys', { query: pageQuery(page) });
  }

  /**
   * Mint a new workspace API key (`{ name }`). The response holds its `secret` once.
   * HTTP: POST /v1/api-keys
   * @param {object} body
   * @returns {Promise<BatchPipeResponse>}
   */
  create_api_key(body) {
    return this._request('POST', '/v1/api-keys', { body });
  }

  /**
   * Revoke an API key by id (a key cannot revoke itself: `409`).
   * HTTP: DELETE /v1/api-keys/:api_key_id
   * @param {string} api_key_id
   * @returns {Promise<BatchPipeResponse>}
   */
  revoke_api_key(api_key_id) {
    return this._request('DELETE', `/v1/api-keys/${segment(api_key_id, 'api_key_id')}`);
  }
}

/**
 * Return `new BatchPipeClient(options)`: a small factory for ergonomic imports.
 *
 * @param {BatchPipeClientOptions} options
 * @returns {BatchPipeClient}
 */
export function create_batchpipe_client(options) {
  return new BatchPipeClient(options);
}

export default create_batchpipe_client;
