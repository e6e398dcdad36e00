package web_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/lapsehq/lapse/app/store"
)

// logBuffer collects JSON log records; the server logs from its own
// goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestErrorLogCarriesRequestRouteTenant: the error line of a request that
// failed in the store names the request id (as answered in X-Request-Id),
// the route pattern (not the URL with its query) and the tenant.
func TestErrorLogCarriesRequestRouteTenant(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		logs := &logBuffer{}
		e := newAPIEnv(t, d, apiOptions{logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		ct := e.installConnect(e.site1, "jira")
		auth := e.as(ct, e.admin)
		e.ok(e.call("GET", "/api/v1/scans", auth, nil), 200)

		db, err := e.store.SQLDB()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`ALTER TABLE scans RENAME TO scans_gone`); err != nil {
			t.Fatal(err)
		}
		r := e.call("GET", "/api/v1/scans?limit=5", auth, nil)
		if r.status != http.StatusInternalServerError {
			t.Fatalf("GET /api/v1/scans without its table = %d %s", r.status, r.body)
		}
		failed := logs.records(t, "request failed")
		if len(failed) != 1 {
			t.Fatalf("%d 'request failed' lines, want 1", len(failed))
		}
		wantRequestAttrs(t, failed[0], r.header.Get("X-Request-Id"), "/api/v1/scans", ct.ID)
	})
}

func wantRequestAttrs(t *testing.T, rec map[string]any, requestID, route, tenantID string) {
	t.Helper()
	if requestID == "" || rec["request_id"] != requestID {
		t.Errorf("request_id = %v, want %q", rec["request_id"], requestID)
	}
	if rec["route"] != route {
		t.Errorf("route = %v, want %q", rec["route"], route)
	}
	if rec["tenant_id"] != tenantID {
		t.Errorf("tenant_id = %v, want %q", rec["tenant_id"], tenantID)
	}
}
