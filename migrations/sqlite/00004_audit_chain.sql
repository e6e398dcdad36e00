-- +goose Up
-- Tamper evidence for the audit trail (app/store/audit_chain.go).
--
-- The version is 00004 in both dialect folders, as every migration is: goose
-- records one version per file, the parity test (app/store/migrate_test.go)
-- requires identical version sets, and a database moved from SQLite to
-- PostgreSQL must be at the same schema step. The SQL differs only where the
-- dialects do (ALTER TABLE limits, JSON functions).
--
-- Each tenant's events form a hash chain: seq numbers them 1, 2, 3, ... with
-- no gaps, and hash covers the event and prev_hash, the hash of the event
-- before it. Editing, deleting or reordering a row then breaks the chain at
-- that row. SQLite cannot add a NOT NULL column without a default or add a
-- constraint later, so seq defaults to 0 here; the store never writes 0 and
-- verification rejects it.
ALTER TABLE audit_events ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN hash TEXT NOT NULL DEFAULT '';
-- The account an event is about (data.accountId), as a column so an export
-- for one account is an index lookup instead of a JSON scan. It is derived
-- from data, which the hash covers, and verification checks that it still
-- matches, so editing it to hide rows from a filtered export is caught.
ALTER TABLE audit_events ADD COLUMN target_account_id TEXT;

-- Number existing rows per tenant in the order they were written (id).
-- Their hashes cannot be computed in SQL: the encoding needs canonical JSON
-- and SHA-256, which SQLite lacks, so they keep hash = '' and the store seals
-- them, deterministically and under the tenant's chain lock, on the tenant's
-- first append or verification (sealLegacyAuditChain).
UPDATE audit_events SET seq = numbered.rn
FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY tenant_id ORDER BY id) AS rn FROM audit_events) AS numbered
WHERE audit_events.id = numbered.id;

-- CASE is evaluated lazily, so malformed JSON (never written by Lapse) is
-- skipped instead of failing the migration.
UPDATE audit_events SET target_account_id =
    CASE WHEN json_valid(data) THEN
        CASE WHEN json_type(data, '$.accountId') = 'text' THEN json_extract(data, '$.accountId') END
    END;

-- The backstop against two writers giving out one number: the store
-- serialises appends per tenant, and this index turns a bug in that into a
-- failed insert instead of a forked chain.
CREATE UNIQUE INDEX audit_events_tenant_seq_key ON audit_events (tenant_id, seq);
CREATE INDEX audit_events_tenant_account_idx ON audit_events (tenant_id, target_account_id, seq);

-- The head of each tenant's chain: its last seq and hash, written in the
-- same transaction as every append. A chain alone cannot show that its last
-- rows were deleted (what is left is still a valid chain); comparing its end
-- with the head can. Kept in its own table so truncating audit_events does
-- not also truncate the evidence.
CREATE TABLE audit_heads (
    tenant_id  TEXT PRIMARY KEY REFERENCES tenants (id),
    seq        BIGINT NOT NULL,
    hash       TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
