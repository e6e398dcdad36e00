package forge_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/lapsehq/lapse/app/forge"
)

func TestBearerToken(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		headers    []string
		want       string
		wantReason string
	}{
		{name: "bearer", headers: []string{"Bearer abc.def.ghi"}, want: "abc.def.ghi"},
		{name: "lower-case scheme", headers: []string{"bearer abc"}, want: "abc"},
		{name: "upper-case scheme", headers: []string{"BEARER abc"}, want: "abc"},
		{name: "extra spaces", headers: []string{"  Bearer   abc  "}, want: "abc"},
		{name: "missing", wantReason: forge.ReasonNoAuthorization},
		{name: "blank", headers: []string{" "}, wantReason: forge.ReasonNoAuthorization},
		{name: "basic", headers: []string{"Basic dXNlcjpwYXNz"}, wantReason: forge.ReasonNotBearer},
		{name: "connect jwt scheme", headers: []string{"JWT abc"}, wantReason: forge.ReasonNotBearer},
		{name: "scheme only", headers: []string{"Bearer"}, wantReason: forge.ReasonMalformedBearer},
		{name: "scheme and space", headers: []string{"Bearer  "}, wantReason: forge.ReasonMalformedBearer},
		{name: "two tokens", headers: []string{"Bearer a b"}, wantReason: forge.ReasonMalformedBearer},
		{name: "two headers", headers: []string{"Bearer a", "Bearer b"}, wantReason: forge.ReasonMalformedBearer},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("POST", "/forge", nil)
			for _, h := range tc.headers {
				r.Header.Add("Authorization", h)
			}
			got, err := forge.BearerToken(r)
			wantReason(t, err, tc.wantReason)
			if got != tc.want {
				t.Fatalf("token (-want +got):\n- %q\n+ %q", tc.want, got)
			}
		})
	}
}

func TestSystemTokenFromRequest(t *testing.T) {
	t.Parallel()
	exp := t0.Add(3 * time.Hour)
	withExp := signHS256(t, jwt.MapClaims{"exp": exp.Unix(), "sub": "app"})
	withoutExp := signHS256(t, jwt.MapClaims{"sub": "app"})
	fallback := t0.Add(forge.SystemTokenTTL)

	cases := []struct {
		name   string
		header string
		wantOK bool
		want   forge.SystemToken
	}{
		{name: "jwt with exp", header: withExp, wantOK: true, want: forge.SystemToken{Token: withExp, ExpiresAt: exp}},
		{name: "jwt without exp", header: withoutExp, wantOK: true, want: forge.SystemToken{Token: withoutExp, ExpiresAt: fallback}},
		{name: "opaque", header: "opaque-token-123", wantOK: true, want: forge.SystemToken{Token: "opaque-token-123", ExpiresAt: fallback}},
		{name: "three parts not base64", header: "a.!!!.c", wantOK: true, want: forge.SystemToken{Token: "a.!!!.c", ExpiresAt: fallback}},
		{name: "jwe-shaped", header: "a.b.c.d.e", wantOK: true, want: forge.SystemToken{Token: "a.b.c.d.e", ExpiresAt: fallback}},
		{name: "trimmed", header: " tok ", wantOK: true, want: forge.SystemToken{Token: "tok", ExpiresAt: fallback}},
		{name: "absent", header: "", wantOK: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("POST", "/forge", nil)
			if tc.header != "" {
				r.Header.Set(forge.HeaderSystemToken, tc.header)
			}
			got, ok := forge.SystemTokenFromRequest(r, t0)
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if !ok {
				if got != nil {
					t.Fatalf("token = %+v, want nil", got)
				}
				return
			}
			if got.Token != tc.want.Token || !got.ExpiresAt.Equal(tc.want.ExpiresAt) {
				t.Fatalf("SystemToken (-want +got):\n- %+v\n+ %+v", tc.want, *got)
			}
		})
	}
}

func signHS256(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("not-our-secret"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
