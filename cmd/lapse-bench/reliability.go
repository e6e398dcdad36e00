package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/devsite"
	"github.com/lapsehq/lapse/app/secret"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/cmd/internal/cli"
)

// reliabilityKey is the fixed LAPSE_ENCRYPTION_KEY of the bench's server;
// the bench opens the same database with it at the end.
const reliabilityKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

type reliabilityOptions struct {
	bin         string
	dbURL       string
	scans       int
	faults      float64
	users       int
	seed        int64
	killProb    float64
	scanTimeout time.Duration
	keep        bool
}

func parseReliability(args []string, stdout, stderr io.Writer) (reliabilityOptions, error) {
	var o reliabilityOptions
	fs := cli.FlagSet("reliability", "lapse-bench reliability [flags]",
		"Run enforce-mode scans against a simulated site with injected Admin API faults, SIGKILL `lapse serve`\n"+
			"at random moments, and reconcile the site's write ledger with the audit trail.")
	fs.StringVar(&o.bin, "lapse", "lapse", "path to the lapse binary (go build -o /tmp/lapse ./cmd/lapse)")
	fs.StringVar(&o.dbURL, "database-url", "", "LAPSE_DATABASE_URL for the server (default: a fresh SQLite file)")
	fs.IntVar(&o.scans, "scans", 20, "enforce-mode scans to run")
	fs.Float64Var(&o.faults, "faults", 0.2, "share of Admin API requests that get a fault, spread evenly over drop, timeout, 429, 500, 503 and lost write answer")
	fs.IntVar(&o.users, "users", 400, "accounts in the simulated org")
	fs.Int64Var(&o.seed, "seed", 1, "seed of the population, the faults and the kills")
	fs.Float64Var(&o.killProb, "kill", 0.5, "probability that lapse is SIGKILLed during a scan")
	fs.DurationVar(&o.scanTimeout, "scan-timeout", 120*time.Second, "longest wait for one scan to complete")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (database, logs)")
	if err := cli.Parse(fs, args, stdout, stderr); err != nil {
		return o, err
	}
	if o.faults < 0 || o.faults > 1 || o.scans < 1 || o.killProb < 0 || o.killProb > 1 {
		return o, cli.Refuse(fs, stderr, "reliability: -faults and -kill must be in [0,1], -scans >= 1")
	}
	return o, nil
}

