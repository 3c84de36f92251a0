-- BatchPipe control-plane schema, version 1.
CREATE TABLE workspace (
  id          uuid PRIMARY KEY,
  name        text NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_key (
  id            uuid PRIMARY KEY,
  workspace_id  uuid NOT NULL REFERENCES workspace(id) ON DELETE CASCADE,
  name          text NOT NULL,
  prefix        text NOT NULL,
  key_sha256    text NOT NULL UNIQUE,  -- hex SHA-256 of the secret; the secret itself is never stored
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  expires_at    timestamptz,
  revoked_at    timestamptz
);
CREATE INDEX api_key_workspace ON api_key (workspace_id, created_at DESC, id DESC);

CREATE TABLE pipe (
  id                             uuid PRIMARY KEY,
  workspace_id                   uuid NOT NULL REFERENCES workspace(id) ON DELETE CASCADE,
  name                           text NOT NULL,
  description                    text NOT NULL DEFAULT '',
  status                         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'inactive')),
  require_api_key                boolean NOT NULL DEFAULT true,
  allow_any_browser_origin       boolean NOT NULL DEFAULT false,
  enrich_ingest_timestamp_field  text,
  enrich_client_ip_field         text,
  created_at                     timestamptz NOT NULL DEFAULT now(),
  updated_at                     timestamptz NOT NULL DEFAULT now(),
  UNIQUE (workspace_id, name)
);
CREATE INDEX pipe_workspace ON pipe (workspace_id, created_at DESC, id DESC);

CREATE TABLE pipe_limit (
  pipe_id                             uuid PRIMARY KEY REFERENCES pipe(id) ON DELETE CASCADE,
  pl_ingest_max_records_per_request   bigint,
  pl_ingest_max_bytes_per_request     bigint,
  pl_ingest_max_requests_per_second   bigint,
  pl_delivery_max_records             bigint,
  pl_delivery_max_bytes               bigint,
  pl_delivery_max_interval_ms         bigint,
  pl_delivery_max_attempts            bigint,
  updated_at                          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE allowed_origin (
  id             uuid PRIMARY KEY,
  pipe_id        uuid NOT NULL REFERENCES pipe(id) ON DELETE CASCADE,
  origin_domain  text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  UNIQUE (pipe_id, origin_domain)
);

CREATE TABLE destination (
  id                  uuid PRIMARY KEY,
  pipe_id             uuid NOT NULL REFERENCES pipe(id) ON DELETE CASCADE,
  type                text NOT NULL,
  name                text NOT NULL,
  destination_status  text NOT NULL DEFAULT 'active' CHECK (destination_status IN ('active', 'blocked')),
  config              jsonb NOT NULL,     -- the non-secret fields
  secrets_ciphertext  bytea,              -- AES-256-GCM (nonce | ciphertext | tag) of a JSON object of secrets
  secrets_key_id      text,               -- which master key sealed it
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  UNIQUE (pipe_id, name)
);

CREATE TABLE delivery_run (
  id              uuid PRIMARY KEY,
  pipe_id         uuid NOT NULL REFERENCES pipe(id) ON DELETE CASCADE,
  destination_id  uuid NOT NULL,  -- no FK: runs outlive a deleted destination
  status          text NOT NULL CHECK (status IN ('success', 'failed', 'retrying')),
  records         bigint NOT NULL DEFAULT 0,
  bytes           bigint NOT NULL DEFAULT 0,
  attempts        bigint NOT NULL DEFAULT 0,
  started_at      timestamptz NOT NULL,
  finished_at     timestamptz,
  error           text NOT NULL DEFAULT ''
);
CREATE INDEX delivery_run_pipe ON delivery_run (pipe_id, started_at DESC, id DESC);

-- Usage counters per pipe and hour; the usage snapshot sums them.
CREATE TABLE usage_counter (
  pipe_id            uuid NOT NULL REFERENCES pipe(id) ON DELETE CASCADE,
  hour               timestamptz NOT NULL,
  requests_accepted  bigint NOT NULL DEFAULT 0,
  records_accepted   bigint NOT NULL DEFAULT 0,
  bytes_accepted     bigint NOT NULL DEFAULT 0,
  records_delivered  bigint NOT NULL DEFAULT 0,
  records_failed     bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (pipe_id, hour)
);

-- The API's timestamp text: RFC 3339 in UTC with milliseconds.
CREATE FUNCTION bp_ts(t timestamptz) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;
