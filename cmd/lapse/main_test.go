package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app/devsite"
	"github.com/lapsehq/lapse/app/notify/notifytest"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/store/storetest"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// syncBuffer is a log sink that the server goroutine and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServe_EndToEnd runs the real `lapse serve` wiring on each database,
// installs a simulated site into it over HTTP, reads the tenant, checks the
// probes, and shuts down cleanly.
func TestServe_EndToEnd(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			host, err := devsite.NewHost()
			if err != nil {
				t.Fatal(err)
			}
			keys := httptest.NewServer(host.Handler())
			defer keys.Close()
			smtpSrv := notifytest.Start(t, notifytest.Options{Mode: notifytest.Plain, RequireAuth: true})

			addr := freeAddr(t)
			vars := map[string]string{
				"LAPSE_ADDR":             addr,
				"LAPSE_BASE_URL":         "http://" + addr,
				"LAPSE_INSTALL_KEYS_URL": keys.URL + devsite.KeysPath,
				"LAPSE_FORGE_JWKS_URL":   keys.URL + devsite.ForgeJWKSURI,
				"LAPSE_FORGE_APP_ID":     host.ForgeAppID(),
				"LAPSE_ALLOWED_HOSTS":    "127.0.0.1",
				// A mail relay on loopback with a login: serve starts its
				// warning delivery, and the password stays out of the log.
				"LAPSE_SMTP_URL":  smtpSrv.URL("smtp+insecure", notifytest.User+":"+notifytest.Password),
				"LAPSE_SMTP_FROM": "Lapse <lapse@example.com>",
			}
			if d == store.Postgres {
				vars["LAPSE_DATABASE_URL"] = storetest.URL(t, d)
				vars["LAPSE_ENCRYPTION_KEY"] = testKey
			} else {
				vars["LAPSE_DATABASE_URL"] = filepath.Join(t.TempDir(), "data", "lapse.db")
			}
			ctx, cancel := context.WithCancel(context.Background())
			listening := make(chan string, 1)
			done := make(chan error, 1)
			logs := &syncBuffer{}
			go func() { done <- runServe(ctx, env(vars), logs, func(a string) { listening <- a }) }()
			select {
			case <-listening:
			case err := <-done:
				t.Fatalf("serve exited: %v\n%s", err, logs)
			case <-time.After(30 * time.Second):
				t.Fatal("serve did not start")
			}

			app := devsite.App{BaseURL: "http://" + addr, Key: "com.lapsehq.lapse"}
			site := devsite.NewInstallation(keys.URL, "jira")
			if err := host.Install(ctx, app, site, "557058:installer"); err != nil {
				t.Fatal(err)
			}
			tok, _ := host.ContextToken(site, "557058:admin", time.Minute)
			req, _ := http.NewRequest(http.MethodGet, app.BaseURL+"/api/v1/tenant", nil)
			req.Header.Set("Authorization", "JWT "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var tenant map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&tenant)
			resp.Body.Close()
			if resp.StatusCode != 200 || tenant["baseUrl"] != site.BaseURL {
				t.Fatalf("tenant = %d %v", resp.StatusCode, tenant)
			}
			for _, probe := range []string{"/healthz", "/readyz"} {
				resp, err := http.Get(app.BaseURL + probe)
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("%s = %v %v", probe, resp, err)
				}
				resp.Body.Close()
			}

			cancel()
			if err := <-done; err != nil {
				t.Fatalf("serve returned %v", err)
			}
			out := logs.String()
			if strings.Contains(out, site.SharedSecret) || strings.Contains(out, tok) || strings.Contains(out, notifytest.Password) {
				t.Fatal("a secret, token or SMTP password reached the log")
			}
			if !strings.Contains(out, "smtp+insecure://"+notifytest.User+"@"+smtpSrv.Addr()) || !strings.Contains(out, `"warning_emails":true`) {
				t.Fatalf("the log shows no SMTP relay or no warning delivery job:\n%s", out)
			}
			if !strings.Contains(out, `"msg":"shutting down"`) {
				t.Fatalf("no clean shutdown in log:\n%s", out)
			}
		})
	}
}

func TestRun_Commands(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"version"}, env(nil), &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "lapse ") {
		t.Fatalf("version: %q %v", out.String(), err)
	}
	if err := run(context.Background(), nil, env(nil), &out, &errOut); err == nil || !strings.Contains(errOut.String(), "usage") {
		t.Fatalf("no command: %v %q", err, errOut.String())
	}
	if err := run(context.Background(), []string{"frobnicate"}, env(nil), &out, &errOut); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("unknown command: %v", err)
	}
	err := run(context.Background(), []string{"serve"}, env(map[string]string{"LAPSE_BASE_URL": "nope"}), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "LAPSE_BASE_URL") {
		t.Fatalf("bad config: %v", err)
	}
}

func TestMigrate_ThenServeWithoutMigrating(t *testing.T) {
	t.Parallel()
	dbURL := filepath.Join(t.TempDir(), "lapse.db")
	var out, errOut bytes.Buffer
	vars := map[string]string{"LAPSE_DATABASE_URL": dbURL, "LAPSE_MIGRATE_ON_START": "false", "LAPSE_ADDR": "127.0.0.1:0"}
	// Serving an empty database without migrating is refused with the fix.
	err := runServe(context.Background(), env(vars), &errOut, nil)
	if err == nil || !strings.Contains(err.Error(), "lapse migrate") {
		t.Fatalf("serve on an unmigrated database: %v", err)
	}
	if err := run(context.Background(), []string{"migrate"}, env(vars), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "migration(s)") || strings.Contains(out.String(), "applied 0") {
		t.Fatalf("migrate output %q", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"migrate"}, env(vars), &out, &errOut); err != nil || !strings.Contains(out.String(), "applied 0") {
		t.Fatalf("second migrate: %q %v", out.String(), err)
	}
}
