package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/lapsehq/lapse/app/forge"
	"github.com/lapsehq/lapse/app/notify"
	"github.com/lapsehq/lapse/app/secret"
	"github.com/lapsehq/lapse/app/store"
)

// Defaults of the configuration table in README.md.
const (
	defaultAddr         = ":8080"
	defaultBaseURL      = "http://localhost:8080"
	defaultDatabaseURL  = "data/lapse.db"
	defaultAppKey       = "com.lapsehq.lapse"
	defaultAllowedHosts = "*.atlassian.net,*.jira.com,*.atlassian-us-gov-mod.net"
	defaultJWTLeeway    = 30 * time.Second
	defaultAPIURL       = "https://api.atlassian.com"
	// 80 % of Atlassian's Tier 1 pool of 65,000 points per hour for the whole
	// app: headroom for the requests other replicas have in flight and for
	// Atlassian's own accounting differences.
	defaultAppPointsPerHour = 52000
	// Under the ~200 requests per minute per org reported for the Admin API.
	defaultAdminRequestsPerMinute = 150
	defaultAPITimeout             = 30 * time.Second
	keyFileName                   = "encryption.key"
)

// Config is everything Lapse reads from its environment. Only cmd reads the
// environment; packages get the typed values.
type Config struct {
	Addr           string
	BaseURL        string
	DatabaseURL    string
	AppKey         string
	EncryptionKey  string // comma list of base64 keys; the first seals
	InstallKeysURL string
	AllowedHosts   []string
	ForgeAppID     string // normalised ARI, or "" when Forge is not configured
	ForgeJWKSURL   string
	JWTLeeway      time.Duration
	MigrateOnStart bool
	// Atlassian APIs outside the tenant's own site, and the budgets Lapse
	// keeps within.
	AdminAPIURL            string
	PrivacyAPIURL          string
	AppPointsPerHour       int64
	TenantPointsPerHour    int64
	AdminRequestsPerMinute int64
	APITimeout             time.Duration
	// Scans: whether this process runs scans (the scheduler), how many at a
	// time, how long one may take, how often due tenants are looked for.
	Scheduler    bool
	ScanWorkers  int64
	ScanTimeout  time.Duration
	PlanInterval time.Duration
	LogFormat    string
	LogLevel     slog.Level
	// Warning e-mails to accounts pending removal: off unless SMTPURL is
	// set (the URL may hold the relay's password, hence _FILE).
	SMTPURL  string
	SMTPFrom string
	// Mailer sends the warning e-mails: built from SMTPURL and SMTPFrom
	// when the configuration is validated; nil when SMTP is not set.
	Mailer *notify.SMTP

	// generatedKeyPath is set when the SQLite default generated or loaded
	// an encryption key from the data directory, for messages.
	generatedKeyPath string
}

