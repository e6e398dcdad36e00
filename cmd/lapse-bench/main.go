// Command lapse-bench measures Lapse from the outside: it starts a real
// `lapse serve` process, plays the Atlassian host against it over loopback
// HTTP, and prints throughput and latency figures.
//
//	go build -o /tmp/lapse ./cmd/lapse
//	go run ./cmd/lapse-bench auth -lapse /tmp/lapse -duration 10s -concurrency 32
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/lapsehq/lapse/app/devsite"
	"github.com/lapsehq/lapse/cmd/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.Exit("lapse-bench", err, os.Stderr))
}

const usage = `usage: lapse-bench auth [-lapse PATH] [-database-url URL] [-duration 20s] [-concurrency 32] [-rounds 4]
       lapse-bench inventory [-lapse PATH] [-users 10000] [-latency 40ms] [-site-rpm 200] [-client-rpm 200] [-mode both]
       lapse-bench scan [-lapse PATH] [-users 10000] [-latency 40ms] [-site-rpm 200] [-client-rpm 200]
       lapse-bench reliability [-lapse PATH] [-scans 20] [-faults 0.2] [-users 400] [-seed 1] [-kill 0.5]

Run "lapse-bench <benchmark> -help" for a benchmark's flags.
`

// run is the whole program behind main; help shown is success.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return cli.Usagef("no benchmark given")
	}
	if cli.IsHelp(args[0]) {
		fmt.Fprint(stdout, usage)
		return nil
	}
	switch args[0] {
	case "auth":
		return benchAuthCommand(ctx, args[1:], stdout, stderr)
	case "inventory":
		return benchInventory(ctx, stdout, stderr, args[1:])
	case "scan":
		return benchScan(ctx, stdout, stderr, args[1:])
	case "reliability":
		return benchReliability(ctx, stdout, stderr, args[1:])
	}
	fmt.Fprint(stderr, usage)
	return cli.Usagef("unknown benchmark %q", args[0])
}

func benchAuthCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.FlagSet("auth", "lapse-bench auth [-lapse PATH] [-database-url URL] [-duration 20s] [-concurrency 32] [-rounds 4]",
		"Measure GET /api/v1/tenant with a Connect context token side by side with GET /healthz against a real `lapse serve`.")
	bin := fs.String("lapse", "lapse", "path to the lapse binary (go build -o /tmp/lapse ./cmd/lapse)")
	dbURL := fs.String("database-url", "", "LAPSE_DATABASE_URL for the server (default: a fresh SQLite file)")
	duration := fs.Duration("duration", 20*time.Second, "measured duration")
	warmup := fs.Duration("warmup", 2*time.Second, "unmeasured warm-up")
	concurrency := fs.Int("concurrency", 32, "concurrent client connections")
	rounds := fs.Int("rounds", 4, "alternating rounds of /healthz and /api/v1/tenant")
	if err := cli.Parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	return benchAuth(ctx, stdout, *bin, *dbURL, *duration, *warmup, *concurrency, *rounds)
}

// benchAuth measures GET /api/v1/tenant with a Connect context token (the
// authenticated request path every admin-page call takes: token parse,
// tenant lookup, HMAC and claim checks, JSON) side by side with GET /healthz
// (the process's floor: routing, middleware, JSON) against the same server,
// with the same connections and duration. The two alternate in rounds so
// that load from other processes on the machine falls on both alike; the
// ratio of the two rates is the figure that matters on a shared machine.
func benchAuth(ctx context.Context, out io.Writer, bin, dbURL string, duration, warmup time.Duration, concurrency, rounds int) error {
	host, err := devsite.NewHost()
	if err != nil {
		return err
	}
	keys, err := serveLoopback(host.Handler())
	if err != nil {
		return err
	}
	defer keys.Close()
	keysURL := "http://" + keys.Addr().String()

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	app := devsite.App{BaseURL: "http://" + addr, Key: "com.lapsehq.lapse"}
	stopServer, err := startLapse(ctx, bin, addr, dbURL, keysURL)
	if err != nil {
		return err
	}
	defer stopServer()

	site := devsite.NewInstallation(keysURL, "jira")
	if err := host.Install(ctx, app, site, "557058:bench"); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	token, err := host.ContextToken(site, "557058:bench", warmup+2*duration+2*time.Minute)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency}, Timeout: 10 * time.Second}
	health := target{name: "GET /healthz", url: app.BaseURL + "/healthz"}
	tenant := target{name: "GET /api/v1/tenant (Connect context token)", url: app.BaseURL + "/api/v1/tenant", token: token}
	load(ctx, client, health, warmup/2, concurrency) // warm-up, discarded
	load(ctx, client, tenant, warmup/2, concurrency)
	rounds = max(rounds, 1)
	var healthRes, tenantRes result
	for range rounds {
		healthRes.add(load(ctx, client, health, duration/time.Duration(rounds), concurrency))
		tenantRes.add(load(ctx, client, tenant, duration/time.Duration(rounds), concurrency))
	}
	fmt.Fprintf(out, "%d connections, %s per endpoint in %d alternating rounds\n", concurrency, duration, rounds)
	healthRate := healthRes.print(out, health.name, duration)
	tenantRate := tenantRes.print(out, tenant.name, duration)
	if healthRate > 0 {
		fmt.Fprintf(out, "ratio     /api/v1/tenant ÷ /healthz = %.2f\n", tenantRate/healthRate)
	}
	if n := healthRes.errors + tenantRes.errors; n > 0 {
		first := healthRes.firstErr
		if first == nil {
			first = tenantRes.firstErr
		}
		return fmt.Errorf("%d requests failed (first: %v)", n, first)
	}
	return nil
}

