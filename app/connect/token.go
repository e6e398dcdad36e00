package connect

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// TokenFromRequest returns the Connect JWT of a request: from the
// "Authorization: JWT <token>" header when present, else from the jwt query
// parameter (iframe URLs). Like ACSB, the header wins when both are present;
// a header with any other scheme is refused rather than ignored, so a request
// cannot be authenticated by a token the caller did not mean to send.
// Tokens in a form-encoded body (ACE's POST-rendered pages) are not read.
func TokenFromRequest(r *http.Request) (string, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		return tokenFromHeader(h)
	}
	values := r.URL.Query()["jwt"]
	switch {
	case len(values) > 1:
		return "", authError(reasonMultipleTokens, nil)
	case len(values) == 0 || values[0] == "":
		return "", authError(reasonMissingToken, nil)
	}
	return values[0], nil
}

// tokenFromHeader parses "JWT <token>"; the scheme is case-insensitive
// (RFC 9110 §11.1).
func tokenFromHeader(h string) (string, error) {
	scheme, token, _ := strings.Cut(strings.TrimSpace(h), " ")
	if !strings.EqualFold(scheme, "JWT") {
		return "", authError(reasonUnsupportedScheme, nil)
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", authError(reasonMissingToken, nil)
	}
	return token, nil
}

// Claims are the claims of a Connect JWT (PLATFORM §3.2).
type Claims struct {
	jwt.RegisteredClaims
	// QSH is the query string hash, or ContextQSH for context JWTs.
	QSH string `json:"qsh,omitempty"`
	// Context is the product context object (user, license, …), kept raw
	// because its shape differs by product and module.
	Context json.RawMessage `json:"context,omitempty"`
}

// AccountID returns the Atlassian accountId of the acting user:
// context.user.accountId when present, else sub (the order ACE uses). It is
// "" for requests that are not made on behalf of a user.
func (c *Claims) AccountID() string {
	var ctx struct {
		User struct {
			AccountID string `json:"accountId"`
		} `json:"user"`
	}
	// A context that is not an object (or absent) simply has no user.
	if len(c.Context) > 0 && json.Unmarshal(c.Context, &ctx) == nil && ctx.User.AccountID != "" {
		return ctx.User.AccountID
	}
	return c.Subject
}

// PeekIssuer returns the iss claim of token WITHOUT verifying anything. It
// exists only to find the tenant whose shared secret then verifies the token
// with VerifyHS256; never trust its result for anything else (callers check
// the verified iss against the tenant they found).
//
// It runs on every authenticated request, so it decodes only iss from the
// payload; the header and everything else are checked by the verifier,
// which parses the token again anyway.
func PeekIssuer(token string) (string, error) {
	if strings.Count(token, ".") != 2 {
		return "", authError(reasonMalformedToken, nil)
	}
	_, rest, _ := strings.Cut(token, ".")
	payload, _, _ := strings.Cut(rest, ".")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return "", authError(reasonMalformedToken, err)
	}
	var claims struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		return "", authError(reasonMalformedToken, err)
	}
	if claims.Issuer == "" {
		return "", authError(reasonMissingIssuer, nil)
	}
	return claims.Issuer, nil
}

// tokenHeader holds the JOSE header fields the verifiers check before any
// key is looked up.
type tokenHeader struct {
	alg, kid string
}

// parseHeader decodes the header segment into a map, exactly as golang-jwt
// does, so the alg checked here is the alg the library later sees (a struct
// would match "ALG" case-insensitively and could disagree).
func parseHeader(token string) (tokenHeader, error) {
	seg, _, ok := strings.Cut(token, ".")
	if !ok || strings.Count(token, ".") != 2 {
		return tokenHeader{}, authError(reasonMalformedToken, nil)
	}
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return tokenHeader{}, authError(reasonMalformedToken, err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		return tokenHeader{}, authError(reasonMalformedToken, err)
	}
	alg, _ := fields["alg"].(string)
	kid, _ := fields["kid"].(string)
	return tokenHeader{alg: alg, kid: kid}, nil
}

// requireAlg refuses any token whose header alg is not exactly want. This is
// the alg-confusion guard: without it an RS256 verifier could be handed an
// HS256 token MAC'd with the (public) RSA key, or an HS256 verifier a
// "none" token.
func requireAlg(token, want string) (tokenHeader, error) {
	h, err := parseHeader(token)
	if err != nil {
		return h, err
	}
	if h.alg != want {
		return h, authError(reasonUnexpectedAlg, nil)
	}
	return h, nil
}