// benchReliability runs enforce-mode scans against an in-process simulated
// site with injected Admin API faults, SIGKILLs `lapse serve` at random
// moments, and at the end reconciles the site's write ledger with the
// access.removed events of Lapse's audit trail.
func benchReliability(ctx context.Context, out, stderr io.Writer, args []string) error {
	o, err := parseReliability(args, out, stderr)
	if err != nil {
		return err
	}
	began := time.Now()
	rng := rand.New(rand.NewPCG(uint64(o.seed), 0x7e11ab1e))

	// 1. The simulated site, in process.
	srv, err := devsite.NewServer(devsite.Config{Params: devsite.Params{Seed: o.seed, Users: o.users}})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	site := "http://" + ln.Addr().String()
	srv.SetBaseURL(site)
	if err := send(http.MethodPatch, site+"/_devsite/limits", `{"adminRequestsPerMinute": 100000}`); err != nil {
		return err
	}
	each := o.faults / 6
	faults := fmt.Sprintf(`{"seed": %d, "admin": {"drop": %g, "timeout": %g, "status429": %g, "status500": %g, "status503": %g, "lostWriteAnswer": %g}, "timeoutHold": "300ms", "retryAfter": "1s"}`,
		o.seed, each, each, each, each, each, each)
	if err := send(http.MethodPut, site+"/_devsite/faults", faults); err != nil {
		return err
	}

	// 2. lapse serve, and a Jira tenant connected to the org in enforce mode.
	dir, err := os.MkdirTemp("", "lapse-reliability-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	dbURL := o.dbURL
	if dbURL == "" {
		dbURL = filepath.Join(dir, "lapse.db")
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	base := "http://" + addr
	lp := &lapseProc{bin: o.bin, logPath: filepath.Join(dir, "lapse.log"), env: append(os.Environ(),
		"LAPSE_ADDR="+addr, "LAPSE_BASE_URL="+base, "LAPSE_DATABASE_URL="+dbURL,
		"LAPSE_ENCRYPTION_KEY="+reliabilityKey, "LAPSE_INSTALL_KEYS_URL="+site+devsite.KeysPath,
		"LAPSE_ALLOWED_HOSTS=127.0.0.1", "LAPSE_ADMIN_API_URL="+site, "LAPSE_PLAN_INTERVAL=10s",
		"LAPSE_ADMIN_REQUESTS_PER_MINUTE=100000", "LAPSE_LOG_FORMAT=json")}
	if err := lp.start(ctx, base); err != nil {
		return err
	}
	defer lp.stop()

	in, err := srv.RegisterConnectInstall("acme", devsite.APIJira, "com.lapsehq.lapse", []string{"READ"})
	if err != nil {
		return err
	}
	if err := srv.Host().Install(ctx, devsite.App{BaseURL: base, Key: "com.lapsehq.lapse"}, in, "557058:bench"); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	var orgID, apiKey, adminID string
	srv.WithOrg(func(org *devsite.Org) {
		orgID, apiKey = org.ID, org.APIKey
		for _, u := range org.Users {
			if adminID == "" && slices.Contains(u.PlatformRoles, devsite.PlatformSiteAdmin) {
				adminID = u.AccountID
			}
		}
	})
	if adminID == "" {
		return errors.New("the simulated org has no site admin")
	}
	token, err := srv.Host().ContextToken(in, adminID, 12*time.Hour)
	if err != nil {
		return err
	}
	api := &apiClient{base: base, token: token}
	if err := api.do(http.MethodPut, "/api/v1/org-connection", map[string]string{"orgId": orgID, "apiKey": apiKey}, nil, http.StatusOK); err != nil {
		return err
	}
	var pol struct {
		Policy map[string]any `json:"policy"`
	}
	if err := api.do(http.MethodGet, "/api/v1/policy", nil, &pol, http.StatusOK); err != nil {
		return err
	}
	version := pol.Policy["version"]
	// Every scan must have work to do, so the brake's limits are off; the
	// data-sanity hold still applies.
	pol.Policy["mode"] = app.ModeEnforce
	pol.Policy["brake"] = app.Brake{Off: true, OffJustification: "lapse-bench reliability run: every scan must remove the restored memberships"}
	if err := api.do(http.MethodPut, "/api/v1/policy", map[string]any{"policy": pol.Policy, "baseVersion": version}, nil, http.StatusOK); err != nil {
		return err
	}
	fmt.Fprintf(out, "reliability: %d users, Admin API faults %.0f %% (seed %d), kill probability %.2f, brake off (brake.off with a justification)\n",
		o.users, 100*o.faults, o.seed, o.killProb)

	// 3. The scans.
	var tenantID string
	kills, restored, completed := 0, 0, 0
	var finding string
	var windows []scanWindow
	for i := range o.scans {
		siteBefore := adminUsage(srv)
		sofar := srv.Ledger() // outside WithOrg: both take the site's lock
		srv.WithOrg(func(org *devsite.Org) {
			for _, e := range sofar {
				if e.Op == devsite.LedgerRemove && org.AddMember(e.GroupID, e.AccountID) {
					restored++
				}
			}
		})
		var posted struct {
			Scan app.ScanRun `json:"scan"`
		}
		if err := api.do(http.MethodPost, "/api/v1/scans", nil, &posted, http.StatusAccepted); err != nil {
			// The daily planner may have queued the tenant's scheduled scan:
			// wait for the active scan the 409 names, then post once more.
			var conflict *statusError
			if !errors.As(err, &conflict) || conflict.status != http.StatusConflict || conflict.scanID == "" {
				finding = fmt.Sprintf("scan %d: POST /api/v1/scans: %v", i+1, err)
				break
			}
			fmt.Fprintf(out, "  scan %2d: waiting for active scan %s first\n", i+1, conflict.scanID)
			other, err := api.waitScan(ctx, conflict.scanID, o.scanTimeout)
			if err != nil {
				return err
			}
			// It started before this window: its removals are checked, its
			// requests cannot be told apart from the site's counts.
			windows = append(windows, scanWindow{n: i + 1, notWindowed: true, scans: []*app.ScanRun{other}})
			siteBefore = adminUsage(srv)
			if err := api.do(http.MethodPost, "/api/v1/scans", nil, &posted, http.StatusAccepted); err != nil {
				finding = fmt.Sprintf("scan %d: POST /api/v1/scans: %v", i+1, err)
				break
			}
		}
		id := posted.Scan.ID
		tenantID = posted.Scan.TenantID
		killed := false
		if rng.Float64() < o.killProb {
			delay := 50*time.Millisecond + time.Duration(rng.Int64N(int64(1450*time.Millisecond)))
			time.Sleep(delay)
			var before struct {
				Scan app.ScanRun `json:"scan"`
			}
			_ = api.do(http.MethodGet, "/api/v1/scans/"+id, nil, &before, http.StatusOK)
			lp.kill()
			kills++
			killed = true
			fmt.Fprintf(out, "  scan %2d %s: SIGKILL after %s (status then %q)\n", i+1, id, delay.Round(time.Millisecond), before.Scan.Status)
			if err := lp.start(ctx, base); err != nil {
				return err
			}
		}
		run, err := api.waitScan(ctx, id, o.scanTimeout)
		if err != nil {
			return err
		}
		// A scheduled scan the planner queued once this one finished runs
		// in the window too: wait for it, and count it with this one.
		scans := []*app.ScanRun{run}
		later, err := api.scansSince(run.StartedAt, run.ID)
		if err != nil {
			return err
		}
		for _, l := range later {
			done, err := api.waitScan(ctx, l.ID, o.scanTimeout)
			if err != nil {
				return err
			}
			scans = append(scans, done)
		}
		windows = append(windows, scanWindow{n: i + 1, killed: killed, site: adminUsage(srv).Sub(siteBefore), scans: scans})
		if run.Status != app.ScanCompleted {
			finding = fmt.Sprintf("scan %d (%s) is %q %s after it was queued (killed: %v); no new scan can be posted while it is active",
				i+1, id, run.Status, o.scanTimeout, killed)
			if run.Error != "" {
				finding += "; error: " + run.Error
			}
			break
		}
		completed++
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}

	// 4. Stop lapse and reconcile the ledger with the audit trail.
	lp.stop()
	if tenantID == "" {
		return errors.New("no scan was queued: " + finding)
	}
	keys, err := secret.ParseKeys(reliabilityKey)
	if err != nil {
		return err
	}
	box, err := secret.NewBox(keys...)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, store.Config{URL: dbURL, Box: box})
	if err != nil {
		return err
	}
	defer st.Close()
	audit := map[[2]string]int{}
	byScan := map[string]int{}
	auditTotal := 0
	err = st.AuditEvents(ctx, tenantID, app.AuditFilter{Actions: []string{app.AuditAccessRemove}}, func(e *app.AuditEvent) error {
		var d app.RemovalEvidence
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return fmt.Errorf("audit event %d: %w", e.ID, err)
		}
		audit[[2]string{d.AccountID, d.GroupID}]++
		byScan[d.ScanID]++
		auditTotal++
		return nil
	})
	if err != nil {
		return err
	}
	ledger := map[[2]string]int{}
	ledgerTotal, ledgerAdds := 0, 0
	for _, e := range srv.Ledger() {
		switch e.Op {
		case devsite.LedgerRemove:
			ledger[[2]string{e.AccountID, e.GroupID}]++
			ledgerTotal++
		default:
			ledgerAdds++
		}
	}
	var missing, duplicate, extra []string
	for k, n := range ledger {
		switch a := audit[k]; {
		case a < n:
			missing = append(missing, fmt.Sprintf("%s/%s ledger %d audit %d", k[0], k[1], n, a))
		case a > n:
			duplicate = append(duplicate, fmt.Sprintf("%s/%s ledger %d audit %d", k[0], k[1], n, a))
		}
	}
	for k, a := range audit {
		if ledger[k] == 0 {
			extra = append(extra, fmt.Sprintf("%s/%s ledger 0 audit %d", k[0], k[1], a))
		}
	}
	slices.Sort(missing)
	slices.Sort(duplicate)
	slices.Sort(extra)
	chain, err := st.VerifyAuditChain(ctx, tenantID)
	if err != nil {
		return err
	}
	stuck := riverScanJobs(ctx, st)

	fmt.Fprintf(out, "scans             %d requested, %d completed\n", o.scans, completed)
	fmt.Fprintf(out, "kills             %d (SIGKILL + restart)\n", kills)
	fmt.Fprintf(out, "restored          %d memberships re-added directly between scans\n", restored)
	fmt.Fprintf(out, "ledger removals   %d (%d distinct account/group; %d adds through the APIs)\n", ledgerTotal, len(ledger), ledgerAdds)
	fmt.Fprintf(out, "audit removals    %d access.removed (%d distinct)\n", auditTotal, len(audit))
	fmt.Fprintf(out, "mismatches        %d (missing %d, duplicate %d, extra %d)\n", len(missing)+len(duplicate)+len(extra), len(missing), len(duplicate), len(extra))
	for _, l := range [][]string{missing, duplicate, extra} {
		for j, s := range l {
			if j == 10 {
				fmt.Fprintf(out, "                  … %d more\n", len(l)-10)
				break
			}
			fmt.Fprintf(out, "                  %s\n", s)
		}
	}
	countErrors := reportScanCounts(out, windows, byScan)
	fmt.Fprintf(out, "audit chain       ok=%v events=%d %s %s\n", chain.OK, chain.Events, chain.Problem, chain.Detail)
	fmt.Fprintf(out, "river scan jobs   %s\n", stuck)
	fmt.Fprintf(out, "duration          %s\n", time.Since(began).Round(time.Millisecond))
	if o.keep {
		fmt.Fprintf(out, "work directory    %s\n", dir)
	}
	if finding != "" {
		fmt.Fprintf(out, "FINDING           %s\n", finding)
	}
	switch {
	case len(missing)+len(duplicate)+len(extra) > 0:
		return fmt.Errorf("%d ledger/audit mismatches", len(missing)+len(duplicate)+len(extra))
	case !chain.OK:
		return errors.New("the audit chain does not verify")
	case countErrors > 0:
		return fmt.Errorf("%d scans whose recorded counts disagree with the audit log or the site", countErrors)
	case finding != "":
		return errors.New("not every scan completed")
	}
	return nil
}

