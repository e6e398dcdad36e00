-- +goose Up
-- One row per scan of a tenant. A scan that dies (process killed, deploy)
-- is resumed from its persisted steps; status says where it is.
CREATE TABLE scans (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants (id),
    status         TEXT NOT NULL, -- running | held | approved | rejected | completed | failed | cancelled | deferred
    trigger_kind   TEXT NOT NULL, -- schedule | manual | forge
    policy_version INTEGER NOT NULL,
    mode           TEXT NOT NULL,
    started_at     TIMESTAMPTZ NOT NULL,
    finished_at    TIMESTAMPTZ,
    summary        JSONB NOT NULL DEFAULT '{}',
    error          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX scans_tenant_idx ON scans (tenant_id, started_at);

-- The population a scan saw and what the policy decided for each account:
-- the access report and the review evidence are built from it.
CREATE TABLE scan_accounts (
    scan_id    TEXT NOT NULL REFERENCES scans (id),
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    account_id TEXT NOT NULL,
    facts      JSONB NOT NULL,
    decisions  JSONB NOT NULL,
    PRIMARY KEY (scan_id, account_id)
);
CREATE INDEX scan_accounts_tenant_idx ON scan_accounts (tenant_id, scan_id);

-- Every change a scan makes to the customer's site, recorded as an intent
-- before the call and completed with its outcome after, so a scan that dies
-- in between reconciles by reading the state back instead of guessing.
CREATE TABLE scan_actions (
    scan_id     TEXT NOT NULL REFERENCES scans (id),
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    account_id  TEXT NOT NULL,
    group_id    TEXT NOT NULL,
    product     TEXT NOT NULL,
    state       TEXT NOT NULL, -- intent | done | failed | skipped
    outcome     TEXT NOT NULL DEFAULT '',
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scan_id, account_id, group_id)
);
CREATE INDEX scan_actions_state_idx ON scan_actions (tenant_id, scan_id, state);
