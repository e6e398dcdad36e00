// Package storetest opens real, migrated, throw-away stores for tests: a
// SQLite file in a temporary directory always, and a private PostgreSQL
// schema when LAPSE_TEST_DATABASE_URL is set.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for schema set-up

	"github.com/lapsehq/lapse/app/secret"
	"github.com/lapsehq/lapse/app/store"
)

// EnvDatabaseURL names the variable that enables PostgreSQL tests.
const EnvDatabaseURL = "LAPSE_TEST_DATABASE_URL"

var skipNotice sync.Once

// Dialects returns the dialects to run store tests on: SQLite always, and
// PostgreSQL when LAPSE_TEST_DATABASE_URL is set. It says once per test
// binary when PostgreSQL is skipped, so a green run cannot hide it.
func Dialects(t testing.TB) []store.Dialect {
	t.Helper()
	if os.Getenv(EnvDatabaseURL) == "" {
		skipNotice.Do(func() {
			t.Logf("PostgreSQL store tests SKIPPED: set %s (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run them", EnvDatabaseURL)
		})
		return []store.Dialect{store.SQLite}
	}
	return []store.Dialect{store.SQLite, store.Postgres}
}

// Box returns a fresh encryption box.
func Box(t testing.TB) *secret.Box {
	t.Helper()
	k, err := secret.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := secret.ParseKeys(k)
	b, err := secret.NewBox(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Options tune Open.
type Options struct {
	NowFunc func() time.Time
	Box     *secret.Box
}

// Open returns a migrated store of the given dialect, removed when the test
// ends.
func Open(t testing.TB, d store.Dialect, opts ...Options) *store.Store {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Box == nil {
		o.Box = Box(t)
	}
	u := URL(t, d)
	s, err := store.Open(context.Background(), store.Config{URL: u, Box: o.Box, NowFunc: o.NowFunc, MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// URL returns a database URL for a fresh, empty database of dialect d: a
// new SQLite file, or a new PostgreSQL schema (dropped at cleanup) selected
// through search_path.
func URL(t testing.TB, d store.Dialect) string {
	t.Helper()
	if d == store.SQLite {
		return filepath.Join(t.TempDir(), "lapse.db")
	}
	base := os.Getenv(EnvDatabaseURL)
	if base == "" {
		t.Skipf("PostgreSQL test SKIPPED: %s is not set", EnvDatabaseURL)
	}
	schema := "t_" + randomHex(t, 8)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() { _, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
	pu, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := pu.Query()
	q.Set("search_path", schema)
	pu.RawQuery = q.Encode()
	return pu.String()
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// Each runs fn as a parallel subtest on every dialect of Dialects, named
// after the dialect. Tests that need the dialect itself (raw SQL, a second
// store on the same database) use it; the rest use EachStore.
func Each(t *testing.T, fn func(t *testing.T, d store.Dialect)) {
	t.Helper()
	for _, d := range Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			fn(t, d)
		})
	}
}

// EachStore runs fn as a parallel subtest on a fresh, migrated store of
// every dialect of Dialects.
func EachStore(t *testing.T, fn func(t *testing.T, s *store.Store), opts ...Options) {
	t.Helper()
	Each(t, func(t *testing.T, d store.Dialect) { fn(t, Open(t, d, opts...)) })
}
