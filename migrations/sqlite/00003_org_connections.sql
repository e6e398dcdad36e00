-- +goose Up
-- The organization Admin API connection of a tenant: the org id and the
-- customer's org admin API key. Last-active dates and membership changes
-- exist only in the Admin API, which an app installation does not grant, so
-- the site admin pastes a key in. The key is sealed with AES-GCM bound to the
-- tenant (app/secret) and never returned by any API.
CREATE TABLE org_connections (
    tenant_id        TEXT PRIMARY KEY REFERENCES tenants (id),
    org_id           TEXT NOT NULL,
    api_key_enc      BLOB NOT NULL,
    -- How last-active dates are read for this tenant: "bulk" (users/search
    -- with expand productAccess) or "per_user" (v1 last-active-dates), as
    -- detected on the tenant's own org and recorded here.
    activity_source  TEXT NOT NULL DEFAULT '',
    activity_checked TIMESTAMP,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);
