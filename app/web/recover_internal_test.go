package web

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/connect"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/store/storetest"
)

// TestRecoverJSON: a panic in a handler becomes a JSON 500 with a generic
// message; the panic value never reaches the client.
func TestRecoverJSON(t *testing.T) {
	t.Parallel()
	s := &Server{log: slog.New(slog.DiscardHandler)}
	e := gin.New()
	e.Use(s.requestID, s.recoverJSON)
	e.GET("/boom", func(*gin.Context) { panic("secret internal detail") })
	srv := httptest.NewServer(e)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/boom")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 500 || !strings.Contains(string(body), `"code":"internal"`) || strings.Contains(string(body), "secret internal detail") {
		t.Fatalf("panic answered %d %s", resp.StatusCode, body)
	}
}

func TestHostAllowList(t *testing.T) {
	t.Parallel()
	l, err := newHostAllowList([]string{"*.atlassian.net", "127.0.0.1", "*.jira.com"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		url  string
		want bool
	}{
		{"https://acme.atlassian.net", true},
		{"https://acme.atlassian.net/wiki", true},
		{"https://ACME.Atlassian.NET", true},
		{"http://acme.atlassian.net", false},           // plain http to a real site
		{"https://atlassian.net", false},               // the wildcard needs one label
		{"https://a.b.atlassian.net", false},           // and only one
		{"https://acme.atlassian.net.evil.com", false}, // suffix tricks
		{"https://evilatlassian.net", false},           //
		{"https://user@acme.atlassian.net", false},     // userinfo
		{"https://acme.atlassian.net?x=1", false},      // query
		{"http://127.0.0.1:8080", true},                // loopback named exactly
		{"http://localhost:8080", false},               // not listed
		{"https://acme.jira.com", true},                //
		{"javascript:alert(1)", false},                 //
		{"", false},                                    //
		// Only the default port, except on a loopback host listed exactly
		// (#8 item 7: a signed install rebound to another port).
		{"https://acme.atlassian.net:8443", false},
		{"https://acme.atlassian.net:443", false},
		{"https://acme.atlassian.net:", false},
		{"https://127.0.0.1:9443", true},
	}
	for _, tc := range cases {
		err := l.check(tc.url)
		if got := err == nil; got != tc.want {
			t.Errorf("check(%q) = %v, want allowed=%v", tc.url, err, tc.want)
		}
	}
	// A refusal names the setting to change.
	if err := l.check("https://acme.example.com"); err == nil || !strings.Contains(err.Error(), "LAPSE_ALLOWED_HOSTS") {
		t.Errorf("refusal %v does not name LAPSE_ALLOWED_HOSTS", err)
	}
	if _, err := newHostAllowList([]string{"[bad"}); err == nil {
		t.Error("a malformed pattern was accepted")
	}
}

// TestPanicLogCarriesRequestRouteTenant: the log line of a recovered panic
// names the request id, the route pattern and the caller's tenant.
func TestPanicLogCarriesRequestRouteTenant(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	s, err := New(Config{
		BaseURL: "http://lapse.test", Store: storetest.Open(t, store.SQLite),
		InstallKeys: connect.NewHTTPKeyFetcher("http://127.0.0.1:1", nil),
		Logger:      slog.New(slog.NewJSONHandler(&buf, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	s.engine.GET("/boom/:id", func(c *gin.Context) {
		withCaller(c, &app.Caller{Tenant: &app.Tenant{ID: "tenant-7"}})
		panic("boom")
	})
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/boom/42?jwt=secret", nil))
	if rec.Code != 500 {
		t.Fatalf("panic answered %d", rec.Code)
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "panic in handler" {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no panic line in %s", buf.String())
	}
	if line["request_id"] != rec.Header().Get(headerRequestID) || line["route"] != "/boom/:id" || line["tenant_id"] != "tenant-7" {
		t.Fatalf("panic line = request_id %v route %v tenant_id %v, want %s /boom/:id tenant-7",
			line["request_id"], line["route"], line["tenant_id"], rec.Header().Get(headerRequestID))
	}
	if strings.Contains(buf.String(), "jwt=secret") {
		t.Fatal("the query string reached the log")
	}
}
