package web_test

import (
	"context"
	"encoding/json"
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
