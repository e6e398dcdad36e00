package store_test

import (
	"context"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/store/storetest"
)

func migrationNames(t *testing.T, d store.Dialect) []string {
	t.Helper()
	fsys, err := store.MigrationFS(d)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestMigrations_Parity fails when the two dialects' migration sets diverge:
// every version must exist, under the same name, for both databases.
func TestMigrations_Parity(t *testing.T) {
	t.Parallel()
	pg, lite := migrationNames(t, store.Postgres), migrationNames(t, store.SQLite)
	if len(pg) == 0 {
		t.Fatal("no migrations found")
	}
	if !slices.Equal(pg, lite) {
		t.Fatalf("migration sets differ:\npostgres: %v\nsqlite:   %v", pg, lite)
	}
	for _, n := range pg {
		if !strings.HasSuffix(n, ".sql") || len(n) < 7 || strings.Trim(n[:5], "0123456789") != "" {
			t.Errorf("migration %q is not named NNNNN_name.sql", n)
		}
	}
}

func TestStore_Migrate(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s := storetest.Open(t, d)
			ctx := context.Background()
			ok, err := s.SchemaCurrent(ctx)
			if err != nil || !ok {
				t.Fatalf("SchemaCurrent = %v, %v; want true", ok, err)
			}
			n, err := s.Migrate(ctx)
			if err != nil || n != 0 {
				t.Fatalf("second Migrate applied %d, err %v; want 0, nil", n, err)
			}
		})
	}
}

func TestStore_SchemaCurrentFalseBeforeMigrate(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s, err := store.Open(context.Background(), store.Config{URL: storetest.URL(t, d), Box: storetest.Box(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ok, err := s.SchemaCurrent(context.Background())
			if err != nil || ok {
				t.Fatalf("SchemaCurrent on empty database = %v, %v; want false, nil", ok, err)
			}
		})
	}
}

// TestStore_MigrateConcurrently starts several "replicas" against one empty
// database at once: exactly the migrations apply, once, and all succeed.
func TestStore_MigrateConcurrently(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			u := storetest.URL(t, d)
			box := storetest.Box(t)
			const replicas = 4
			var wg sync.WaitGroup
			applied := make([]int, replicas)
			errs := make([]error, replicas)
			for i := range replicas {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s, err := store.Open(context.Background(), store.Config{URL: u, Box: box})
					if err != nil {
						errs[i] = err
						return
					}
					defer s.Close()
					applied[i], errs[i] = s.Migrate(context.Background())
				}()
			}
			wg.Wait()
			total := 0
			for i := range replicas {
				if errs[i] != nil {
					t.Fatalf("replica %d: %v", i, errs[i])
				}
				total += applied[i]
			}
			if want := len(migrationNames(t, d)); total != want {
				t.Fatalf("replicas applied %d migrations in total, want %d (each exactly once)", total, want)
			}
		})
	}
}