var appKeyPattern = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,64}$`)

// LoadConfig reads and validates the configuration. getenv is os.Getenv in
// production and a map in tests.
func LoadConfig(getenv func(string) string) (*Config, error) {
	c := &Config{
		Addr:           or(getenv("LAPSE_ADDR"), defaultAddr),
		BaseURL:        strings.TrimSuffix(or(getenv("LAPSE_BASE_URL"), defaultBaseURL), "/"),
		AppKey:         or(getenv("LAPSE_APP_KEY"), defaultAppKey),
		InstallKeysURL: strings.TrimSuffix(getenv("LAPSE_INSTALL_KEYS_URL"), "/"),
		ForgeJWKSURL:   or(getenv("LAPSE_FORGE_JWKS_URL"), forge.DefaultJWKSURL),
		LogFormat:      or(getenv("LAPSE_LOG_FORMAT"), "json"),
		AdminAPIURL:    strings.TrimSuffix(or(getenv("LAPSE_ADMIN_API_URL"), defaultAPIURL), "/"),
		PrivacyAPIURL:  strings.TrimSuffix(or(getenv("LAPSE_PRIVACY_API_URL"), defaultAPIURL), "/"),
	}
	var errs []error
	var err error
	if c.DatabaseURL, err = secretValue(getenv, "LAPSE_DATABASE_URL"); err != nil {
		errs = append(errs, err)
	}
	c.DatabaseURL = or(c.DatabaseURL, defaultDatabaseURL)
	errs = append(errs, c.checkDatabaseURL()...)
	if err := checkAddr(c.Addr); err != nil {
		errs = append(errs, err)
	}
	if c.EncryptionKey, err = secretValue(getenv, "LAPSE_ENCRYPTION_KEY"); err != nil {
		errs = append(errs, err)
	}
	if c.SMTPURL, err = secretValue(getenv, "LAPSE_SMTP_URL"); err != nil {
		errs = append(errs, err)
	}
	c.SMTPFrom = getenv("LAPSE_SMTP_FROM")
	c.AllowedHosts = splitList(or(getenv("LAPSE_ALLOWED_HOSTS"), defaultAllowedHosts))
	errs = append(errs, c.parseDurationsAndFlags(getenv)...)
	if id := getenv("LAPSE_FORGE_APP_ID"); id != "" {
		if c.ForgeAppID, err = forge.AppARI(id); err != nil {
			errs = append(errs, fmt.Errorf("LAPSE_FORGE_APP_ID: %w (use the app's UUID or ari:cloud:ecosystem::app/<uuid>)", err))
		}
	}
	errs = append(errs, c.validate()...)
	return c, errors.Join(errs...)
}

func (c *Config) parseDurationsAndFlags(getenv func(string) string) []error {
	var errs []error
	c.JWTLeeway = defaultJWTLeeway
	if v := getenv("LAPSE_JWT_LEEWAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > 5*time.Minute {
			errs = append(errs, fmt.Errorf("LAPSE_JWT_LEEWAY: %q is not a duration between 0s and 5m (e.g. 30s)", v))
		}
		c.JWTLeeway = d
	}
	var err error
	if c.AppPointsPerHour, err = intVar(getenv, "LAPSE_APP_POINTS_PER_HOUR", defaultAppPointsPerHour, 1); err != nil {
		errs = append(errs, err)
	}
	if c.TenantPointsPerHour, err = intVar(getenv, "LAPSE_TENANT_POINTS_PER_HOUR", 0, 0); err != nil {
		errs = append(errs, err)
	}
	if c.AdminRequestsPerMinute, err = intVar(getenv, "LAPSE_ADMIN_REQUESTS_PER_MINUTE", defaultAdminRequestsPerMinute, 1); err != nil {
		errs = append(errs, err)
	}
	c.APITimeout = defaultAPITimeout
	if v := getenv("LAPSE_API_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > 5*time.Minute {
			errs = append(errs, fmt.Errorf("LAPSE_API_TIMEOUT: %q is not a duration between 1s and 5m (e.g. 30s)", v))
		}
		c.APITimeout = d
	}
	c.Scheduler = true
	if v := getenv("LAPSE_SCHEDULER"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("LAPSE_SCHEDULER: %q is not true or false", v))
		}
		c.Scheduler = b
	}
	if c.ScanWorkers, err = intVar(getenv, "LAPSE_SCAN_WORKERS", 4, 1); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, durationVar(getenv, "LAPSE_SCAN_TIMEOUT", 30*time.Minute, time.Minute, 24*time.Hour, &c.ScanTimeout)...)
	errs = append(errs, durationVar(getenv, "LAPSE_PLAN_INTERVAL", 5*time.Minute, 10*time.Second, time.Hour, &c.PlanInterval)...)
	c.MigrateOnStart = true
	if v := getenv("LAPSE_MIGRATE_ON_START"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("LAPSE_MIGRATE_ON_START: %q is not true or false", v))
		}
		c.MigrateOnStart = b
	}
	if err := c.LogLevel.UnmarshalText([]byte(or(getenv("LAPSE_LOG_LEVEL"), "info"))); err != nil {
		errs = append(errs, fmt.Errorf("LAPSE_LOG_LEVEL: %q is not one of debug, info, warn, error", getenv("LAPSE_LOG_LEVEL")))
	}
	return errs
}

func (c *Config) validate() []error {
	var errs []error
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("LAPSE_BASE_URL: %q must be an absolute http(s) URL without query, e.g. https://lapse.example.com", c.BaseURL))
	}
	if !appKeyPattern.MatchString(c.AppKey) {
		errs = append(errs, fmt.Errorf("LAPSE_APP_KEY: %q must be 1-64 characters of letters, digits, '.', '_' or '-'", c.AppKey))
	}
	if c.InstallKeysURL != "" {
		if u, err := url.Parse(c.InstallKeysURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("LAPSE_INSTALL_KEYS_URL: %q must be an absolute http(s) URL", c.InstallKeysURL))
		}
	}
	if u, err := url.Parse(c.ForgeJWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("LAPSE_FORGE_JWKS_URL: %q must be an absolute http(s) URL", c.ForgeJWKSURL))
	}
	for name, v := range map[string]string{"LAPSE_ADMIN_API_URL": c.AdminAPIURL, "LAPSE_PRIVACY_API_URL": c.PrivacyAPIURL} {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s: %q must be an absolute http(s) URL", name, v))
		}
	}
	if len(c.AllowedHosts) == 0 {
		errs = append(errs, errors.New("LAPSE_ALLOWED_HOSTS: at least one host pattern is required"))
	}
	if c.SMTPURL != "" {
		var err error
		if c.Mailer, err = notify.NewSMTP(notify.SMTPConfig{URL: c.SMTPURL, From: c.SMTPFrom}); err != nil {
			errs = append(errs, fmt.Errorf("LAPSE_SMTP_URL / LAPSE_SMTP_FROM: %w", err))
		}
	} else if c.SMTPFrom != "" {
		errs = append(errs, errors.New("LAPSE_SMTP_FROM is set but LAPSE_SMTP_URL is not: set the relay, e.g. smtp://user:password@smtp.example.com:587, or unset LAPSE_SMTP_FROM"))
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		errs = append(errs, fmt.Errorf("LAPSE_LOG_FORMAT: %q is not json or text", c.LogFormat))
	}
	if c.EncryptionKey != "" {
		if _, err := secret.ParseKeys(c.EncryptionKey); err != nil {
			errs = append(errs, fmt.Errorf("LAPSE_ENCRYPTION_KEY: %w", err))
		}
	} else if store.DialectOf(c.DatabaseURL) == store.Postgres {
		errs = append(errs, errors.New("LAPSE_ENCRYPTION_KEY: required with PostgreSQL, where replicas must share one key (generate one with: openssl rand -base64 32)"))
	}
	return errs
}

// checkDatabaseURL accepts only the documented forms of the database URL
// (normalising the scheme's case), and refuses a directory as the SQLite
// file before anything is created.
func (c *Config) checkDatabaseURL() []error {
	u, err := store.NormalizeURL(c.DatabaseURL)
	if err != nil {
		return []error{fmt.Errorf("LAPSE_DATABASE_URL: %w", err)}
	}
	c.DatabaseURL = u
	if store.DialectOf(u) == store.SQLite {
		path := store.SQLitePath(u)
		if info, err := os.Stat(path); err == nil && info.IsDir() {
			return []error{fmt.Errorf("LAPSE_DATABASE_URL points at a directory: %s (name the database file in it, e.g. %s)", path, filepath.Join(path, "lapse.db"))}
		}
	}
	return nil
}

// checkAddr checks the listen address's syntax, so that a typo is reported
// with every other problem instead of after the database is opened.
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("LAPSE_ADDR: %q is not host:port or :port (e.g. :8080 or 127.0.0.1:8080)", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("LAPSE_ADDR: the port of %q is not a number from 0 to 65535 (e.g. :8080)", addr)
	}
	if strings.ContainsAny(host, " /\\?#@") {
		return fmt.Errorf("LAPSE_ADDR: %q has no valid host name or IP address (e.g. 0.0.0.0:8080, or :8080 for every interface)", addr)
	}
	return nil
}

// durationVar reads a duration variable with a default and bounds.
func durationVar(getenv func(string) string, name string, def, lo, hi time.Duration, dst *time.Duration) []error {
	*dst = def
	v := getenv(name)
	if v == "" {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		return []error{fmt.Errorf("%s: %q is not a duration between %s and %s", name, v, lo, hi)}
	}
	*dst = d
	return nil
}

// intVar reads an integer variable with a default and a minimum.
func intVar(getenv func(string) string, name string, def, minimum int64) (int64, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < minimum {
		return def, fmt.Errorf("%s: %q is not a whole number >= %d", name, v, minimum)
	}
	return n, nil
}

// secretValue reads NAME, or the file named by NAME_FILE (Kubernetes
// secrets are mounted as files), but not both.
func secretValue(getenv func(string) string, name string) (string, error) {
	v, file := getenv(name), getenv(name+"_FILE")
	if v != "" && file != "" {
		return "", fmt.Errorf("%s and %s_FILE are both set; set only one", name, name)
	}
	if file == "" {
		return v, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// localKeyPath is where the SQLite default keeps its generated key: beside
// the database, which it must be backed up with.
func (c *Config) localKeyPath() string {
	return filepath.Join(filepath.Dir(store.SQLitePath(c.DatabaseURL)), keyFileName)
}

// loadLocalKey gives the single-node SQLite default a key with no
// configuration: read from the data directory, or, the first time, a new
// one that saveLocalKey writes there once it has checked the database. It
// reports whether the key is new.
func (c *Config) loadLocalKey() (generated bool, err error) {
	path := c.localKeyPath()
	c.generatedKeyPath = path
	b, err := os.ReadFile(path)
	if err == nil {
		c.EncryptionKey = strings.TrimSpace(string(b))
		if _, err := secret.ParseKeys(c.EncryptionKey); err != nil {
			return false, fmt.Errorf("%s: %w", path, err)
		}
		return false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("read encryption key: %w", err)
	}
	if c.EncryptionKey, err = secret.NewKey(); err != nil {
		return false, err
	}
	return true, nil
}

// saveLocalKey keeps a key loadLocalKey generated. A missing key file
// beside a database that holds sealed secrets means the key was lost, not
// that this is a first start: a new key would make every tenant's secrets
// unreadable, so start-up stops and says how to recover. A database without
// sealed secrets (new, or never installed into) loses nothing and gets the
// new key.
func (c *Config) saveLocalKey(ctx context.Context, st *store.Store, log *slog.Logger) error {
	path := c.generatedKeyPath
	held, err := st.HoldsSealedSecrets(ctx)
	if err != nil {
		return fmt.Errorf("check the database for encrypted secrets before generating a key: %w", err)
	}
	if held {
		return fmt.Errorf("the encryption key file %s is missing, but the database %s holds secrets sealed with it. "+
			"Restore %s from the backup taken with the database, or set LAPSE_ENCRYPTION_KEY (or LAPSE_ENCRYPTION_KEY_FILE) to that key. "+
			"No new key was generated: with one, every tenant's stored secrets would stay unreadable", path, store.SQLitePath(c.DatabaseURL), path)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("write encryption key: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(c.EncryptionKey + "\n"); err != nil {
		return fmt.Errorf("write encryption key: %w", err)
	}
	log.Warn("LAPSE_ENCRYPTION_KEY is not set: generated a key for the embedded database; back it up with the database, or set LAPSE_ENCRYPTION_KEY", "key_file", path)
	return nil
}

// wrongKeyError explains a key that does not open the stored secrets, naming
// where the key came from.
func (c *Config) wrongKeyError(err error) error {
	source := "LAPSE_ENCRYPTION_KEY"
	if c.generatedKeyPath != "" {
		source = "the key in " + c.generatedKeyPath
	}
	return fmt.Errorf("%s does not open the secrets stored in the database (%w): it is not the key that sealed them. "+
		"Set the key that did (restore it from backup); to rotate keys, put the new key first and keep the old one after it, comma-separated", source, err)
}

// LogValue prints the configuration with secrets masked, so it can be
// logged once at start-up.
func (c *Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("addr", c.Addr),
		slog.String("base_url", c.BaseURL),
		slog.String("database", store.RedactURL(c.DatabaseURL)),
		slog.String("app_key", c.AppKey),
		slog.String("encryption_key", maskSet(c.EncryptionKey)),
		slog.String("install_keys_url", or(c.InstallKeysURL, "atlassian")),
		slog.String("allowed_hosts", strings.Join(c.AllowedHosts, ",")),
		slog.String("forge_app_id", or(c.ForgeAppID, "unset: Forge invocations are refused")),
		slog.String("forge_jwks_url", c.ForgeJWKSURL),
		slog.Duration("jwt_leeway", c.JWTLeeway),
		slog.Bool("migrate_on_start", c.MigrateOnStart),
		slog.String("admin_api_url", c.AdminAPIURL),
		slog.String("privacy_api_url", c.PrivacyAPIURL),
		slog.Int64("app_points_per_hour", c.AppPointsPerHour),
		slog.Int64("tenant_points_per_hour", c.TenantPointsPerHour),
		slog.Int64("admin_requests_per_minute", c.AdminRequestsPerMinute),
		slog.Duration("api_timeout", c.APITimeout),
		slog.Bool("scheduler", c.Scheduler),
		slog.Int64("scan_workers", c.ScanWorkers),
		slog.Duration("scan_timeout", c.ScanTimeout),
		slog.Duration("plan_interval", c.PlanInterval),
		slog.String("smtp", c.smtpDescription()),
	)
}

func (c *Config) smtpDescription() string {
	if c.Mailer == nil {
		return "unset: warning e-mails are not sent"
	}
	return c.Mailer.String() + " from " + c.SMTPFrom
}

func maskSet(v string) string {
	if v == "" {
		return "unset"
	}
	return "set (masked)"
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, strings.ToLower(p))
		}
	}
	return out
}
