package web_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app/connect"
	"github.com/lapsehq/lapse/app/devsite"
	"github.com/lapsehq/lapse/app/store"
)

// The interop tests sign with Atlassian's own npm library, atlassian-jwt,
// through .ci/node/atlassian-jwt.js, and check that Lapse accepts exactly
// what Atlassian's signer produces. CI installs the library and sets
// LAPSE_TEST_INTEROP=1, which turns a missing install into a failure.
const envInterop = "LAPSE_TEST_INTEROP"

var nodeDir = filepath.Join("..", "..", ".ci", "node")

func requireInterop(t *testing.T) {
	t.Helper()
	_, nodeErr := exec.LookPath("node")
	_, modErr := os.Stat(filepath.Join(nodeDir, "node_modules", "atlassian-jwt"))
	if nodeErr == nil && modErr == nil {
		return
	}
	if os.Getenv(envInterop) != "" {
		t.Fatalf("%s is set but node or atlassian-jwt is missing: run npm ci --prefix .ci/node", envInterop)
	}
	t.Skipf("atlassian-jwt interop test SKIPPED: run `npm ci --prefix .ci/node` (CI does, and sets %s=1)", envInterop)
}

type atlassianJWTInput struct {
	Kind          string         `json:"kind"`
	Method        string         `json:"method,omitempty"`
	URL           string         `json:"url,omitempty"`
	AppBaseURL    string         `json:"appBaseUrl,omitempty"`
	Secret        string         `json:"secret,omitempty"`
	PrivateKeyPEM string         `json:"privateKeyPem,omitempty"`
	KID           string         `json:"kid,omitempty"`
	Claims        map[string]any `json:"claims"`
	QSH           string         `json:"qsh"`
}

type atlassianJWTOutput struct {
	Token     string `json:"token"`
	QSH       string `json:"qsh"`
	Canonical string `json:"canonical"`
}

func atlassianJWT(t *testing.T, in atlassianJWTInput) atlassianJWTOutput {
	t.Helper()
	raw, _ := json.Marshal(in)
	cmd := exec.Command("node", filepath.Join(nodeDir, "atlassian-jwt.js"))
	cmd.Stdin = bytes.NewReader(raw)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("atlassian-jwt.js: %v: %s", err, stderr.String())
	}
	var o atlassianJWTOutput
	if err := json.Unmarshal(out, &o); err != nil {
		t.Fatalf("atlassian-jwt.js output: %v: %s", err, out)
	}
	return o
}

// TestInterop_AtlassianJWT installs, opens the admin page with awkward query
// strings, and calls the API, every token minted by atlassian-jwt; then
// checks that an altered URL is still refused.
func TestInterop_AtlassianJWT(t *testing.T) {
	t.Parallel()
	requireInterop(t)
	for _, basePath := range []string{"", "/lapse"} {
		t.Run("base_path="+basePath, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, store.SQLite, envOptions{basePath: basePath})
			site := e.site("confluence")
			now := time.Now().Unix()

			install := atlassianJWT(t, atlassianJWTInput{
				Kind: "rs256", Method: "POST", URL: e.app.BaseURL + "/installed", AppBaseURL: e.app.BaseURL,
				PrivateKeyPEM: string(e.host.PrivateKeyPEM()), KID: e.host.KID(), QSH: "compute",
				Claims: map[string]any{"iss": site.ClientKey, "sub": "557058:installer", "aud": []string{e.app.BaseURL}, "context": map[string]any{}, "iat": now, "exp": now + 180},
			})
			if r := e.do(http.MethodPost, "/installed", "JWT "+install.Token, jsonBody(t, devsite.LifecyclePayload(e.app, site, "installed"))); r.status != http.StatusNoContent {
				t.Fatalf("install signed by atlassian-jwt: %d %s", r.status, r.body)
			}

			for _, query := range []string{
				"",
				"xdm_e=https%3A%2F%2Facme.atlassian.net&xdm_c=channel-x&cp=%2Fwiki&lic=none&cv=1001.0.0-SNAPSHOT",
				"tz=Australia%2FSydney&loc=en-US&user_id=&user_key=",
				"q=some+spaces+in+this&star=connect*&tilde=in+%7E3+days&bang=%21%27%28%29",
				"ids=10&ids=2&ids=1&a=x1&a=x10&B=upper",
				"unicode=%E5%AE%AE%E5%B4%8E+%E9%A7%BF&json=%7B%22k%22%3A%22v%22%7D&plus=1+%2B+1",
				"empty=&empty=+&empty=%2520",
			} {
				pageURL := e.app.BaseURL + "/admin"
				if query != "" {
					pageURL += "?" + query
				}
				page := atlassianJWT(t, atlassianJWTInput{
					Kind: "hs256", Method: "GET", URL: pageURL, AppBaseURL: e.app.BaseURL, Secret: site.SharedSecret, QSH: "compute",
					Claims: map[string]any{"iss": site.ClientKey, "sub": "557058:admin", "iat": now, "exp": now + 180},
				})
				sep := "?"
				if query != "" {
					sep = "&"
				}
				if r := e.get(pageURL + sep + "jwt=" + url.QueryEscape(page.Token)); r.status != http.StatusOK {
					t.Fatalf("admin page %q (canonical %q): %d %s", query, page.Canonical, r.status, r.body)
				}
				u, _ := url.Parse(pageURL)
				if got := connect.QueryStringHash("GET", u.Path, u.RawQuery, strings.TrimSuffix(basePath, "/")); got != page.QSH {
					t.Errorf("qsh of %q: Lapse %s, atlassian-jwt %s (canonical %q)", query, got, page.QSH, page.Canonical)
				}
			}

			ctxTok := atlassianJWT(t, atlassianJWTInput{Kind: "hs256", Secret: site.SharedSecret, QSH: "context",
				Claims: map[string]any{"iss": site.ClientKey, "sub": "557058:admin", "iat": now, "exp": now + 180}})
			if r := e.do(http.MethodGet, "/api/v1/tenant", "JWT "+ctxTok.Token, nil); r.status != http.StatusOK {
				t.Fatalf("context token from atlassian-jwt: %d %s", r.status, r.body)
			}

			other := atlassianJWT(t, atlassianJWTInput{
				Kind: "hs256", Method: "GET", URL: e.app.BaseURL + "/admin?lic=none", AppBaseURL: e.app.BaseURL, Secret: site.SharedSecret, QSH: "compute",
				Claims: map[string]any{"iss": site.ClientKey, "iat": now, "exp": now + 180},
			})
			wantError(t, e.get(e.app.BaseURL+"/admin?lic=active&jwt="+other.Token), 401, "unauthorized", "query string hash")
		})
	}
}
