package web_test

import (
	"bytes"
	"encoding/json"
	"errors"
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

// qshCorpusSize and qshCorpusSeed fix the differential corpus: the same
// seed always yields the same URLs, so a failure can be replayed.
const (
	qshCorpusSize = 3000
	qshCorpusSeed = 20261204
)

type signedURL struct {
	URL       string `json:"url"`
	Canonical string `json:"canonical"`
	QSH       string `json:"qsh"`
	Token     string `json:"token"`
}

// qshCorpus runs .ci/node/qsh-corpus.js: random query strings signed by
// atlassian-jwt for the admin page of e.
func qshCorpus(t *testing.T, e *env, site *devsite.Installation, now int64) []signedURL {
	t.Helper()
	in, _ := json.Marshal(map[string]any{
		"seed": qshCorpusSeed, "count": qshCorpusSize,
		"url": e.app.BaseURL + "/admin", "appBaseUrl": e.app.BaseURL, "secret": site.SharedSecret,
		"claims": map[string]any{"iss": site.ClientKey, "sub": "557058:admin", "iat": now, "exp": now + 600},
	})
	cmd := exec.Command("node", filepath.Join(nodeDir, "qsh-corpus.js"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("qsh-corpus.js: %v: %s", err, stderr.String())
	}
	var urls []signedURL
	for line := range bytes.Lines(out) {
		var u signedURL
		if err := json.Unmarshal(line, &u); err != nil {
			t.Fatalf("qsh-corpus.js output: %v: %s", err, line)
		}
		urls = append(urls, u)
	}
	if len(urls) != qshCorpusSize {
		t.Fatalf("qsh-corpus.js wrote %d URLs, want %d", len(urls), qshCorpusSize)
	}
	return urls
}

// TestInterop_QSHCorpus is the differential test of the query string hash:
// thousands of random admin-page URLs signed by atlassian-jwt must open the
// admin page, and no URL that differs from a signed one in a single bit of
// its path or query may verify.
//
// Every URL goes through the running server. The bit flips (every bit of
// path and query of every URL, about two million requests) go through the
// same verifier the admin route uses, on a request parsed by net/http's own
// request reader, because two million round trips would take minutes. A
// flip that only changes the case of a hex digit inside a %XX escape names
// the same request (RFC 3986 §6.2.2.1) and is counted, not asserted.
func TestInterop_QSHCorpus(t *testing.T) {
	t.Parallel()
	requireInterop(t)
	e := newEnv(t, store.SQLite)
	site := e.site("jira")
	e.install(site)
	now := time.Now().Unix()
	corpus := qshCorpus(t, e, site, now)

	for _, u := range corpus {
		if r := e.get(withJWT(u.URL, u.Token)); r.status != http.StatusOK {
			t.Errorf("signed by atlassian-jwt but refused: %s (canonical %q): %d %s", u.URL, u.Canonical, r.status, r.body)
		}
	}
	if t.Failed() {
		return
	}

	verifier := connect.TokenVerifier{Leeway: 30 * time.Second}
	secret := []byte(site.SharedSecret)
	origin := strings.TrimSuffix(e.app.BaseURL, "/")
	var flips, unparsable int
	var accepted []acceptedFlip
	for n, u := range corpus {
		target := requestTarget(t, u.URL)
		for i := 0; i < len(target); i++ {
			if target[i] == '?' {
				continue // the separator is neither path nor query
			}
			for bit := range 8 {
				flipped := []byte(target)
				flipped[i] ^= 1 << bit
				flips++
				req, err := readRequest(string(flipped), u.Token)
				if err != nil {
					unparsable++ // net/http answers 400 before any handler runs
					continue
				}
				if _, err := verifier.VerifyHS256(u.Token, secret, req, "", connect.QSHExact); err == nil {
					accepted = append(accepted, acceptedFlip{corpus: n, url: origin + string(flipped)})
				}
			}
		}
	}
	// A changed URL may still name the same request: hex digits of an escape
	// are case-insensitive (RFC 3986 §6.2.2.1), and escapes that are not
	// UTF-8 decode to U+FFFD whatever their bytes. atlassian-jwt itself is
	// the judge: every accepted change must have the signed canonical request.
	for i, canonical := range atlassianCanonical(t, e, accepted) {
		f := accepted[i]
		if want := corpus[f.corpus].Canonical; canonical != want {
			t.Errorf("one bit changed, still accepted: %q (atlassian-jwt: %q) verifies with the token for %q", f.url, canonical, want)
		}
	}
	t.Logf("%d URLs from atlassian-jwt accepted; %d one-bit changes of path or query: %d refused by the verifier, %d unparsable by net/http, %d accepted and equivalent per atlassian-jwt",
		len(corpus), flips, flips-unparsable-len(accepted), unparsable, len(accepted))
}

type acceptedFlip struct {
	corpus int
	url    string
}

// atlassianCanonical asks atlassian-jwt for the canonical request of each
// URL.
func atlassianCanonical(t *testing.T, e *env, flips []acceptedFlip) []string {
	t.Helper()
	if len(flips) == 0 {
		return nil
	}
	urls := make([]string, len(flips))
	for i, f := range flips {
		urls[i] = f.url
	}
	in, _ := json.Marshal(map[string]any{"canonicalize": urls, "appBaseUrl": e.app.BaseURL})
	cmd := exec.Command("node", filepath.Join(nodeDir, "qsh-corpus.js"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("qsh-corpus.js canonicalize: %v: %s", err, stderr.String())
	}
	var canonicals []string
	for line := range bytes.Lines(out) {
		var c struct{ Canonical string }
		if err := json.Unmarshal(line, &c); err != nil {
			t.Fatalf("qsh-corpus.js output: %v: %s", err, line)
		}
		canonicals = append(canonicals, c.Canonical)
	}
	if len(canonicals) != len(urls) {
		t.Fatalf("qsh-corpus.js canonicalized %d URLs, want %d", len(canonicals), len(urls))
	}
	return canonicals
}

func withJWT(rawURL, token string) string {
	if strings.Contains(rawURL, "?") {
		return rawURL + "&jwt=" + token
	}
	return rawURL + "?jwt=" + token
}

// requestTarget returns the path and query of rawURL exactly as sent.
func requestTarget(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("parse %q: %v", rawURL, err)
	}
	return u.RequestURI()
}

// readRequest parses a GET of target (plus the jwt parameter) the way the
// server does: net/http reads the request target with url.ParseRequestURI
// and refuses control characters and spaces on the request line.
func readRequest(target, token string) (*http.Request, error) {
	if strings.ContainsFunc(target, func(r rune) bool { return r <= ' ' || r == 0x7F }) {
		return nil, errors.New("not a valid request line")
	}
	u, err := url.ParseRequestURI(withJWT(target, token))
	if err != nil {
		return nil, err
	}
	return &http.Request{Method: http.MethodGet, URL: u, RequestURI: u.RequestURI()}, nil
}
