package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/store"
)

// policyOf decodes the policy of a policy answer.
func policyOf(t *testing.T, r response) (app.Policy, []string) {
	t.Helper()
	var v struct {
		Policy   app.Policy `json:"policy"`
		Products []string   `json:"products"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("policy answer: %v: %s", err, r.body)
	}
	return v.Policy, v.Products
}

func TestAPI_Policy(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		e := newAPIEnv(t, d)
		jira := e.installConnect(e.site1, "jira")
		auth := e.as(jira, e.admin)

		r := e.call("GET", "/api/v1/policy", auth, nil)
		e.ok(r, 200)
		p, products := policyOf(t, r)
		if p.Version != 0 || p.Mode != app.ModeDryRun || len(p.Products) != 2 || !p.Products["jira-software"].Enabled ||
			len(products) != 2 || products[0] != "jira-software" || products[1] != "jira-servicedesk" {
			t.Fatalf("default policy: %+v, products %v", p, products)
		}
		if r.header.Get("ETag") != `"0"` {
			t.Fatalf("ETag = %q", r.header.Get("ETag"))
		}

		// Round trip: the GET answer, edited, is a valid PUT body.
		p.GraceDays = 14
		p.Products["jira-servicedesk"] = app.ProductRule{Enabled: true, InactiveDays: 45}
		r = e.call("PUT", "/api/v1/policy", auth, map[string]any{"policy": p, "baseVersion": 0})
		e.ok(r, 200)
		saved, _ := policyOf(t, r)
		if saved.Version != 1 || saved.GraceDays != 14 || saved.Products["jira-servicedesk"].InactiveDays != 45 || saved.UpdatedBy != e.admin || r.header.Get("ETag") != `"1"` {
			t.Fatalf("saved: %+v etag %s", saved, r.header.Get("ETag"))
		}
		evs, _ := e.store.ListAuditEvents(context.Background(), jira.ID, 100)
		if last := evs[len(evs)-1]; last.Action != app.AuditPolicyChanged || last.Actor.ID != e.admin {
			t.Fatalf("audit: %+v", last)
		}

		t.Run("conflict", func(t *testing.T) {
			p.GraceDays = 7
			wantError(t, e.call("PUT", "/api/v1/policy", auth, map[string]any{"policy": p, "baseVersion": 0}), 409, "conflict", "changed since version 0")
			wantError(t, e.call("PUT", "/api/v1/policy", auth, map[string]any{"policy": p}, "If-Match", `"0"`), 409, "conflict", "reload it")
		})
		t.Run("if_match", func(t *testing.T) {
			p.GraceDays = 7
			r := e.call("PUT", "/api/v1/policy", auth, map[string]any{"policy": p}, "If-Match", `"1"`)
			e.ok(r, 200)
			if got, _ := policyOf(t, r); got.Version != 2 || got.GraceDays != 7 {
				t.Fatalf("If-Match save: %+v", got)
			}
			wantError(t, e.call("PUT", "/api/v1/policy", auth, map[string]any{"policy": p, "baseVersion": 2}, "If-Match", `"1"`), 400, "invalid", "disagree")
			wantError(t, e.call("PUT", "/api/v1/policy", auth, map[string]any{"policy": p}, "If-Match", `*`), 400, "invalid", "If-Match must be")
		})
		t.Run("base_version_required", func(t *testing.T) {
			wantError(t, e.call("PUT", "/api/v1/policy", auth, map[string]any{"policy": p}), 400, "invalid", "baseVersion (or an If-Match header) is required")
			wantError(t, e.call("PUT", "/api/v1/policy", auth, map[string]any{"policy": p, "baseVersion": -1}), 400, "invalid", "baseVersion must be")
		})
		t.Run("invalid_lists_every_problem", func(t *testing.T) {
			bad := p
			bad.Mode, bad.GraceDays, bad.ScanTime = "yolo", -1, "25:00"
			bad.Products = map[string]app.ProductRule{"jira-software": {Enabled: true, InactiveDays: 0}, "confluence": {Enabled: true, InactiveDays: 30}}
			r := e.call("PUT", "/api/v1/policy", auth, map[string]any{"policy": bad, "baseVersion": 2})
			for _, want := range []string{"mode must be", "graceDays must be", "scanTime must be", "products.jira-software.inactiveDays", "products.confluence is not a product of this jira installation"} {
				wantError(t, r, 400, "invalid", want)
			}
			cur := e.ok(e.call("GET", "/api/v1/policy", auth, nil), 200)
			if cur["policy"].(map[string]any)["version"] != float64(2) {
				t.Fatal("an invalid policy was saved")
			}
		})
		t.Run("strict_body", func(t *testing.T) {
			wantError(t, e.call("PUT", "/api/v1/policy", auth, `{"policy":{"graceDay":3},"baseVersion":2}`), 400, "invalid", `unknown field "graceDay"`)
			wantError(t, e.call("PUT", "/api/v1/policy", auth, `{"policy":{"graceDays":"3"},"baseVersion":2}`), 400, "invalid", "policy.graceDays must be a number")
			wantError(t, e.call("PUT", "/api/v1/policy", auth, `{"policy":{},"baseVersion":"2"}`), 400, "invalid", "baseVersion must be a number")
		})
		t.Run("confluence_products", func(t *testing.T) {
			conf := e.installConnect(e.site1, "confluence")
			r := e.call("GET", "/api/v1/policy", e.as(conf, e.admin), nil)
			e.ok(r, 200)
			cp, products := policyOf(t, r)
			if len(products) != 1 || products[0] != "confluence" || len(cp.Products) != 1 || cp.TenantID != conf.ID {
				t.Fatalf("confluence policy: %+v %v", cp, products)
			}
			cp.Products["jira-software"] = app.ProductRule{Enabled: true, InactiveDays: 30}
			wantError(t, e.call("PUT", "/api/v1/policy", e.as(conf, e.admin), map[string]any{"policy": cp, "baseVersion": 0}), 400, "invalid", "products.jira-software is not a product")
		})
	})
}

// policyWarnings decodes the warnings of a policy answer.
func policyWarnings(t *testing.T, r response) []string {
	t.Helper()
	var v struct {
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil || v.Warnings == nil {
		t.Fatalf("policy answer without a warnings list (%v): %s", err, r.body)
	}
	return v.Warnings
}

// TestAPI_PolicyBrake: the brake cannot be turned off by a zero limit, only
// by brake.off with a justification, which is audited and answered with a
// warning by PUT and GET.
func TestAPI_PolicyBrake(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		e := newAPIEnv(t, d)
		jira := e.installConnect(e.site1, "jira")
		auth := e.as(jira, e.admin)
		r := e.call("GET", "/api/v1/policy", auth, nil)
		e.ok(r, 200)
		if w := policyWarnings(t, r); len(w) != 0 {
			t.Fatalf("default policy warnings %q", w)
		}
		p, _ := policyOf(t, r)
		if p.Brake.Off || p.MaxRemovals != app.DefaultMaxRemovals {
			t.Fatalf("default brake %+v, maxRemovals %d", p.Brake, p.MaxRemovals)
		}

		zero := p
		zero.Mode, zero.MaxRemovals, zero.MaxRemovalShare = app.ModeEnforce, 0, 0
		r = e.call("PUT", "/api/v1/policy", auth, map[string]any{"policy": zero, "baseVersion": 0})
		for _, want := range []string{"maxRemovals must be 1 or more", "maxRemovalShare must be more than 0",
			"turn the safety brake off explicitly: brake.off true with a brake.offJustification"} {
			wantError(t, r, 400, "invalid", want)
		}
		// A body that leaves the limits out altogether is refused the same way.
		wantError(t, e.call("PUT", "/api/v1/policy", auth, `{"policy":{"mode":"enforce","action":"remove_groups","unmanaged":"include",`+
			`"timeZone":"UTC","scanTime":"03:00"},"baseVersion":0}`), 400, "invalid", "maxRemovals must be 1 or more")
		wantError(t, e.call("PUT", "/api/v1/policy", auth, `{"policy":{"brake":{"off":true}},"baseVersion":0}`),
			400, "invalid", "brake.offJustification is required when brake.off is true")

		off := p
		off.Mode = app.ModeEnforce
		off.Brake = app.Brake{Off: true, OffJustification: "One-off clean-up after the merger (CHG-1234)"}
		r = e.call("PUT", "/api/v1/policy", auth, map[string]any{"policy": off, "baseVersion": 0})
		e.ok(r, 200)
		saved, _ := policyOf(t, r)
		if saved.Version != 1 || saved.Brake != off.Brake {
			t.Fatalf("saved %+v", saved)
		}
		for _, r := range []response{r, e.call("GET", "/api/v1/policy", auth, nil)} {
			w := policyWarnings(t, r)
			if len(w) != 1 || !strings.HasPrefix(w[0], "The safety brake is off: ") || !strings.Contains(w[0], off.Brake.OffJustification) {
				t.Fatalf("warnings %q", w)
			}
		}
		evs, _ := e.store.ListAuditEvents(context.Background(), jira.ID, 100)
		var data struct{ After app.Policy }
		last := evs[len(evs)-1]
		if err := json.Unmarshal(last.Data, &data); err != nil || last.Action != app.AuditPolicyChanged || data.After.Brake != off.Brake {
			t.Fatalf("audit %s %s (%v)", last.Action, last.Data, err)
		}
	})
}

// TestAPI_PolicyWarningWithoutMailRelay: a warning period is saved, but
// the answer says that no warning e-mails will go without a mail relay.
func TestAPI_PolicyWarningWithoutMailRelay(t *testing.T) {
	t.Parallel()
	const want = "A warning period is set but no mail relay is configured (LAPSE_SMTP_URL), so no warning e-mails will be sent"
	for _, mail := range []bool{false, true} {
		e := newAPIEnv(t, store.SQLite, apiOptions{mailConfigured: mail})
		jira := e.installConnect(e.site1, "jira")
		auth := e.as(jira, e.admin)
		r := e.call("GET", "/api/v1/policy", auth, nil)
		p, _ := policyOf(t, r)
		p.WarningDays = 14
		r = e.call("PUT", "/api/v1/policy", auth, map[string]any{"policy": p, "baseVersion": 0})
		e.ok(r, 200)
		for _, r := range []response{r, e.call("GET", "/api/v1/policy", auth, nil)} {
			w := policyWarnings(t, r)
			switch {
			case !mail && (len(w) != 1 || w[0] != want):
				t.Fatalf("no mail relay: warnings %q, want %q", w, want)
			case mail && len(w) != 0:
				t.Fatalf("with a mail relay: warnings %q", w)
			}
		}
	}
}

// TestAPI_PolicySchedule: the time zone is an IANA name (not the server's
// Local, not empty) and scanTime exactly HH:MM.
func TestAPI_PolicySchedule(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, store.SQLite)
	jira := e.installConnect(e.site1, "jira")
	auth := e.as(jira, e.admin)
	p, _ := policyOf(t, e.call("GET", "/api/v1/policy", auth, nil))
	for _, tc := range []struct{ zone, at, want string }{
		{"Local", "03:00", "timeZone must be an IANA time zone such as Europe/Berlin or UTC (not empty, not Local"},
		{"", "03:00", "timeZone must be an IANA time zone"},
		{"UTC", "3:00", "scanTime must be HH:MM, 24-hour with two digits each, such as 03:00"},
		{"UTC", "03:60", "scanTime must be HH:MM"},
	} {
		bad := p
		bad.TimeZone, bad.ScanTime = tc.zone, tc.at
		wantError(t, e.call("PUT", "/api/v1/policy", auth, map[string]any{"policy": bad, "baseVersion": 0}), 400, "invalid", tc.want)
	}
	p.TimeZone, p.ScanTime = "Europe/Berlin", "23:59"
	r := e.call("PUT", "/api/v1/policy", auth, map[string]any{"policy": p, "baseVersion": 0})
	e.ok(r, 200)
	if saved, _ := policyOf(t, r); saved.TimeZone != "Europe/Berlin" || saved.ScanTime != "23:59" {
		t.Fatalf("saved %s %s", saved.TimeZone, saved.ScanTime)
	}
}

// TestAPI_PolicyConcurrentSaves: PUTs racing on the same base version
// leave one saved version; every other one is a 409 that says to reload,
// never a 500.
func TestAPI_PolicyConcurrentSaves(t *testing.T) {
	t.Parallel()
	const rounds, racers = 8, 4
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		e := newAPIEnv(t, d)
		jira := e.installConnect(e.site1, "jira")
		auth := e.as(jira, e.admin)
		for round := range rounds {
			r := e.call("GET", "/api/v1/policy", auth, nil) // also warms the site-admin cache
			e.ok(r, 200)
			p, _ := policyOf(t, r)
			bodies := make([][]byte, racers)
			for i := range racers {
				p.GraceDays = i
				bodies[i], _ = json.Marshal(map[string]any{"policy": p, "baseVersion": round})
			}
			results := make([]response, racers)
			errs := make([]error, racers)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range racers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, _ := http.NewRequest("PUT", e.app.BaseURL+"/api/v1/policy", bytes.NewReader(bodies[i]))
					req.Header.Set("Authorization", auth)
					req.Header.Set("Content-Type", "application/json")
					<-start
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						errs[i] = err
						return
					}
					defer resp.Body.Close()
					b, _ := io.ReadAll(resp.Body)
					results[i] = response{status: resp.StatusCode, header: resp.Header, body: b}
				}()
			}
			close(start)
			wg.Wait()
			won := 0
			for i, r := range results {
				if errs[i] != nil {
					t.Fatal(errs[i])
				}
				if r.status == 200 {
					won++
					continue
				}
				wantError(t, r, 409, "conflict", "reload it and apply your change again")
			}
			if won != 1 {
				t.Fatalf("round %d: %d saves won, want exactly 1", round, won)
			}
		}
	})
}
