package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/secret"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/store/storetest"
)

// serveRefusal runs the real `lapse serve` and returns the error it stops
// with and its log. A server that starts listening instead fails the test.
func serveRefusal(t *testing.T, vars map[string]string) (error, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logs := &syncBuffer{}
	listening := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, env(vars), logs, func(a string) { listening <- a }) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("serve returned no error\n%s", logs)
		}
		return err, logs.String()
	case a := <-listening:
		cancel()
		<-done
		t.Fatalf("serve started on %s instead of refusing\n%s", a, logs)
	}
	return nil, ""
}

// TestServe_RefusesUnsupportedDatabaseURL: a misspelt or foreign scheme
// stops serve before anything is created, with the accepted forms and
// without the password, in the error and in the log.
func TestServe_RefusesUnsupportedDatabaseURL(t *testing.T) {
	t.Parallel()
	for _, scheme := range []string{"postgress", "mysql", "sqlite"} {
		t.Run(scheme, func(t *testing.T) {
			dir := t.TempDir()
			sep := "://"
			if scheme == "sqlite" {
				sep = ":" // sqlite:path is not a documented form
			}
			dbURL := scheme + sep + "lapse:s3cret-pw@" + dir + "/lapse"
			// Read as a relative path, the URL names a folder here.
			relativeRoot, _, _ := strings.Cut(dbURL, "/")
			t.Cleanup(func() { _ = os.RemoveAll(relativeRoot) })
			err, logs := serveRefusal(t, map[string]string{"LAPSE_ADDR": "127.0.0.1:0", "LAPSE_DATABASE_URL": dbURL})
			if !strings.Contains(err.Error(), "LAPSE_DATABASE_URL") || !strings.Contains(err.Error(), "postgres://") || !strings.Contains(err.Error(), "sqlite://") {
				t.Fatalf("err = %v, want LAPSE_DATABASE_URL and the accepted forms", err)
			}
			if strings.Contains(err.Error()+logs, "s3cret-pw") {
				t.Fatalf("the password reached the error or the log: %v\n%s", err, logs)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("serve created %v", entries)
			}
			if _, err := os.Stat(relativeRoot); err == nil {
				t.Fatalf("serve created a folder named %s", relativeRoot)
			}
		})
	}
}

// TestServe_RefusesBadAddrBeforeTheDatabase: a malformed LAPSE_ADDR and an
// address in use both stop serve before the database is created (so before
// migrations and the scheduler).
func TestServe_RefusesBadAddrBeforeTheDatabase(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for name, tc := range map[string]struct{ addr, want string }{
		"malformed": {"127.0.0.1:99999", "LAPSE_ADDR: the port"},
		"in_use":    {busy.Addr().String(), "listen on " + busy.Addr().String()},
	} {
		t.Run(name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			err, _ := serveRefusal(t, map[string]string{"LAPSE_ADDR": tc.addr, "LAPSE_DATABASE_URL": filepath.Join(dataDir, "lapse.db")})
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("serve created the data directory before refusing the address (stat: %v)", err)
			}
		})
	}
}

// TestServe_RefusesDirectoryAsDatabase names the problem instead of
// SQLite's "out of memory".
func TestServe_RefusesDirectoryAsDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	err, _ := serveRefusal(t, map[string]string{"LAPSE_ADDR": "127.0.0.1:0", "LAPSE_DATABASE_URL": dir})
	if !strings.Contains(err.Error(), "LAPSE_DATABASE_URL points at a directory: "+dir) {
		t.Fatalf("err = %v", err)
	}
}

// installTenant migrates a database with `lapse migrate` and installs a
// Connect tenant into it, whose shared secret is sealed with key.
func installTenant(t *testing.T, dbURL, key string) {
	t.Helper()
	vars := map[string]string{"LAPSE_DATABASE_URL": dbURL, "LAPSE_ENCRYPTION_KEY": key}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"migrate"}, env(vars), &out, &errOut); err != nil {
		t.Fatalf("migrate: %v\n%s", err, errOut.String())
	}
	keys, _ := secret.ParseKeys(key)
	box, _ := secret.NewBox(keys...)
	st, err := store.Open(context.Background(), store.Config{URL: dbURL, Box: box})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.InstallConnect(context.Background(), app.ConnectInstall{ClientKey: "ck-1", BaseURL: "https://acme.atlassian.net",
		Product: app.ProductJira, SharedSecret: []byte("shared-secret"), ActorAccountID: "557058:admin"}); err != nil {
		t.Fatal(err)
	}
}

