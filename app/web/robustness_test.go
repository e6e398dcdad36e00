package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/lapsehq/lapse/app/store"
)

// TestNoServerErrors sends malformed and hostile input to every route and
// checks that none of it produces a 5xx or a non-JSON error.
func TestNoServerErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, store.SQLite)
	site := e.site("jira")
	e.install(site)
	routes := []struct{ method, path string }{
		{"POST", "/installed"}, {"POST", "/uninstalled"}, {"POST", "/enabled"}, {"POST", "/disabled"},
		{"GET", "/admin"}, {"POST", "/forge/events"}, {"POST", "/forge/scheduled"}, {"GET", "/api/v1/tenant"},
	}
	auths := []string{
		"", "JWT", "JWT ", "JWT a.b.c", "JWT " + strings.Repeat("A", 10000), "Bearer", "Bearer x.y.z",
		"Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6Ii4uLy4uIn0.e30.x", "JWT eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOjF9.x",
		"JWT eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiIifQ.x", "Basic dXNlcjpwYXNz", "JWT " + e.contextToken(site),
	}
	bodies := []string{"", "null", "[]", "{", `{"eventType":1}`, `{"clientKey":{"a":1}}`, strings.Repeat("{", 5000), "\x00\xff"}
	for _, r := range routes {
		for _, a := range auths {
			for _, b := range bodies {
				req, _ := http.NewRequest(r.method, e.app.BaseURL+r.path+"?jwt=%zz&x=%", strings.NewReader(b))
				if a != "" {
					req.Header.Set("Authorization", a)
				}
				resp := e.send(req)
				if resp.status >= 500 {
					t.Fatalf("%s %s auth %.30q body %.30q: %d %s", r.method, r.path, a, b, resp.status, resp.body)
				}
				if resp.status >= 400 {
					if m := resp.json(t); m["code"] == nil || m["message"] == nil {
						t.Fatalf("%s %s: error without code/message: %s", r.method, r.path, resp.body)
					}
				}
			}
		}
	}
}
