package forgetest_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lapsehq/lapse/app/forge"
	"github.com/lapsehq/lapse/app/forge/forgetest"
)

func TestStandaloneIssuerHandler(t *testing.T) {
	t.Parallel()
	iss, err := forgetest.NewStandaloneIssuer()
	if err != nil {
		t.Fatal(err)
	}
	if got := iss.JWKSURL(); got != "" {
		t.Fatalf("standalone JWKSURL = %q, want empty", got)
	}
	srv := httptest.NewServer(iss.Handler())
	t.Cleanup(srv.Close)

	cases := []struct {
		name       string
		path       string
		wantStatus int
	}{
		{name: "jwks", path: forgetest.JWKSPath, wantStatus: http.StatusOK},
		{name: "elsewhere", path: "/", wantStatus: http.StatusNotFound},
	}
	for _, tc := range cases {
		resp, err := srv.Client().Get(srv.URL + tc.path)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.wantStatus {
			t.Fatalf("%s: status = %d, want %d", tc.name, resp.StatusCode, tc.wantStatus)
		}
	}
	if got := iss.Fetches(); got != 1 {
		t.Fatalf("Fetches = %d, want 1", got)
	}

	// A dev program wires exactly this: KeySet on the mounted handler.
	token, err := iss.MintToken(forgetest.Claims{})
	if err != nil {
		t.Fatal(err)
	}
	v := &forge.Verifier{Keys: forge.NewKeySet(srv.URL+forgetest.JWKSPath, srv.Client()), Audience: iss.AppID}
	if _, err := v.Verify(context.Background(), token); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}
