-- +goose Up
-- E-mails that warn an account it will lose a product's access: an outbox.
-- A scan queues one row per account, product and removal date (the unique
-- key makes the daily scans of a warning period queue it once); a delivery
-- job claims rows, sends them over SMTP and records the result with its
-- audit event in one transaction.
CREATE TABLE warning_notices (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    scan_id         TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    product         TEXT NOT NULL,
    removal_due_day TEXT NOT NULL, -- YYYY-MM-DD (UTC) of removal_due
    removal_due     TIMESTAMP NOT NULL,
    last_active     TIMESTAMP,
    email           TEXT NOT NULL,
    display_name    TEXT NOT NULL DEFAULT '',
    site_url        TEXT NOT NULL DEFAULT '',
    state           TEXT NOT NULL, -- queued | sending | sent | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    next_attempt_at TIMESTAMP NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, account_id, product, removal_due_day)
);
CREATE INDEX warning_notices_due_idx ON warning_notices (state, next_attempt_at);
