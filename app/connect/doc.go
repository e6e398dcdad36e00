// Package connect implements the inbound Atlassian Connect protocol and the
// outbound request signer (atlassian/PLATFORM.md §2–§5.1):
//
//   - the query string hash (qsh) that binds a Connect JWT to one request;
//   - verification of HS256 tenant tokens signed with the per-install shared
//     secret (iframes, webhooks, enabled/disabled callbacks, context JWTs);
//   - verification of the RS256 signed-install token that Atlassian sends with
//     the installed/uninstalled callbacks, including fetching and caching the
//     install public key by kid;
//   - signing outgoing app → product requests.
//
// The package only depends on the standard library and golang-jwt. It never
// logs; every authentication failure is an *AuthError whose Reason is safe to
// return to the client, and everything else (misconfiguration, key host
// unreachable) is an ordinary error that callers should treat as a server
// error.
package connect