// TestServe_RefusesLostKeyFile: the SQLite default's key file is gone but
// the database holds secrets sealed with it. serve stops, says how to
// recover, and does not write a new key over the loss; with the key file
// restored it serves again.
func TestServe_RefusesLostKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dbPath, keyPath := filepath.Join(dir, "lapse.db"), filepath.Join(dir, keyFileName)
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"migrate"}, env(map[string]string{"LAPSE_DATABASE_URL": dbPath}), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatalf("migrate generated no key: %v", err)
	}
	installTenant(t, dbPath, strings.TrimSpace(string(key)))
	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"LAPSE_ADDR": "127.0.0.1:0", "LAPSE_DATABASE_URL": dbPath}
	err, _ = serveRefusal(t, vars)
	for _, want := range []string{"Restore " + keyPath, "LAPSE_ENCRYPTION_KEY", "is missing"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("err = %v, want it to say %q", err, want)
		}
	}
	if _, err := os.Stat(keyPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a new key file was written over the lost one (stat: %v)", err)
	}
	// The other commands that open the database refuse the same way.
	if err := run(context.Background(), []string{"migrate"}, env(vars), &out, &errOut); err == nil || !strings.Contains(err.Error(), "is missing") {
		t.Fatalf("migrate with the key lost: %v", err)
	}
	if err := os.WriteFile(keyPath, key, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := openStore(context.Background(), &Config{DatabaseURL: dbPath}, nil)
	if err != nil {
		t.Fatalf("restored key: %v", err)
	}
	st.Close()
}

// TestServe_NewKeyForDatabaseWithoutSecrets: a database that holds no
// sealed secret loses nothing with its key, so a missing key file is
// generated again, as on a first start.
func TestServe_NewKeyForDatabaseWithoutSecrets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dbPath, keyPath := filepath.Join(dir, "lapse.db"), filepath.Join(dir, keyFileName)
	vars := map[string]string{"LAPSE_DATABASE_URL": dbPath}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"migrate"}, env(vars), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"migrate"}, env(vars), &out, &errOut); err != nil {
		t.Fatalf("migrate on a database without secrets: %v", err)
	}
	if _, err := os.Stat(keyPath); err != nil {
		t.Fatalf("no new key: %v", err)
	}
}

// TestServe_RefusesWrongKey: a key that is not the one that sealed the
// stored secrets stops serve at start-up, on both databases, instead of
// failing every tenant's requests later.
func TestServe_RefusesWrongKey(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		dbURL := storetest.URL(t, d)
		sealing, wrong := newTestKey(t), newTestKey(t)
		installTenant(t, dbURL, sealing)
		err, _ := serveRefusal(t, map[string]string{"LAPSE_ADDR": "127.0.0.1:0", "LAPSE_DATABASE_URL": dbURL, "LAPSE_ENCRYPTION_KEY": wrong})
		if !strings.Contains(err.Error(), "LAPSE_ENCRYPTION_KEY does not open the secrets") || !errors.Is(err, secret.ErrDecrypt) {
			t.Fatalf("err = %v", err)
		}
		// Rotation: the new key first, the old one kept, serves.
		ctx, cancel := context.WithCancel(context.Background())
		done, listening := make(chan error, 1), make(chan string, 1)
		logs := &syncBuffer{}
		vars := map[string]string{"LAPSE_ADDR": "127.0.0.1:0", "LAPSE_DATABASE_URL": dbURL, "LAPSE_ENCRYPTION_KEY": wrong + "," + sealing}
		go func() { done <- runServe(ctx, env(vars), logs, func(a string) { listening <- a }) }()
		select {
		case <-listening:
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		case err := <-done:
			cancel()
			t.Fatalf("rotated keys: %v\n%s", err, logs)
		}
	})
}

func newTestKey(t *testing.T) string {
	t.Helper()
	k, err := secret.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestMigrate_SchemeCaseInsensitive: URL schemes are case-insensitive (RFC
// 3986 §3.1), so POSTGRES:// reaches PostgreSQL (whose driver only knows
// lower case) and SQLITE:// the SQLite file, not a folder named "SQLITE:".
func TestMigrate_SchemeCaseInsensitive(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		dbURL := storetest.URL(t, d)
		if d == store.SQLite {
			dbURL = "sqlite://" + dbURL
		}
		scheme, rest, _ := strings.Cut(dbURL, "://")
		// Read as a relative path, the URL would name a folder here.
		t.Cleanup(func() { _ = os.RemoveAll(strings.ToUpper(scheme) + ":") })
		vars := map[string]string{"LAPSE_DATABASE_URL": strings.ToUpper(scheme) + "://" + rest, "LAPSE_ENCRYPTION_KEY": testKey}
		var out, errOut bytes.Buffer
		if err := run(context.Background(), []string{"migrate"}, env(vars), &out, &errOut); err != nil {
			t.Fatalf("migrate %s: %v", vars["LAPSE_DATABASE_URL"], err)
		}
		if !strings.Contains(out.String(), "("+string(d)+")") {
			t.Fatalf("migrate output %q, want dialect %s", out.String(), d)
		}
		if d == store.SQLite {
			if _, err := os.Stat(rest); err != nil {
				t.Fatalf("no database file at %s: %v", rest, err)
			}
		}
	})
}
