package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/adminapi"
	"github.com/lapsehq/lapse/app/atlassian"
	"github.com/lapsehq/lapse/app/inventory"
	"github.com/lapsehq/lapse/cmd/internal/cli"
)

// inventoryOptions configure `lapse-bench inventory`.
type inventoryOptions struct {
	bin        string
	users      int
	latency    time.Duration
	siteRPM    int64  // the simulated Admin API limit per minute
	siteWindow string // how the site counts that minute: fixed or sliding
	clientRPM  int64  // what the client paces itself to
	mode       string
	perUserMax int
}

func parseInventory(name, description string, args []string, stdout, stderr io.Writer) (inventoryOptions, error) {
	var o inventoryOptions
	fs := cli.FlagSet(name, "lapse-bench "+name+" [flags]", description)
	fs.StringVar(&o.bin, "lapse", "lapse", "path to the lapse binary (runs `lapse devsite` as the simulated site)")
	fs.IntVar(&o.users, "users", 10000, "accounts in the simulated org")
	fs.DurationVar(&o.latency, "latency", 40*time.Millisecond, "fixed latency the site adds to every answer")
	fs.Int64Var(&o.siteRPM, "site-rpm", 200, "the simulated Admin API limit, requests per minute per org")
	fs.StringVar(&o.siteWindow, "site-window", "sliding", "how the site counts the minute: sliding (last 60 s) or fixed (UTC minutes)")
	fs.Int64Var(&o.clientRPM, "client-rpm", 198, "requests per minute the client paces itself to (1 % under the site: at exactly the limit, arrival jitter puts 201 requests in an occasional sliding minute)")
	fs.StringVar(&o.mode, "mode", "both", "bulk, per-user or both")
	fs.IntVar(&o.perUserMax, "per-user-accounts", 300, "per-user path: accounts to measure before extrapolating to the whole org (0 = all)")
	return o, cli.Parse(fs, args, stdout, stderr)
}

// benchInventory measures a full inventory of a simulated org through the
// Admin API: the bulk path (users/search with productAccess) and the
// per-user fallback (v1 last-active-dates), against the site's request
// limit, with requests counted on the wire and peak heap sampled.
func benchInventory(ctx context.Context, out, stderr io.Writer, args []string) error {
	o, err := parseInventory("inventory", "Measure a full inventory of a simulated org through the Admin API: the bulk path and the\n"+
		"per-user fallback, against the site's request limit.", args, out, stderr)
	if err != nil {
		return err
	}
	site, stop, err := startDevsite(ctx, o)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(out, "simulated org: %d accounts, Admin API limit %d/min, latency %s, client paced at %d/min\n",
		o.users, o.siteRPM, o.latency, o.clientRPM)
	for _, mode := range []string{app.ActivityBulk, app.ActivityPerUser} {
		if o.mode != "both" && o.mode != mode && (o.mode != "per-user" || mode != app.ActivityPerUser) {
			continue
		}
		res, err := runInventory(ctx, site, o, mode)
		if err != nil {
			return err
		}
		res.print(out, o)
	}
	return nil
}

type devsiteInfo struct {
	URL    string
	OrgID  string `json:"orgId"`
	APIKey string `json:"apiKey"`
	Sites  []struct {
		CloudID string `json:"cloudId"`
	} `json:"sites"`
}

