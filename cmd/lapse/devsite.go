package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lapsehq/lapse/app/devsite"
	"github.com/lapsehq/lapse/cmd/internal/cli"
)

const defaultDevsiteAddr = "127.0.0.1:8090"

// devsiteOptions are the settings of `lapse devsite`: flags, with
// LAPSE_DEVSITE_* variables as their defaults.
type devsiteOptions struct {
	addr        string
	baseURL     string
	allowRemote bool
	params      devsite.Params
}

func parseDevsiteOptions(args []string, getenv func(string) string, stdout, stderr io.Writer) (*devsiteOptions, error) {
	o := &devsiteOptions{}
	var errs []error
	envInt := func(name string, def int) int {
		v := getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a whole number >= 0", name, v))
		}
		return n
	}
	seed, err := strconv.ParseInt(or(getenv("LAPSE_DEVSITE_SEED"), "1"), 10, 64)
	if err != nil {
		errs = append(errs, fmt.Errorf("LAPSE_DEVSITE_SEED: %q is not a whole number", getenv("LAPSE_DEVSITE_SEED")))
	}
	users := envInt("LAPSE_DEVSITE_USERS", 1000)
	sites := envInt("LAPSE_DEVSITE_SITES", 1)
	allow, err := strconv.ParseBool(or(getenv("LAPSE_DEVSITE_ALLOW_REMOTE"), "false"))
	if err != nil {
		errs = append(errs, fmt.Errorf("LAPSE_DEVSITE_ALLOW_REMOTE: %q is not true or false", getenv("LAPSE_DEVSITE_ALLOW_REMOTE")))
	}
	fs := cli.FlagSet("lapse devsite", "lapse devsite [--addr HOST:PORT] [--base-url URL] [--users N] [--sites N] [--seed N] [--allow-remote]",
		"Run a simulated Atlassian site (Admin API, Jira, Confluence) to develop and test Lapse against.\n"+
			"Flags default to the LAPSE_DEVSITE_* variables named with them.")
	fs.StringVar(&o.addr, "addr", or(getenv("LAPSE_DEVSITE_ADDR"), defaultDevsiteAddr), "listen address (LAPSE_DEVSITE_ADDR)")
	fs.StringVar(&o.baseURL, "base-url", getenv("LAPSE_DEVSITE_BASE_URL"), "URL Lapse reaches the site at (LAPSE_DEVSITE_BASE_URL; default: from the listen address)")
	fs.BoolVar(&o.allowRemote, "allow-remote", allow, "allow listening on a non-loopback address (LAPSE_DEVSITE_ALLOW_REMOTE)")
	fs.Int64Var(&o.params.Seed, "seed", seed, "seed of the generated org and of fault injection (LAPSE_DEVSITE_SEED)")
	fs.IntVar(&o.params.Users, "users", users, "number of accounts in the org (LAPSE_DEVSITE_USERS)")
	fs.IntVar(&o.params.Sites, "sites", sites, "number of sites (LAPSE_DEVSITE_SITES)")
	if err := cli.Parse(fs, args, stdout, stderr); err != nil {
		return nil, err // help asked for, or a bad flag: usage printed
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.params.Users < 1 || o.params.Sites < 1 || o.params.Sites > 50 {
		return nil, errors.New("devsite: --users must be at least 1 and --sites between 1 and 50")
	}
	if err := checkDevsiteAddr(o.addr, o.allowRemote); err != nil {
		return nil, err
	}
	if o.baseURL != "" {
		if u, err := url.Parse(o.baseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("devsite: --base-url %q must be an absolute http(s) URL", o.baseURL)
		}
		o.baseURL = strings.TrimSuffix(o.baseURL, "/")
	}
	return o, nil
}

