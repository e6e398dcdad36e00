package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/adminapi"
	"github.com/lapsehq/lapse/app/connect"
	"github.com/lapsehq/lapse/app/forge"
	"github.com/lapsehq/lapse/app/scan"
	"github.com/lapsehq/lapse/app/schedule"
	"github.com/lapsehq/lapse/app/secret"
	"github.com/lapsehq/lapse/app/siteadmin"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/warnings"
	"github.com/lapsehq/lapse/app/web"
)

const shutdownTimeout = 20 * time.Second

func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// setup loads the configuration and opens the store: the part every
// command that reads the database shares.
func setup(ctx context.Context, getenv func(string) string, stderr io.Writer) (*Config, *slog.Logger, *store.Store, error) {
	cfg, log, err := loadConfig(getenv, stderr)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, nil, nil, err
	}
	return cfg, log, st, nil
}

// loadConfig reads and validates the configuration, every problem at once,
// before anything is created.
func loadConfig(getenv func(string) string, stderr io.Writer) (*Config, *slog.Logger, error) {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, newLogger(cfg, stderr), nil
}

// openStore opens the database with the configured key, or for the SQLite
// default with the key kept beside it, and refuses to go on with a key that
// does not open the secrets already stored.
func openStore(ctx context.Context, cfg *Config, log *slog.Logger) (*store.Store, error) {
	generated := false
	if cfg.EncryptionKey == "" && store.DialectOf(cfg.DatabaseURL) == store.SQLite {
		var err error
		if generated, err = cfg.loadLocalKey(); err != nil {
			return nil, err
		}
	}
	keys, err := secret.ParseKeys(cfg.EncryptionKey)
	if err != nil {
		return nil, fmt.Errorf("LAPSE_ENCRYPTION_KEY: %w", err)
	}
	box, err := secret.NewBox(keys...)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, store.Config{URL: cfg.DatabaseURL, Box: box, Logger: log})
	if err != nil {
		return nil, err
	}
	if generated {
		err = cfg.saveLocalKey(ctx, st, log)
	}
	if err == nil {
		if err = st.CheckSealedSecrets(ctx); errors.Is(err, secret.ErrDecrypt) {
			err = cfg.wrongKeyError(err)
		}
	}
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return st, nil
}

// runServe runs the HTTP service until ctx ends. onListen, when set,
// receives the bound address (tests listen on port 0). The address is
// bound before the database is opened, so a port in use stops start-up
// before migrations run or the scheduler takes jobs.
func runServe(ctx context.Context, getenv func(string) string, stderr io.Writer, onListen func(addr string)) error {
	cfg, log, err := loadConfig(getenv, stderr)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (set LAPSE_ADDR to a free address)", cfg.Addr, err)
	}
	defer ln.Close() // a no-op once the server has closed it
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	log.Info("starting lapse", "version", version, "config", cfg)
	if err := prepareSchema(ctx, cfg, log, st); err != nil {
		return err
	}
	mailer := cfg.Mailer
	runner := &scan.Runner{Store: st, Client: adminClientFunc(cfg, st, log), Logger: log, QueueWarnings: mailer != nil}
	var deliverer schedule.WarningMailer
	if mailer != nil {
		deliverer = &warnings.Deliverer{Store: st, Sender: mailer, Logger: log}
	}
	sched, err := schedule.New(schedule.Config{Store: st, Runner: runner, Logger: log, Replica: replicaName(), Warnings: deliverer,
		MaxWorkers: int(cfg.ScanWorkers), JobTimeout: cfg.ScanTimeout, PlanInterval: cfg.PlanInterval,
		// A worker cancels its own scan at JobTimeout, so a job still marked
		// running a minute later belongs to a dead process (SIGKILL, lost
		// node): hand it to a live worker, which resumes the scan from its
		// intent records, instead of River's default of an hour.
		RescueStuckJobsAfter: cfg.ScanTimeout + time.Minute})
	if err != nil {
		return err
	}
	if cfg.Scheduler {
		if err := sched.Start(ctx); err != nil {
			return fmt.Errorf("start scheduler: %w", err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
			defer cancel()
			if err := sched.Stop(sctx); err != nil {
				log.Warn("scheduler stop", "err", err)
			}
		}()
	}
	checker := &siteadmin.Checker{AppKey: cfg.AppKey, SystemToken: st.SystemToken, Budget: st.Budget(), Logger: log,
		HTTPClient: &http.Client{Timeout: cfg.APITimeout}}
	srv, err := web.New(web.Config{
		SiteAdmins:   checker,
		Scans:        sched,
		Restorer:     runner,
		DueScans:     sched,
		BaseURL:      cfg.BaseURL,
		AppKey:       cfg.AppKey,
		AllowedHosts: cfg.AllowedHosts,
		Leeway:       cfg.JWTLeeway,
		Store:        st,
		InstallKeys:  connect.NewHTTPKeyFetcher(cfg.InstallKeysURL, nil),
		ForgeKeys:    forge.NewKeySet(cfg.ForgeJWKSURL, nil),
		ForgeAppARI:  cfg.ForgeAppID,
		Logger:       log,
		Version:      version,
		// The same condition that gives the runner and the scheduler a
		// mailer: the policy API warns when warning e-mails cannot go.
		MailConfigured: mailer != nil,
	})
	if err != nil {
		return err
	}
	return serveOn(ctx, ln, srv.Handler(), log, onListen)
}

