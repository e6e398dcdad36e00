-- +goose Up
-- Usage of Atlassian API budgets per scope and time window, shared by every
-- replica: Jira/Confluence points app-wide and per tenant per UTC hour, and
-- Admin API requests per org per minute. A reservation is one conditional
-- upsert, so replicas never overspend a window between them.
CREATE TABLE api_budget_windows (
    scope        TEXT NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    used         BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, window_start)
);

-- A quota 429 from Atlassian pauses a whole scope until its reset; every
-- replica honours the pause.
CREATE TABLE api_budget_pauses (
    scope      TEXT PRIMARY KEY,
    paused_til TIMESTAMPTZ NOT NULL,
    reason     TEXT NOT NULL DEFAULT ''
);
