-- Access control: API tokens, and the responses remembered for Idempotency-Key.

-- A token's secret is never stored, only its SHA-256 hash (see src/auth/secret.rs).
CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY,
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    scope        text NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    secret_hash  bytea NOT NULL CHECK (octet_length(secret_hash) = 32),
    -- The secret's first characters, so people can tell tokens apart in lists.
    prefix       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz,
    -- The admin token that created this one; NULL for the CLI and the initial token.
    created_by   uuid REFERENCES api_tokens (id),
    CONSTRAINT api_tokens_secret_hash_unique UNIQUE (secret_hash)
);

-- One row per (caller, Idempotency-Key): the request's fingerprint and, once
-- it succeeded, the response to replay. Rows are kept 24 hours.
CREATE TABLE idempotency_keys (
    -- `token:<id>` or `ip:<address>`: keys of different callers never collide.
    caller        text NOT NULL,
    key           text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
    method        text NOT NULL,
    path          text NOT NULL,
    -- SHA-256 of method, path with query, and body.
    request_hash  bytea NOT NULL,
    -- NULL while the first request is still being processed.
    status        smallint,
    headers       jsonb,
    body          bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz,
    PRIMARY KEY (caller, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
