package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app/connect"
	"github.com/lapsehq/lapse/app/devsite"
	"github.com/lapsehq/lapse/app/forge"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/store/storetest"
	"github.com/lapsehq/lapse/app/web"
)

const appKey = "com.lapsehq.lapse.test"

// env is one running Lapse (real HTTP, real store) and one simulated
// Atlassian host with its key server.
type env struct {
	t     *testing.T
	host  *devsite.Host
	keys  *httptest.Server
	lapse *httptest.Server
	app   devsite.App
	store *store.Store
}

type envOptions struct {
	basePath     string // app base URL path, e.g. "/lapse"
	allowedHosts []string
	forgeAppID   string           // "" = the host's; "-" = none
	now          func() time.Time // Lapse's clock; nil = the real one
	logger       *slog.Logger     // nil = discard
}

func newEnv(t *testing.T, d store.Dialect, opts ...envOptions) *env {
	t.Helper()
	var o envOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	host, err := devsite.NewHost()
	if err != nil {
		t.Fatal(err)
	}
	keys := httptest.NewServer(host.Handler())
	t.Cleanup(keys.Close)
	st := storetest.Open(t, d)

	lapse := httptest.NewUnstartedServer(nil)
	baseURL := "http://" + lapse.Listener.Addr().String() + o.basePath
	forgeApp := host.ForgeAppID()
	switch o.forgeAppID {
	case "-":
		forgeApp = ""
	case "":
	default:
		forgeApp = o.forgeAppID
	}
	allowed := o.allowedHosts
	if allowed == nil {
		allowed = []string{"127.0.0.1", "*.atlassian.net"}
	}
	logger := o.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	srv, err := web.New(web.Config{
		BaseURL:      baseURL,
		AppKey:       appKey,
		AllowedHosts: allowed,
		Leeway:       30 * time.Second,
		Store:        st,
		InstallKeys:  connect.NewHTTPKeyFetcher(keys.URL+devsite.KeysPath, nil),
		ForgeKeys:    forge.NewKeySet(keys.URL+devsite.ForgeJWKSURI, nil),
		ForgeAppARI:  forgeApp,
		Version:      "test",
		Logger:       logger,
		NowFunc:      o.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	lapse.Config.Handler = srv.Handler()
	lapse.Start()
	t.Cleanup(lapse.Close)
	return &env{t: t, host: host, keys: keys, lapse: lapse, app: devsite.App{BaseURL: baseURL, Key: appKey}, store: st}
}

// site returns a new simulated site whose base URL is the key server's
// loopback address (allowed in tests).
func (e *env) site(product string) *devsite.Installation {
	return devsite.NewInstallation(e.keys.URL, product)
}

func (e *env) install(site *devsite.Installation) {
	e.t.Helper()
	if err := e.host.Install(context.Background(), e.app, site, "557058:installer"); err != nil {
		e.t.Fatalf("install: %v", err)
	}
}

func (e *env) contextToken(site *devsite.Installation) string {
	e.t.Helper()
	tok, err := e.host.ContextToken(site, "557058:admin", 3*time.Minute)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON (%v): %s", err, r.body)
	}
	return m
}

// do sends a request to path (relative to the app base URL).
func (e *env) do(method, path, auth string, body io.Reader) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.app.BaseURL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return e.send(req)
}

func (e *env) send(req *http.Request) response {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *env) get(rawURL string) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.send(req)
}

// wantError asserts a JSON error with the given status and code, and that
// its message contains reason.
func wantError(t *testing.T, r response, status int, code, reason string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	m := r.json(t)
	if m["code"] != code {
		t.Fatalf("code = %v, want %q; body %s", m["code"], code, r.body)
	}
	msg, _ := m["message"].(string)
	if msg == "" || !strings.Contains(msg, reason) {
		t.Fatalf("message = %q, want it to contain %q", msg, reason)
	}
}

func jsonBody(t *testing.T, v any) io.Reader {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReader(string(b))
}

func eachDialect(t *testing.T, fn func(t *testing.T, d store.Dialect)) {
	t.Helper()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			fn(t, d)
		})
	}
}

var _ = url.Values{}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
