package atlassian_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app/atlassian"
)

const (
	testToken = "adm1n-ap1-k3y-s3cr3t-0123456789"
	// testJWT is not JWT-shaped on purpose: it must be caught because it is
	// the jwt= query value, not because it looks like a token.
	testJWT = "connect-jwt-s3cr3t-value-42"
)

func TestBearer(t *testing.T) {
	t.Parallel()
	auth := atlassian.Bearer(testToken)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "auth", auth, "cfg", atlassian.Config{Auth: auth})
	js, _ := json.Marshal(struct{ Auth atlassian.Auth }{auth})
	outputs := []string{
		fmt.Sprint(auth), fmt.Sprintf("%v %+v %#v %s", auth, auth, auth, auth),
		fmt.Sprintf("%+v", atlassian.Config{Auth: auth}), logs.String(), string(js),
	}
	for _, out := range outputs {
		if strings.Contains(out, testToken) {
			t.Errorf("token printed: %s", out)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "https://api.atlassian.com/admin/v1/orgs", nil)
	if err := auth.Authorize(req); err != nil || req.Header.Get("Authorization") != "Bearer "+testToken {
		t.Errorf("Authorization = %q, %v", req.Header.Get("Authorization"), err)
	}
	if err := atlassian.Bearer("").Authorize(req); err == nil {
		t.Error("empty token accepted")
	}
}

// TestSecretsNeverLeak drives every error path with a bearer token and a
// jwt= query value and checks neither appears in any error string or any
// log line (debug level included).
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	echo := fmt.Sprintf(`{"errorMessages":["bad credentials Bearer %s for jwt=%s"],"message":"token %s","errors":{"jwt":"%s"}}`,
		testToken, testJWT, testToken, testJWT)
	jwtShaped := "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqaXJhIn0.c2lnbmF0dXJlLWJ5dGVz"
	closed := newFakeServer(t, nil)
	closedURL := closed.URL
	closed.Close()

	cases := []struct {
		name    string
		base    string // "" = the scripted server
		method  string
		replies []reply
	}{
		{name: "401_echoing_credentials", replies: []reply{{status: 401, body: echo}}},
		{name: "500_echoing_credentials_retried", replies: []reply{{status: 500, body: echo}}},
		{name: "403_echoing_a_jwt", replies: []reply{{status: 403, body: `{"message":"rejected ` + jwtShaped + `"}`}}},
		{name: "plain_text_echo", replies: []reply{{status: 400, header: map[string]string{"Content-Type": "text/plain"}, body: "Authorization: Bearer " + testToken}}},
		{name: "connection_refused", base: closedURL},
		{name: "post_dropped", method: http.MethodPost, replies: []reply{{drop: true}}},
		{name: "post_timeout", method: http.MethodPost, replies: []reply{{hang: true}}},
		{name: "get_timeout", replies: []reply{{hang: true}}},
		{name: "429_exhausted", replies: []reply{{status: 429, header: burst("900")}}},
		{name: "decode_error", replies: []reply{{status: 200, body: `{"x":"` + testToken + `"`}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base := tc.base
			if base == "" {
				base = script1(t, tc.replies...).URL
			}
			h := newHarness()
			c := h.client(t, base, func(cfg *atlassian.Config) {
				cfg.HTTPClient.Timeout = 100 * time.Millisecond
				cfg.Retry.MaxRetries = 1
				cfg.Auth = atlassian.AuthFunc(func(r *http.Request) error {
					if err := atlassian.Bearer(testToken).Authorize(r); err != nil {
						return err
					}
					q := r.URL.Query()
					q.Set("jwt", testJWT)
					r.URL.RawQuery = q.Encode()
					return nil
				})
			})
			var out map[string]any
			_, err := c.Do(context.Background(), &atlassian.Request{Method: tc.method, Path: "/x"}, &out)
			if err == nil {
				t.Fatal("expected an error")
			}
			texts := map[string]string{
				"error":    err.Error(),
				"error_+v": fmt.Sprintf("%+v", err),
				"error_#v": fmt.Sprintf("%#v", err),
				"logs":     h.logs.String(),
			}
			for what, text := range texts {
				for _, secret := range []string{testToken, testJWT, jwtShaped} {
					if strings.Contains(text, secret) {
						t.Errorf("%s contains a secret:\n%s", what, text)
					}
				}
			}
			if h.logs.String() == "" {
				t.Error("nothing logged; the check above proves nothing")
			}
		})
	}
}
