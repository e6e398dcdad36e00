-- +goose Up
-- One row per installation (site x product). Connect and Forge identities are
-- both optional so a tenant can arrive through either door; when Connect runs
-- on Forge they meet in one row. Rows are never deleted on uninstall: the
-- audit trail must outlive the installation.
CREATE TABLE tenants (
    id                TEXT PRIMARY KEY,
    client_key        TEXT UNIQUE,
    installation_id   TEXT UNIQUE,
    cloud_id          TEXT NOT NULL DEFAULT '',
    base_url          TEXT NOT NULL DEFAULT '',
    display_url       TEXT NOT NULL DEFAULT '',
    api_base_url      TEXT NOT NULL DEFAULT '',
    product           TEXT NOT NULL CHECK (product IN ('jira', 'confluence')),
    state             TEXT NOT NULL CHECK (state IN ('installed', 'enabled', 'disabled', 'uninstalled')),
    oauth_client_id   TEXT NOT NULL DEFAULT '',
    description       TEXT NOT NULL DEFAULT '',
    -- AES-GCM ciphertext bound to the tenant id (app/secret); never plaintext.
    shared_secret_enc BYTEA,
    installed_at      TIMESTAMPTZ,
    enabled_at        TIMESTAMPTZ,
    disabled_at       TIMESTAMPTZ,
    uninstalled_at    TIMESTAMPTZ,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    CHECK (client_key IS NOT NULL OR installation_id IS NOT NULL)
);
-- A site import keeps the base URL but brings a new clientKey, so base_url is
-- indexed, not unique.
CREATE INDEX tenants_base_url_idx ON tenants (base_url);

-- The latest Forge app system token of an installation, for calls made
-- outside an invocation (scheduled scans). Encrypted like the shared secret.
CREATE TABLE forge_system_tokens (
    tenant_id  TEXT PRIMARY KEY REFERENCES tenants (id),
    token_enc  BYTEA NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Every verified Forge event and scheduled-trigger call, so an operator can
-- see what Atlassian delivered and a later scan can be traced to its trigger.
CREATE TABLE forge_invocations (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    kind        TEXT NOT NULL,
    module_key  TEXT NOT NULL DEFAULT '',
    event_type  TEXT NOT NULL DEFAULT '',
    trace_id    TEXT NOT NULL DEFAULT '',
    received_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX forge_invocations_tenant_idx ON forge_invocations (tenant_id, received_at);

-- Append-only audit trail. Every change Lapse records is written here in the
-- same transaction as the change itself.
CREATE TABLE audit_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    occurred_at TIMESTAMPTZ NOT NULL,
    actor_type  TEXT NOT NULL,
    actor_id    TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL,
    data        JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_tenant_idx ON audit_events (tenant_id, occurred_at, id);
