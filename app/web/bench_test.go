package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/connect"
	"github.com/lapsehq/lapse/app/devsite"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/store/storetest"
	"github.com/lapsehq/lapse/app/web"
)

// BenchmarkAuthenticatedPath compares the handler stack's cost of
// GET /healthz (the floor) and GET /api/v1/tenant with a Connect context
// token, in process and without the network, with the access log written
// as JSON as in production. It is the profile target of issue #8 item 10:
//
//	go test -run '^$' -bench AuthenticatedPath -cpuprofile /tmp/cpu.out ./app/web/
func BenchmarkAuthenticatedPath(b *testing.B) {
	st := storetest.Open(b, store.SQLite)
	host, err := devsite.NewHost()
	if err != nil {
		b.Fatal(err)
	}
	srv, err := web.New(web.Config{
		BaseURL: "http://lapse.test", AppKey: appKey, AllowedHosts: []string{"127.0.0.1"},
		Leeway: 30 * time.Second, Store: st, InstallKeys: connect.NewHTTPKeyFetcher("http://127.0.0.1:1", nil),
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	site := devsite.NewInstallation("http://127.0.0.1:1", "jira")
	if _, err := st.InstallConnect(context.Background(), app.ConnectInstall{
		ClientKey: site.ClientKey, BaseURL: site.BaseURL, Product: app.ProductJira, SharedSecret: []byte(site.SharedSecret),
	}); err != nil {
		b.Fatal(err)
	}
	token, err := host.ContextToken(site, "557058:bench", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	h := srv.Handler()
	run := func(b *testing.B, path, auth string) {
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest(http.MethodGet, "http://lapse.test"+path, nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("GET %s = %d %s", path, rec.Code, rec.Body)
			}
		}
	}
	b.Run("healthz", func(b *testing.B) { run(b, "/healthz", "") })
	b.Run("tenant", func(b *testing.B) { run(b, "/api/v1/tenant", "JWT "+token) })
}