// scanWindow is the time from posting scan n until it finished, with the
// scans that ran in it (a scheduled scan the post had to wait for, and the
// posted one) and what the site counted on its Admin API meanwhile.
type scanWindow struct {
	n      int
	killed bool
	// notWindowed: a scan that was already active when scan n was posted;
	// only its removals are compared.
	notWindowed bool
	site        app.APIUsage
	scans       []*app.ScanRun
}

// adminUsage is what the site has counted on its Admin API: requests, 429
// answers and points.
func adminUsage(srv *devsite.Server) app.APIUsage {
	var u app.APIUsage
	for endpoint, st := range srv.Stats() {
		if strings.Contains(endpoint, " /admin/") {
			u.Requests += st.Requests
			u.RateLimited += st.Statuses[http.StatusText(http.StatusTooManyRequests)]
			u.Points += st.Points
		}
	}
	return u
}

// reportScanCounts compares each scan's recorded counts with the evidence:
// removalsDone with the access.removed events that carry its id, and its API
// usage with what the site counted in its window. A scan that was not
// killed must match exactly. A killed attempt may have sent requests in its
// last moments that it never recorded (at most those of its last 200 ms, see
// app/scan/meter.go): that shortfall is shown, not failed; recording more
// than the site saw is. It returns the number of scans that fail.
func reportScanCounts(out io.Writer, windows []scanWindow, byScan map[string]int) int {
	bad := 0
	for _, w := range windows {
		var recorded app.APIUsage
		for _, run := range w.scans {
			var sum struct {
				RemovalsDone int          `json:"removalsDone"`
				API          app.APIUsage `json:"api"`
			}
			_ = json.Unmarshal(run.Summary, &sum)
			recorded = recorded.Add(sum.API)
			if sum.RemovalsDone != byScan[run.ID] {
				bad++
				fmt.Fprintf(out, "  scan %2d %s: removalsDone %d, access.removed with its id %d\n", w.n, run.ID, sum.RemovalsDone, byScan[run.ID])
			}
		}
		if w.notWindowed {
			continue
		}
		lost := w.site.Sub(recorded)
		verdict := "ok"
		switch {
		case lost == (app.APIUsage{}):
		case w.killed && lost.Requests >= 0 && lost.RateLimited >= 0 && lost.Points >= 0:
			verdict = fmt.Sprintf("killed attempt: %d requests, %d 429s unrecorded", lost.Requests, lost.RateLimited)
		default:
			bad++
			verdict = "MISMATCH"
		}
		fmt.Fprintf(out, "  scan %2d counts: requests %d (site %d), 429s %d (site %d), points %d (site %d): %s\n",
			w.n, recorded.Requests, w.site.Requests, recorded.RateLimited, w.site.RateLimited, recorded.Points, w.site.Points, verdict)
	}
	return bad
}