// target is one endpoint under load; token, when set, is sent as a Connect
// JWT.
type target struct {
	name, url, token string
}

type result struct {
	latencies []time.Duration
	errors    int
	firstErr  error
}

func (r *result) add(o result) {
	r.latencies = append(r.latencies, o.latencies...)
	r.errors += o.errors
	if r.firstErr == nil {
		r.firstErr = o.firstErr
	}
}

func load(ctx context.Context, client *http.Client, t target, d time.Duration, workers int) result {
	deadline := time.Now().Add(d)
	var mu sync.Mutex
	var all result
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := result{latencies: make([]time.Duration, 0, 1<<14)}
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				err := get(ctx, client, t)
				local.latencies = append(local.latencies, time.Since(t0))
				if err != nil {
					local.errors++
					if local.firstErr == nil {
						local.firstErr = fmt.Errorf("%s: %w", t.name, err)
					}
				}
			}
			mu.Lock()
			all.add(local)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all
}

func get(ctx context.Context, client *http.Client, t target) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
	if err != nil {
		return err
	}
	if t.token != "" {
		req.Header.Set("Authorization", "JWT "+t.token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// print writes the figures of one endpoint and returns its rate.
func (r result) print(out io.Writer, name string, d time.Duration) float64 {
	slices.Sort(r.latencies)
	pct := func(p float64) time.Duration {
		if len(r.latencies) == 0 {
			return 0
		}
		return r.latencies[min(len(r.latencies)-1, int(p*float64(len(r.latencies))))]
	}
	n := len(r.latencies)
	rate := float64(n) / d.Seconds()
	fmt.Fprintf(out, "%s\n", name)
	fmt.Fprintf(out, "  requests  %d (%d failed)\n", n, r.errors)
	fmt.Fprintf(out, "  rate      %.0f req/s\n", rate)
	fmt.Fprintf(out, "  latency   p50 %s  p90 %s  p99 %s  max %s\n", pct(0.50), pct(0.90), pct(0.99), pct(1))
	return rate
}

func serveLoopback(h http.Handler) (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() { _ = http.Serve(ln, h) }()
	return ln, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startLapse runs `lapse serve` with the host's key URL and waits until it
// is ready. Its logs go to a file next to its database.
func startLapse(ctx context.Context, bin, addr, dbURL, keysURL string) (func(), error) {
	dir, err := os.MkdirTemp("", "lapse-bench-")
	if err != nil {
		return nil, err
	}
	if dbURL == "" {
		dbURL = filepath.Join(dir, "lapse.db")
	}
	logFile, err := os.Create(filepath.Join(dir, "lapse.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = append(os.Environ(),
		"LAPSE_ADDR="+addr, "LAPSE_BASE_URL=http://"+addr, "LAPSE_DATABASE_URL="+dbURL,
		"LAPSE_INSTALL_KEYS_URL="+keysURL+devsite.KeysPath, "LAPSE_ALLOWED_HOSTS=127.0.0.1",
		"LAPSE_ENCRYPTION_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		logFile.Close()
		os.RemoveAll(dir)
	}
	for range 100 {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return stop, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	return nil, errors.New("lapse serve did not become ready within 10s")
}
