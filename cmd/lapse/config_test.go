package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

const testKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

func TestLoadConfig_Defaults(t *testing.T) {
	t.Parallel()
	c, err := LoadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || c.BaseURL != "http://localhost:8080" || c.DatabaseURL != "data/lapse.db" || c.AppKey != "com.lapsehq.lapse" ||
		c.JWTLeeway != 30*time.Second || !c.MigrateOnStart || c.ForgeAppID != "" || c.InstallKeysURL != "" ||
		strings.Join(c.AllowedHosts, ",") != "*.atlassian.net,*.jira.com,*.atlassian-us-gov-mod.net" ||
		c.AdminAPIURL != "https://api.atlassian.com" || c.PrivacyAPIURL != "https://api.atlassian.com" ||
		c.AppPointsPerHour != 52000 || c.TenantPointsPerHour != 0 || c.AdminRequestsPerMinute != 150 || c.APITimeout != 30*time.Second {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestLoadConfig_Values(t *testing.T) {
	t.Parallel()
	c, err := LoadConfig(env(map[string]string{
		"LAPSE_BASE_URL":         "https://lapse.example.com/",
		"LAPSE_FORGE_APP_ID":     "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9",
		"LAPSE_ALLOWED_HOSTS":    " *.atlassian.net , 127.0.0.1 ",
		"LAPSE_JWT_LEEWAY":       "5s",
		"LAPSE_DATABASE_URL":     "postgres://u:p@db/lapse",
		"LAPSE_ENCRYPTION_KEY":   testKey,
		"LAPSE_MIGRATE_ON_START": "false",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseURL != "https://lapse.example.com" || c.ForgeAppID != "ari:cloud:ecosystem::app/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9" ||
		len(c.AllowedHosts) != 2 || c.JWTLeeway != 5*time.Second || c.MigrateOnStart {
		t.Fatalf("config = %+v", c)
	}
}

func TestLoadConfig_Errors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad_base_url", map[string]string{"LAPSE_BASE_URL": "lapse.example.com"}, "LAPSE_BASE_URL"},
		{"base_url_query", map[string]string{"LAPSE_BASE_URL": "https://x.example.com/?a=1"}, "LAPSE_BASE_URL"},
		{"bad_app_key", map[string]string{"LAPSE_APP_KEY": "has space"}, "LAPSE_APP_KEY"},
		{"bad_leeway", map[string]string{"LAPSE_JWT_LEEWAY": "forever"}, "LAPSE_JWT_LEEWAY"},
		{"huge_leeway", map[string]string{"LAPSE_JWT_LEEWAY": "1h"}, "LAPSE_JWT_LEEWAY"},
		{"bad_forge_app", map[string]string{"LAPSE_FORGE_APP_ID": "not-an-id"}, "LAPSE_FORGE_APP_ID"},
		{"bad_key", map[string]string{"LAPSE_ENCRYPTION_KEY": "short"}, "openssl rand -base64 32"},
		{"postgres_needs_key", map[string]string{"LAPSE_DATABASE_URL": "postgres://db/lapse"}, "required with PostgreSQL"},
		{"both_value_and_file", map[string]string{"LAPSE_ENCRYPTION_KEY": testKey, "LAPSE_ENCRYPTION_KEY_FILE": "/x"}, "set only one"},
		{"bad_bool", map[string]string{"LAPSE_MIGRATE_ON_START": "maybe"}, "LAPSE_MIGRATE_ON_START"},
		{"bad_log_format", map[string]string{"LAPSE_LOG_FORMAT": "xml"}, "LAPSE_LOG_FORMAT"},
		{"bad_keys_url", map[string]string{"LAPSE_INSTALL_KEYS_URL": "ftp://x"}, "LAPSE_INSTALL_KEYS_URL"},
		{"bad_admin_url", map[string]string{"LAPSE_ADMIN_API_URL": "api.atlassian.com"}, "LAPSE_ADMIN_API_URL"},
		{"bad_points", map[string]string{"LAPSE_APP_POINTS_PER_HOUR": "lots"}, "LAPSE_APP_POINTS_PER_HOUR"},
		{"zero_admin_rate", map[string]string{"LAPSE_ADMIN_REQUESTS_PER_MINUTE": "0"}, "LAPSE_ADMIN_REQUESTS_PER_MINUTE"},
		{"negative_tenant_points", map[string]string{"LAPSE_TENANT_POINTS_PER_HOUR": "-1"}, "LAPSE_TENANT_POINTS_PER_HOUR"},
		{"bad_api_timeout", map[string]string{"LAPSE_API_TIMEOUT": "1ms"}, "LAPSE_API_TIMEOUT"},
		{"smtp_without_from", map[string]string{"LAPSE_SMTP_URL": "smtp://mail.example.com"}, "LAPSE_SMTP_URL / LAPSE_SMTP_FROM"},
		{"smtp_bad_scheme", map[string]string{"LAPSE_SMTP_URL": "http://mail.example.com", "LAPSE_SMTP_FROM": "lapse@example.com"}, "LAPSE_SMTP_URL"},
		{"smtp_login_in_clear", map[string]string{"LAPSE_SMTP_URL": "smtp+insecure://u:p@mail.example.com", "LAPSE_SMTP_FROM": "lapse@example.com"}, "LAPSE_SMTP_URL"},
		{"from_without_smtp", map[string]string{"LAPSE_SMTP_FROM": "lapse@example.com"}, "LAPSE_SMTP_URL is not"},
		{"misspelt_db_scheme", map[string]string{"LAPSE_DATABASE_URL": "postgress://u:p@db/lapse"}, "LAPSE_DATABASE_URL"},
		{"mysql_db", map[string]string{"LAPSE_DATABASE_URL": "mysql://u:p@db/lapse"}, "not a supported database URL"},
		{"addr_without_port", map[string]string{"LAPSE_ADDR": "8080"}, "LAPSE_ADDR"},
		{"addr_port_range", map[string]string{"LAPSE_ADDR": "127.0.0.1:65536"}, "LAPSE_ADDR"},
		{"addr_named_port", map[string]string{"LAPSE_ADDR": ":http"}, "LAPSE_ADDR"},
		{"addr_url", map[string]string{"LAPSE_ADDR": "http://0.0.0.0:8080"}, "LAPSE_ADDR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadConfig(env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestLoadConfig_SecretFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte(testKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(env(map[string]string{"LAPSE_ENCRYPTION_KEY_FILE": path}))
	if err != nil || c.EncryptionKey != testKey {
		t.Fatalf("key from file = %q, %v", c.EncryptionKey, err)
	}
}

// TestConfig_LogValueMasksSecrets: the start-up log line never carries the
// encryption key or a database password.
func TestConfig_LogValueMasksSecrets(t *testing.T) {
	t.Parallel()
	c, err := LoadConfig(env(map[string]string{"LAPSE_DATABASE_URL": "postgres://lapse:hunter2@db/lapse", "LAPSE_ENCRYPTION_KEY": testKey,
		"LAPSE_SMTP_URL": "smtps://mailer:smtp-Pa55@mail.example.com", "LAPSE_SMTP_FROM": "Lapse <lapse@example.com>"}))
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	slog.New(slog.NewTextHandler(&sb, nil)).Info("config", "config", c)
	out := sb.String()
	if strings.Contains(out, "hunter2") || strings.Contains(out, testKey) || strings.Contains(out, "smtp-Pa55") ||
		!strings.Contains(out, "set (masked)") || !strings.Contains(out, "mailer@mail.example.com:465") {
		t.Fatalf("log line leaks a secret: %s", out)
	}
}

// TestLocalKey_GeneratedOnceThenReused: the SQLite default writes a key
// beside a new database on the first start and reads it on the next.
func TestLocalKey_GeneratedOnceThenReused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	c1 := &Config{DatabaseURL: filepath.Join(dir, "lapse.db")}
	st, err := openStore(context.Background(), c1, log)
	if err != nil || c1.EncryptionKey == "" {
		t.Fatalf("generate: %q %v", c1.EncryptionKey, err)
	}
	st.Close()
	info, err := os.Stat(filepath.Join(dir, keyFileName))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", info, err)
	}
	c2 := &Config{DatabaseURL: "sqlite://" + filepath.Join(dir, "lapse.db") + "?mode=rwc"}
	st, err = openStore(context.Background(), c2, log)
	if err != nil || c2.EncryptionKey != c1.EncryptionKey {
		t.Fatalf("the second start did not reuse the generated key: %v", err)
	}
	st.Close()
}

// TestLoadConfig_EveryProblemAtOnce: a bad listen address and a misspelt
// database URL are reported together with the rest, and the message keeps
// the database password out.
func TestLoadConfig_EveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	_, err := LoadConfig(env(map[string]string{"LAPSE_ADDR": "localhost:99999", "LAPSE_BASE_URL": "nope",
		"LAPSE_DATABASE_URL": "postgress://lapse:s3cret-pw@db/lapse"}))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"LAPSE_ADDR", "LAPSE_BASE_URL", "LAPSE_DATABASE_URL", "postgres://", "sqlite://"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("error shows the password: %v", err)
	}
}

// TestLoadConfig_DatabaseURLForms: schemes are case-insensitive (RFC 3986),
// so POSTGRES:// selects PostgreSQL and is passed on in lower case; a
// directory as the SQLite file is named as such.
func TestLoadConfig_DatabaseURLForms(t *testing.T) {
	t.Parallel()
	c, err := LoadConfig(env(map[string]string{"LAPSE_DATABASE_URL": "POSTGRES://u:p@db/lapse", "LAPSE_ENCRYPTION_KEY": testKey}))
	if err != nil || c.DatabaseURL != "postgres://u:p@db/lapse" {
		t.Fatalf("upper-case scheme: %+v %v", c, err)
	}
	if _, err := LoadConfig(env(map[string]string{"LAPSE_DATABASE_URL": "Postgresql://db/lapse"})); err == nil || !strings.Contains(err.Error(), "required with PostgreSQL") {
		t.Fatalf("mixed-case scheme not taken for PostgreSQL: %v", err)
	}
	dir := t.TempDir()
	for _, u := range []string{dir, "sqlite://" + dir, "file:" + dir} {
		_, err := LoadConfig(env(map[string]string{"LAPSE_DATABASE_URL": u}))
		if err == nil || !strings.Contains(err.Error(), "LAPSE_DATABASE_URL points at a directory: "+dir) {
			t.Errorf("%s: %v", u, err)
		}
	}
}