// riverScanJobs summarises River's jobs by kind and state, the evidence for
// a scan that stays running after its process died.
func riverScanJobs(ctx context.Context, st *store.Store) string {
	db, err := st.SQLDB()
	if err != nil {
		return err.Error()
	}
	rows, err := db.QueryContext(ctx, `SELECT kind, state, count(*) FROM river_job GROUP BY kind, state ORDER BY kind, state`)
	if err != nil {
		return err.Error()
	}
	defer rows.Close()
	var b bytes.Buffer
	for rows.Next() {
		var kind, state string
		var n int
		if err := rows.Scan(&kind, &state, &n); err != nil {
			return err.Error()
		}
		fmt.Fprintf(&b, "%s/%s=%d ", kind, state, n)
	}
	return b.String()
}

// lapseProc is the `lapse serve` child, restarted with the same
// environment and database after a kill.
type lapseProc struct {
	bin, logPath string
	env          []string
	cmd          *exec.Cmd
	log          *os.File
}

func (p *lapseProc) start(ctx context.Context, base string) error {
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, p.bin, "serve")
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.bin, err)
	}
	p.cmd, p.log = cmd, f
	for range 300 {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.kill()
	return fmt.Errorf("lapse serve did not become ready within 30s (log: %s)", p.logPath)
}