// prepareSchema migrates on start (the default; replicas serialise on a
// lock) or, when an operator runs migrations as a separate job, refuses to
// serve on an out-of-date schema.
func prepareSchema(ctx context.Context, cfg *Config, log *slog.Logger, st *store.Store) error {
	if cfg.MigrateOnStart {
		n, err := st.Migrate(ctx)
		if err != nil {
			return err
		}
		log.Info("database migrated", "dialect", st.Dialect(), "applied", n)
		_, err = schedule.MigrateRiver(ctx, st, log)
		return err
	}
	current, err := st.SchemaCurrent(ctx)
	if err != nil {
		return err
	}
	riverCurrent, err := schedule.RiverSchemaCurrent(ctx, st)
	if err != nil {
		return err
	}
	if !current || !riverCurrent {
		return errors.New("the database schema is out of date: run `lapse migrate` first, or set LAPSE_MIGRATE_ON_START=true")
	}
	return nil
}

// serveOn serves h on the listener runServe bound first, until ctx ends.
func serveOn(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger, onListen func(string)) error {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("listening", "addr", ln.Addr().String())
	if onListen != nil {
		onListen(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func runMigrate(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	_, log, st, err := setup(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	if _, err := schedule.MigrateRiver(ctx, st, log); err != nil {
		return err
	}
	current, _, err := st.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "applied %d migration(s); schema version %d (%s)\n", n, current, st.Dialect())
	return nil
}

// adminClientFunc builds a tenant's Admin API client: the configured base
// URL and request pace (one pacer per org for the whole process), the
// database-backed budget every replica shares.
func adminClientFunc(cfg *Config, st *store.Store, log *slog.Logger) scan.ClientFunc {
	pacers := adminapi.NewPacers()
	return func(ctx context.Context, t *app.Tenant, conn *app.OrgConnection) (*adminapi.Client, error) {
		return adminapi.New(adminapi.Config{BaseURL: cfg.AdminAPIURL, APIKey: conn.APIKey, OrgID: conn.OrgID, TenantID: t.ID,
			RequestsPerMinute: cfg.AdminRequestsPerMinute, Budget: st.Budget(), Pacers: pacers, MaxWait: 2 * time.Minute, Logger: log,
			HTTPClient: &http.Client{Timeout: cfg.APITimeout}, UserAgent: "lapse/" + version})
	}
}

// replicaName names this process in logs and job records.
func replicaName() string {
	if n := os.Getenv("POD_NAME"); n != "" {
		return n
	}
	h, _ := os.Hostname()
	return h
}