// startDevsite runs `lapse devsite` in its own process, so the figures
// measure only the client, and configures its limit and latency.
func startDevsite(ctx context.Context, o inventoryOptions) (*devsiteInfo, func(), error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.CommandContext(ctx, o.bin, "devsite", "--addr", addr, "--users", fmt.Sprint(o.users), "--seed", "1")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s devsite: %w", o.bin, err)
	}
	stop := func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }
	base := "http://" + addr
	var info devsiteInfo
	for i := 0; ; i++ {
		if err := getJSON(base+"/_devsite/org", &info); err == nil {
			break
		} else if i == 600 {
			stop()
			return nil, nil, fmt.Errorf("lapse devsite did not start: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	info.URL = base
	limits := fmt.Sprintf(`{"adminRequestsPerMinute": %d, "adminWindow": %q}`, o.siteRPM, o.siteWindow)
	faults := fmt.Sprintf(`{"fixedLatency": %q}`, o.latency.String())
	if err := send(http.MethodPatch, base+"/_devsite/limits", limits); err != nil {
		stop()
		return nil, nil, err
	}
	if err := send(http.MethodPatch, base+"/_devsite/faults", faults); err != nil {
		stop()
		return nil, nil, err
	}
	return &info, stop, nil
}

type inventoryResult struct {
	mode        string
	accounts    int
	requests    int64
	listing     int64 // requests spent on the account listing alone
	limited     int64 // answers 429
	wall        time.Duration
	peakHeap    uint64
	measuredAll bool
}

func runInventory(ctx context.Context, site *devsiteInfo, o inventoryOptions, mode string) (*inventoryResult, error) {
	counter := &countingTransport{}
	client, err := adminapi.New(adminapi.Config{BaseURL: site.URL, APIKey: site.APIKey, OrgID: site.OrgID, TenantID: "bench",
		RequestsPerMinute: o.clientRPM, MaxWait: 3 * time.Minute, Budget: atlassian.NewMemoryBudget(),
		HTTPClient: &http.Client{Transport: counter, Timeout: 30 * time.Second}})
	if err != nil {
		return nil, err
	}
	runtime.GC()
	peak, stopSampler := sampleHeap()
	start := time.Now()
	plan, err := inventory.Prepare(ctx, client, inventory.Options{CloudID: site.Sites[0].CloudID, ActivitySource: mode})
	if err != nil {
		return nil, err
	}
	prep := counter.n.Load()
	res := &inventoryResult{mode: mode, measuredAll: true}
	for _, err := range plan.Accounts(ctx) {
		if err != nil {
			return nil, err
		}
		res.accounts++
		if mode == app.ActivityPerUser && o.perUserMax > 0 && res.accounts >= o.perUserMax {
			res.measuredAll = false
			break
		}
	}
	res.wall = time.Since(start)
	res.requests, res.listing, res.limited = counter.n.Load(), counter.n.Load()-prep, counter.limited.Load()
	res.peakHeap = stopSampler(peak)
	return res, nil
}

func (r *inventoryResult) print(out io.Writer, o inventoryOptions) {
	pageSize := float64(adminapi.MaxPageSize)
	fmt.Fprintf(out, "\n%s path\n", r.mode)
	fmt.Fprintf(out, "  accounts with access   %d%s\n", r.accounts, map[bool]string{false: " (sample; extrapolated below)", true: ""}[r.measuredAll])
	fmt.Fprintf(out, "  requests               %d (%d listing, %d plan: workspaces, groups, role assignments); %d answered 429\n", r.requests, r.listing, r.requests-r.listing, r.limited)
	fmt.Fprintf(out, "  wall time              %s\n", r.wall.Round(time.Millisecond))
	fmt.Fprintf(out, "  peak Go heap (client)  %.1f MiB\n", float64(r.peakHeap)/(1<<20))
	if r.mode == app.ActivityBulk {
		minimum := math.Ceil(float64(r.accounts) / pageSize)
		bound := time.Duration(float64(r.requests) / float64(o.siteRPM) * float64(time.Minute))
		fmt.Fprintf(out, "  listing vs minimum     %d vs ⌈%d/%d⌉ = %.0f (%+.1f %%)\n", r.listing, r.accounts, int(pageSize), minimum, 100*(float64(r.listing)-minimum)/minimum)
		fmt.Fprintf(out, "  wall vs rate bound     %s vs %s (%d requests at %d/min) (%+.1f %%)\n", r.wall.Round(time.Second), bound.Round(time.Second),
			r.requests, o.siteRPM, 100*(r.wall.Seconds()-bound.Seconds())/bound.Seconds())
		return
	}
	perAccount := float64(r.listing) / float64(r.accounts)
	total := perAccount * float64(o.users)
	fmt.Fprintf(out, "  requests per account   %.2f → about %.0f requests for the whole org\n", perAccount, total)
	fmt.Fprintf(out, "  rate bound, whole org  %s at %d/min\n", time.Duration(total/float64(o.siteRPM)*float64(time.Minute)).Round(time.Second), o.siteRPM)
}

// sampleHeap records the peak of live heap bytes until stopped.
func sampleHeap() (*atomic.Uint64, func(*atomic.Uint64) uint64) {
	peak := &atomic.Uint64{}
	done := make(chan struct{})
	finished := make(chan struct{})
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(finished)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return peak, func(p *atomic.Uint64) uint64 { close(done); <-finished; return p.Load() }
}

// countingTransport counts the requests sent and the 429 answers received.
type countingTransport struct{ n, limited atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		c.limited.Add(1)
	}
	return resp, err
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func send(method, url, body string) error {
	req, _ := http.NewRequest(method, url, bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, msg)
	}
	return nil
}
