package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/lapsehq/lapse/app/store"
)

// TestAPI_NoServerErrors sends hostile path ids, query strings and bodies
// to every /api/v1 route as a site administrator (past authentication, into
// the handlers) and checks that none produces a 5xx, and that every error
// is JSON with a code and a message.
func TestAPI_NoServerErrors(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, store.SQLite)
	jira := e.installConnect(e.site1, "jira")
	auth := e.as(jira, e.admin)
	engine := e.lapse.Config.Handler.(*gin.Engine)
	ids := []string{"x", "-1", "0", "99999999999999999999", "..%2F..", "%00", strings.Repeat("a", 300), "%E2%80%AE"}
	queries := []string{
		"", "?limit=-1", "?limit=abc&after=%zz", "?after=eyJ4Ijp9", "?from=yesterday&to=2026-13-45", "?format=xlsx",
		"?outcome=%00&product=A*B", "?scanId=../x", "?action=" + strings.Repeat("a,", 500), "?account=%0d%0a",
	}
	bodies := []string{"", "null", "[]", "{", `{"orgId":1}`, `{"mode":"enforce","baseVersion":"x"}`, strings.Repeat("[", 5000), "\x00\xff"}
	n, statuses := 0, map[int]int{}
	for _, r := range engine.Routes() {
		if !strings.HasPrefix(r.Path, "/api/v1/") {
			continue
		}
		paths := []string{r.Path}
		if strings.Contains(r.Path, ":id") {
			paths = paths[:0]
			for _, id := range ids {
				paths = append(paths, strings.Replace(r.Path, ":id", id, 1))
			}
		}
		for _, p := range paths {
			for _, q := range queries {
				for _, b := range bodies {
					req, _ := http.NewRequest(r.Method, e.app.BaseURL+p+q, strings.NewReader(b))
					req.Header.Set("Authorization", auth)
					req.Header.Set("Content-Type", "application/json")
					resp := e.send(req)
					n++
					statuses[resp.status]++
					if resp.status >= 500 {
						t.Fatalf("%s %s%s body %.30q: %d %s", r.Method, p, q, b, resp.status, resp.body)
					}
					if resp.status >= 400 {
						if m := resp.json(t); m["code"] == nil || m["message"] == nil {
							t.Fatalf("%s %s%s: error without code/message: %s", r.Method, p, q, resp.body)
						}
					}
				}
			}
		}
	}
	// The sweep reached the handlers: nothing was refused at the door, some
	// input was rejected as invalid, some was answered.
	if n < 1000 || statuses[http.StatusUnauthorized] != 0 || statuses[http.StatusBadRequest] == 0 || statuses[http.StatusOK] == 0 {
		t.Fatalf("%d requests, statuses %v: want > 1000, no 401, some 400 and some 200", n, statuses)
	}
}
