package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/adminapi"
	"github.com/lapsehq/lapse/app/scan"
	"github.com/lapsehq/lapse/app/secret"
	"github.com/lapsehq/lapse/app/store"
)

// benchScan measures one full dry-run scan (inventory, evaluation of every
// account, snapshot written to the database) of a simulated org behind the
// Admin API request limit: requests vs the minimum, wall time vs the rate
// bound, peak heap.
func benchScan(ctx context.Context, out, stderr io.Writer, args []string) error {
	o, err := parseInventory("scan", "Measure one full dry-run scan of a simulated org behind the Admin API request limit.", args, out, stderr)
	if err != nil {
		return err
	}
	site, stop, err := startDevsite(ctx, o)
	if err != nil {
		return err
	}
	defer stop()
	dir, err := os.MkdirTemp("", "lapse-scan-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, tenantID, err := scanBenchStore(ctx, filepath.Join(dir, "lapse.db"), site)
	if err != nil {
		return err
	}
	defer st.Close()
	counter := &countingTransport{}
	runner := &scan.Runner{Store: st, Client: func(ctx context.Context, t *app.Tenant, conn *app.OrgConnection) (*adminapi.Client, error) {
		return adminapi.New(adminapi.Config{BaseURL: site.URL, APIKey: conn.APIKey, OrgID: conn.OrgID, TenantID: t.ID,
			RequestsPerMinute: o.clientRPM, MaxWait: 3 * time.Minute, Budget: st.Budget(),
			HTTPClient: &http.Client{Transport: counter, Timeout: 30 * time.Second}})
	}}
	runtime.GC()
	peak, stopSampler := sampleHeap()
	start := time.Now()
	run, err := runner.Run(ctx, tenantID, "", app.TriggerManual)
	wall := time.Since(start)
	heap := stopSampler(peak)
	if err != nil {
		return err
	}
	var sum scan.Summary
	_ = json.Unmarshal(run.Summary, &sum)
	requests := counter.n.Load()
	listing := (sum.Accounts + adminapi.MaxPageSize - 1) / adminapi.MaxPageSize
	perMinute := float64(o.siteRPM) / float64(time.Minute)
	bound := time.Duration(float64(listing) / perMinute)
	fmt.Fprintf(out, "dry-run scan of a simulated org: %d accounts, Admin API limit %d/min (%s window), latency %s, client pace %d/min\n",
		o.users, o.siteRPM, o.siteWindow, o.latency, o.clientRPM)
	fmt.Fprintf(out, "  status                 %s (%d accounts evaluated, %d decisions)\n", run.Status, sum.Accounts, sum.Decisions.Decisions)
	limited := counter.limited.Load()
	fmt.Fprintf(out, "  requests               %d = %d listing (⌈%d/100⌉, the minimum) + %d plan (workspaces, groups, role assignments, detection) + %d answered 429 and retried; %+.1f %% over the listing minimum\n",
		requests, listing, sum.Accounts, requests-int64(listing)-limited, limited, 100*float64(requests-int64(listing))/float64(listing))
	fmt.Fprintf(out, "  wall time              %s; rate bound ⌈N/100⌉ ÷ %d/min = %s (%+.1f %%); all requests ÷ %d/min = %s\n",
		wall.Round(time.Millisecond), o.siteRPM, bound.Round(time.Second), 100*(wall.Seconds()-bound.Seconds())/bound.Seconds(),
		o.siteRPM, time.Duration(float64(requests)/perMinute).Round(time.Second))
	fmt.Fprintf(out, "  peak Go heap           %.1f MiB (scan, evaluation and SQLite snapshot writes in one process)\n", float64(heap)/(1<<20))
	return nil
}

// scanBenchStore makes a fresh SQLite store with one Jira tenant on the
// simulated site, connected to its org.
func scanBenchStore(ctx context.Context, path string, site *devsiteInfo) (*store.Store, string, error) {
	k, _ := secret.NewKey()
	keys, _ := secret.ParseKeys(k)
	box, _ := secret.NewBox(keys...)
	st, err := store.Open(ctx, store.Config{URL: path, Box: box})
	if err != nil {
		return nil, "", err
	}
	if _, err := st.Migrate(ctx); err != nil {
		return nil, "", err
	}
	tn, err := st.InstallConnect(ctx, app.ConnectInstall{ClientKey: "bench", BaseURL: site.URL + "/s/acme", Product: app.ProductJira, SharedSecret: []byte("s")})
	if err != nil {
		return nil, "", err
	}
	if _, err := st.SetOrgConnection(ctx, tn.ID, site.OrgID, site.APIKey, app.Actor{Type: app.ActorSystem, ID: "bench"}); err != nil {
		return nil, "", err
	}
	return st, tn.ID, nil
}
