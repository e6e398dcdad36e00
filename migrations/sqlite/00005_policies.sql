-- +goose Up
-- Every saved version of a tenant's policy, append-only: a scan records the
-- version it applied, and an auditor can read the exact rules in force on
-- any day. The current policy is the highest version.
CREATE TABLE policies (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    version    INTEGER NOT NULL,
    body       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, version)
);
