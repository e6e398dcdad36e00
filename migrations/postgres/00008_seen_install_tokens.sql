-- +goose Up
-- Signed lifecycle tokens (installed, uninstalled) already acted on, shared by
-- every replica. A token stays valid until it expires, and it does not sign
-- the body, so without this a captured token could be replayed, or replayed
-- with another shared secret or baseUrl. A repeat with the same body is a
-- retried delivery and has no effect; any other repeat is refused. Rows are
-- kept until the token can no longer verify (exp plus leeway), then pruned.
CREATE TABLE seen_install_tokens (
    token_hash TEXT PRIMARY KEY, -- hex SHA-256 of the compact JWT
    body_hash  TEXT NOT NULL,    -- hex SHA-256 of the request body
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX seen_install_tokens_expires_idx ON seen_install_tokens (expires_at);
