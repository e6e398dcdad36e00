package main

import (
	"errors"
	"fmt"
	"log/slog"
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
	// an encryption key from the data directory.
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

// secretValue reads NAME, or the file named by NAME_FILE (Kubernetes
// secrets are mounted as files), but not both.
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

// ensureLocalKey gives the single-node SQLite default a key with no
// configuration: generated once into the data directory, then reused. The
// key file is as precious as the database; losing it makes the stored
// secrets unreadable, so the warning says so.
func (c *Config) ensureLocalKey(log *slog.Logger) error {
	if c.EncryptionKey != "" {
		return nil
	}
	dir := filepath.Dir(strings.TrimPrefix(strings.TrimPrefix(c.DatabaseURL, "sqlite://"), "file:"))
	path := filepath.Join(dir, keyFileName)
	c.generatedKeyPath = path
	if b, err := os.ReadFile(path); err == nil {
		c.EncryptionKey = strings.TrimSpace(string(b))
		_, err := secret.ParseKeys(c.EncryptionKey)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read encryption key: %w", err)
	}
	key, err := secret.NewKey()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("write encryption key: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(key + "\n"); err != nil {
		return fmt.Errorf("write encryption key: %w", err)
	}
	c.EncryptionKey = key
	log.Warn("LAPSE_ENCRYPTION_KEY is not set: generated a key for the embedded database; back it up with the database, or set LAPSE_ENCRYPTION_KEY", "key_file", path)
	return nil
}

// LogValue prints the configuration with secrets masked, so it can be
// logged once at start-up.
func (c *Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("addr", c.Addr),
		slog.String("base_url", c.BaseURL),
		slog.String("database", maskURL(c.DatabaseURL)),
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

// maskURL hides the password of a database URL.
func maskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
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
