// Package forge authenticates Forge Remote invocations.
//
// Forge calls a remote backend with a Forge Invocation Token (FIT) in
// "Authorization: Bearer <FIT>". The FIT is an RS256 JWT signed by a key that
// Atlassian publishes as a JWKS; its payload says which installation, site and
// module the call is for. Verifier checks the token (PLATFORM.md §7.2) and
// returns the decoded Invocation; KeySet fetches and caches the JWKS.
//
// The optional app system token (x-forge-oauth-system, §7.3) is not verified
// here: it is opaque to the app and only forwarded to Atlassian APIs.
package forge
