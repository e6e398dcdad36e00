package connect_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/lapsehq/lapse/app/connect"
)

func TestTokenFromRequest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		target     string
		authHeader string
		want       string
		wantReason string
	}{
		{name: "header", target: "/x", authHeader: "JWT abc.def.ghi", want: "abc.def.ghi"},
		{name: "header_scheme_case_insensitive", target: "/x", authHeader: "jwt abc.def.ghi", want: "abc.def.ghi"},
		{name: "query", target: "/x?a=1&jwt=abc.def.ghi", want: "abc.def.ghi"},
		{name: "header_preferred_over_query", target: "/x?jwt=from.query.param", authHeader: "JWT from.the.header", want: "from.the.header"},
		{name: "other_scheme_refused", target: "/x", authHeader: "Bearer abc.def.ghi", wantReason: "unsupported authorization scheme"},
		{name: "other_scheme_refused_even_with_query", target: "/x?jwt=abc.def.ghi", authHeader: "Basic dXNlcjpwYXNz", wantReason: "unsupported authorization scheme"},
		{name: "header_without_token", target: "/x", authHeader: "JWT ", wantReason: "missing token"},
		{name: "none", target: "/x", wantReason: "missing token"},
		{name: "empty_query_param", target: "/x?jwt=", wantReason: "missing token"},
		{name: "two_query_params", target: "/x?jwt=a.b.c&jwt=d.e.f", wantReason: "multiple tokens"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRequest("GET", tc.target)
			if tc.authHeader != "" {
				r.Header.Set("Authorization", tc.authHeader)
			}
			got, err := connect.TokenFromRequest(r)
			if tc.wantReason != "" {
				wantAuthReason(t, err, tc.wantReason)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("TokenFromRequest() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPeekIssuer(t *testing.T) {
	t.Parallel()
	golden := loadGolden(t)
	cases := []struct {
		name       string
		token      string
		want       string
		wantReason string
	}{
		{name: "golden", token: golden.Token, want: golden.Issuer},
		// The signature is not checked: that is the point of peeking.
		{name: "wrong_signature_still_peeks", token: golden.Token[:len(golden.Token)-4] + "AAAA", want: golden.Issuer},
		{name: "no_iss", token: rawToken(t, map[string]any{"alg": "HS256"}, map[string]any{"exp": 1}, hmacSHA256([]byte("k"))), wantReason: "missing iss claim"},
		{name: "garbage", token: "not-a-token", wantReason: "malformed token"},
		{name: "bad_payload", token: "eyJhbGciOiJIUzI1NiJ9.!!!.sig", wantReason: "malformed token"},
		{name: "two_segments", token: strings.Join(strings.Split(golden.Token, ".")[:2], "."), wantReason: "malformed token"},
		{name: "iss_not_a_string", token: rawToken(t, map[string]any{"alg": "HS256"}, map[string]any{"iss": 7}, hmacSHA256([]byte("k"))), wantReason: "malformed token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := connect.PeekIssuer(tc.token)
			if tc.wantReason != "" {
				wantAuthReason(t, err, tc.wantReason)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("PeekIssuer() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestClaims_AccountID(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		sub     string
		context string
		want    string
	}{
		{name: "context_user_wins", sub: "sub-id", context: `{"user":{"accountId":"ctx-id","userKey":"admin"}}`, want: "ctx-id"},
		{name: "sub_when_no_context", sub: "sub-id", want: "sub-id"},
		{name: "sub_when_empty_context", sub: "sub-id", context: `{}`, want: "sub-id"},
		{name: "sub_when_context_not_object", sub: "sub-id", context: `"weird"`, want: "sub-id"},
		{name: "none", want: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var c connect.Claims
			c.Subject = tc.sub
			if tc.context != "" {
				c.Context = json.RawMessage(tc.context)
			}
			if got := c.AccountID(); got != tc.want {
				t.Errorf("AccountID() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAuthError(t *testing.T) {
	t.Parallel()
	err := error(&connect.AuthError{Reason: "token expired"})
	if !connect.IsAuthError(err) || err.Error() != "token expired" {
		t.Errorf("got IsAuthError=%v Error()=%q", connect.IsAuthError(err), err.Error())
	}
	if connect.IsAuthError(json.Unmarshal([]byte("{"), new(any))) {
		t.Error("IsAuthError(plain error) = true")
	}
}