// checkDevsiteAddr refuses a listen address other machines can reach unless
// allowed: the site hands its org API key to anyone who asks and accepts the
// credentials it mints itself.
func checkDevsiteAddr(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("devsite: --addr %q is not host:port (e.g. %s)", addr, defaultDevsiteAddr)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	if allowRemote {
		return nil
	}
	return fmt.Errorf("devsite: refusing to listen on %q, which other machines can reach: the simulated site gives out its org API key and accepts the tokens it mints. Listen on a loopback address (e.g. %s) or pass --allow-remote", addr, defaultDevsiteAddr)
}

// runDevsite runs the simulated Atlassian site until ctx ends. onListen,
// when set, receives the site's URL once it serves (tests listen on port
// 0).
func runDevsite(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, onListen func(baseURL string)) error {
	o, err := parseDevsiteOptions(args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	site, err := devsite.NewServer(devsite.Config{Params: o.params, Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("devsite: listen on %s: %w (choose another with --addr)", o.addr, err)
	}
	base := o.baseURL
	if base == "" {
		base = urlOf(ln.Addr())
	}
	site.SetBaseURL(base)
	hs := &http.Server{
		Handler:           site.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// Requests share ctx, so the ones a Timeout or Slow fault is holding
		// end when the command is stopped.
		BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("devsite listening", "addr", ln.Addr().String(), "url", base)
	printDevsiteHelp(stdout, site, base, or(getenv("LAPSE_BASE_URL"), defaultBaseURL))
	if onListen != nil {
		onListen(base)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("devsite shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("devsite: shutdown: %w", err)
	}
	return nil
}

// urlOf is the http URL of a listener, with an unspecified address (all
// interfaces) replaced by the loopback one.
func urlOf(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return "http://" + a.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return "http://" + net.JoinHostPort(ip.String(), strconv.Itoa(tcp.Port))
}

// printDevsiteHelp tells the user what runs where and exactly how to point
// a Lapse at it.
func printDevsiteHelp(w io.Writer, site *devsite.Server, base, lapseURL string) {
	var orgID, apiKey string
	var users int
	type siteLine struct{ name, cloudID string }
	var sites []siteLine
	site.WithOrg(func(o *devsite.Org) {
		orgID, apiKey, users = o.ID, o.APIKey, len(o.Users)
		for _, s := range o.Sites {
			sites = append(sites, siteLine{s.Name, s.CloudID})
		}
	})
	u, _ := url.Parse(base)
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("Simulated Atlassian site at %s", base)
	p("  org id         %s (%d accounts, %d site(s))", orgID, users, len(sites))
	p("  org API key    %s", apiKey)
	for _, s := range sites {
		p("  site %-9s Jira %s  Confluence %s  cloudId %s", s.name, site.SiteURL(s.name, "jira"), site.SiteURL(s.name, "confluence"), s.cloudID)
	}
	p("  control API    %s%s (loopback only; see app/devsite/README.md)", base, strings.TrimSuffix(devsite.ControlPrefix, "/"))
	p("")
	p("Point Lapse at it (in the environment of `lapse serve`):")
	p("  export LAPSE_ADMIN_API_URL=%s", base)
	p("  export LAPSE_PRIVACY_API_URL=%s", base)
	p("  export LAPSE_INSTALL_KEYS_URL=%s%s", base, devsite.KeysPath)
	p("  export LAPSE_FORGE_JWKS_URL=%s%s", base, devsite.ForgeJWKSURI)
	p("  export LAPSE_FORGE_APP_ID=%s", site.Host().ForgeAppID())
	p("  export LAPSE_ALLOWED_HOSTS=%s", u.Hostname())
	p("and give Lapse the org id and org API key above where it asks for the Atlassian organization.")
	p("")
	p("Install the running Lapse at %s into the site (Jira; use \"product\":\"confluence\", \"forge\":true as needed):", lapseURL)
	p(`  curl -sS -X POST %s/_devsite/install -H 'Content-Type: application/json' -d '{"lapseUrl":"%s","site":"%s","product":"jira"}'`,
		base, lapseURL, sites[0].name)
}
