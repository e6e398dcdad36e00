// Package atlassian is the shared outbound transport that every Atlassian API
// client in Lapse is built on: the organization Admin API, Jira and Confluence
// REST, and personal-data reporting.
//
// A Client sends one logical request with Do and takes care of what every
// caller would otherwise repeat:
//
//   - authentication through the small Auth interface, so Connect JWTs, Forge
//     system tokens and Admin API keys all plug in the same way;
//   - budget accounting (Budget): the points of Atlassian's hourly quotas and
//     the Admin API request counters are reserved before a request is sent, so
//     replicas sharing one Budget stay under the limit instead of discovering
//     it through 429s (atlassian/DOMAIN.md §4.3, §3.7);
//   - rate limits: a quota 429 pauses the whole scope for every replica, a
//     burst 429 slows only the endpoint that hit it, Retry-After is always the
//     minimum delay (DOMAIN.md §4.5, §4.6);
//   - retries with exponential backoff and jitter, but only where a repeat is
//     safe: a non-idempotent request (a group removal, a role revoke) is never
//     sent twice unless Atlassian provably did not process it;
//   - typed errors (*APIError, *RateLimitError, *BudgetError,
//     *UnknownOutcomeError) that a scheduler can act on.
//
// Secrets never leave through errors or logs: the Authorization header,
// bearer tokens and query values such as jwt= are never logged, URLs in
// transport errors lose their query string, and messages copied from error
// bodies are scrubbed of the request's credentials.
//
// The package depends on the standard library only.
package atlassian