// kill ends lapse at once (SIGKILL), as a crash or a lost node would.
func (p *lapseProc) kill() { p.end(syscall.SIGKILL) }

// stop ends lapse gracefully (SIGTERM), letting running scans finish.
func (p *lapseProc) stop() { p.end(syscall.SIGTERM) }

func (p *lapseProc) end(sig syscall.Signal) {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	_ = p.cmd.Wait()
	p.log.Close()
	p.cmd = nil
}

type apiClient struct {
	base, token string
}

func (c *apiClient) do(method, path string, body, into any, want int) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "JWT "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		se := &statusError{status: resp.StatusCode, msg: fmt.Sprintf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(raw))}
		var body struct {
			Scan struct {
				ID string `json:"id"`
			} `json:"scan"`
		}
		if json.Unmarshal(raw, &body) == nil {
			se.scanID = body.Scan.ID
		}
		return se
	}
	if into != nil {
		return json.Unmarshal(raw, into)
	}
	return nil
}

// scansSince lists the tenant's scans started after since, other than
// except.
func (c *apiClient) scansSince(since time.Time, except string) ([]app.ScanRun, error) {
	var list struct {
		Scans []app.ScanRun `json:"scans"`
	}
	if err := c.do(http.MethodGet, "/api/v1/scans", nil, &list, http.StatusOK); err != nil {
		return nil, err
	}
	var out []app.ScanRun
	for _, s := range list.Scans {
		if s.ID != except && s.StartedAt.After(since) {
			out = append(out, s)
		}
	}
	return out, nil
}

// waitScan polls a scan until it leaves queued/running/approved, or until
// timeout, and returns its last state.
func (c *apiClient) waitScan(ctx context.Context, id string, timeout time.Duration) (*app.ScanRun, error) {
	deadline := time.Now().Add(timeout)
	var last struct {
		Scan app.ScanRun `json:"scan"`
	}
	for {
		err := c.do(http.MethodGet, "/api/v1/scans/"+id, nil, &last, http.StatusOK)
		if err == nil {
			switch last.Scan.Status {
			// A deferred scan (stopped by a rate limit or the budget) is
			// snoozed and continues by itself: keep waiting.
			case app.ScanQueued, app.ScanRunning, app.ScanApproved, app.ScanDeferred:
			default:
				return &last.Scan, nil
			}
		}
		if time.Now().After(deadline) {
			if err != nil {
				return nil, err
			}
			return &last.Scan, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

type statusError struct {
	status int
	scanID string
	msg    string
}

func (e *statusError) Error() string { return e.msg }
