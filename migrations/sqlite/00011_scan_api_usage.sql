-- +goose Up
-- What a scan spent on Atlassian's APIs, added to as the scan runs (after
-- every removal, every evaluation batch and every 200 ms) rather
-- than only in the summary an attempt writes when it ends: a killed attempt's
-- requests stay counted, and a resumed scan adds to them.
ALTER TABLE scans ADD COLUMN api_requests     INTEGER NOT NULL DEFAULT 0;
ALTER TABLE scans ADD COLUMN api_rate_limited INTEGER NOT NULL DEFAULT 0;
ALTER TABLE scans ADD COLUMN api_points       INTEGER NOT NULL DEFAULT 0;
-- Scans recorded before: their summary holds what their attempts reported.
UPDATE scans SET
    api_requests     = COALESCE(json_extract(summary, '$.api.requests'), 0),
    api_rate_limited = COALESCE(json_extract(summary, '$.api.rateLimited'), 0),
    api_points       = COALESCE(json_extract(summary, '$.api.points'), 0);
