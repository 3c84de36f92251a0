// Type declarations of the BatchPipe JavaScript SDK (index.js). Bodies are the JSON of the HTTP
// API (docs/openapi.yaml); they are typed loosely on purpose, so that new server fields never
// break a build.

/** What every method resolves to. */
export interface BatchPipeResponse<T = any> {
  /** HTTP status code. */
  status: number;
  /** `true` for a 2xx status. */
  ok: boolean;
  /** Parsed JSON body; `null` for an empty body; the text when the body is not JSON. */
  data: T;
}

export interface BatchPipeClientOptions {
  /** BatchPipe origin, e.g. `https://api.example.com` (a trailing slash is ignored). */
  base_url: string;
  /** Workspace API key (`bp_v1_…`). Required for management methods. */
  api_key?: string;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
  /** Abort a request that takes longer than this many milliseconds. */
  timeout_ms?: number;
}

export interface IngestOptions {
  /** API key for this call instead of the client's; `null` sends none (CORS-only pipes). */
  api_key?: string | null;
  /** `Origin` header to send (server-side callers of CORS-only pipes). */
  origin?: string;
  /** `Idempotency-Key`: a retry with the same key is stored once (`duplicate: true`). */
  idempotency_key?: string;
}

export interface PageOptions {
  /** Items per page (1–200, default 50). */
  limit?: number;
  /** `next_cursor` of the previous page. */
  cursor?: string | null;
}

/** A JSON object as sent or received. */
export type JsonObject = { [key: string]: any };

export interface IngestAccepted {
  accepted: true;
  pipe_id: string;
  pipe_name: string;
  records_count: number;
  request_id: string;
  message: string;
  duplicate?: boolean;
}

export interface ErrorBody {
  error: string;
  message: string;
  request_id?: string;
  [key: string]: any;
}

/** Rejection reason when a request gets no HTTP answer (connection refused, DNS, TLS, timeout). */
export class BatchPipeError extends Error {
  constructor(message: string, details?: { cause?: unknown; method?: string; url?: string });
  name: 'BatchPipeError';
  /** HTTP method of the failed request. */
  method?: string;
  /** URL of the failed request. */
  url?: string;
}

export class BatchPipeClient {
  constructor(options: BatchPipeClientOptions);
  readonly base_url: string;
  api_key?: string;

  /** GET /v1/health (no API key sent). */
  health(): Promise<BatchPipeResponse<JsonObject>>;
  /** POST /v1/ingest/:pipe_id: one record or an array of records. */
  ingest(
    pipe_id: string,
    records: JsonObject | JsonObject[],
    options?: IngestOptions,
  ): Promise<BatchPipeResponse<IngestAccepted | ErrorBody>>;
  /** GET /v1/ingest/:pipe_id: the discovery hint (no records sent). */
  get_ingest_hint(pipe_id: string): Promise<BatchPipeResponse<JsonObject>>;

  /** GET /v1/pipes */
  list_pipes(page?: PageOptions): Promise<BatchPipeResponse<JsonObject>>;
  /** GET /v1/pipes/:pipe_id */
  get_pipe(pipe_id: string): Promise<BatchPipeResponse<JsonObject>>;
  /** POST /v1/pipes */
  create_pipe(body: JsonObject): Promise<BatchPipeResponse<JsonObject>>;
  /** PATCH /v1/pipes/:pipe_id */
  update_pipe(pipe_id: string, body: JsonObject): Promise<BatchPipeResponse<JsonObject>>;
  /** DELETE /v1/pipes/:pipe_id */
  delete_pipe(pipe_id: string): Promise<BatchPipeResponse<null | ErrorBody>>;

  /** POST /v1/pipes/:pipe_id/destinations */
  create_destination(pipe_id: string, body: JsonObject): Promise<BatchPipeResponse<JsonObject>>;
  /** PATCH /v1/pipes/:pipe_id/destinations/:destination_id */
  update_destination(pipe_id: string, destination_id: string, body: JsonObject): Promise<BatchPipeResponse<JsonObject>>;
  /** PATCH /v1/pipes/:pipe_id/destinations/:destination_id/status */
  set_destination_status(
    pipe_id: string,
    destination_id: string,
    body: { destination_status: 'active' | 'blocked' } | JsonObject,
  ): Promise<BatchPipeResponse<JsonObject>>;
  /** DELETE /v1/pipes/:pipe_id/destinations/:destination_id */
  delete_destination(pipe_id: string, destination_id: string): Promise<BatchPipeResponse<null | ErrorBody>>;

  /** PUT /v1/pipes/:pipe_id/limits */
  set_pipe_limits(pipe_id: string, body: JsonObject): Promise<BatchPipeResponse<JsonObject>>;
  /** POST /v1/pipes/:pipe_id/allowed-origins */
  add_allowed_origin(pipe_id: string, body: { origin_domain: string } | JsonObject): Promise<BatchPipeResponse<JsonObject>>;
  /** DELETE /v1/pipes/:pipe_id/allowed-origins/:origin_id */
  remove_allowed_origin(pipe_id: string, origin_id: string): Promise<BatchPipeResponse<null | ErrorBody>>;

  /** GET /v1/pipes/:pipe_id/runs */
  list_runs(pipe_id: string, page?: PageOptions): Promise<BatchPipeResponse<JsonObject>>;
  /** GET /v1/pipes/:pipe_id/runs/:run_id */
  get_run(pipe_id: string, run_id: string): Promise<BatchPipeResponse<JsonObject>>;
  /** GET /v1/pipes/:pipe_id/destinations/:destination_id/dead-letters */
  list_dead_letters(pipe_id: string, destination_id: string, page?: PageOptions): Promise<BatchPipeResponse<JsonObject>>;
  /** POST /v1/pipes/:pipe_id/destinations/:destination_id/dead-letters/replay */
  replay_dead_letters(pipe_id: string, destination_id: string): Promise<BatchPipeResponse<{ replayed: number } | ErrorBody>>;

  /** GET /v1/api-keys */
  list_api_keys(page?: PageOptions): Promise<BatchPipeResponse<JsonObject>>;
  /** POST /v1/api-keys (the response holds the key's secret once) */
  create_api_key(body: { name: string } | JsonObject): Promise<BatchPipeResponse<JsonObject>>;
  /** DELETE /v1/api-keys/:api_key_id */
  revoke_api_key(api_key_id: string): Promise<BatchPipeResponse<null | ErrorBody>>;
}

/** `new BatchPipeClient(options)`. */
export function create_batchpipe_client(options: BatchPipeClientOptions): BatchPipeClient;

export default create_batchpipe_client;
