package store

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/lapsehq/lapse/migrations"
)

// MigrationFS returns the embedded migrations of a dialect.
func MigrationFS(d Dialect) (fs.FS, error) {
	return fs.Sub(migrations.FS, string(d))
}

// provider builds a goose provider for the store's dialect. On PostgreSQL a
// session-level advisory lock serialises replicas that start at the same
// time: the first applies the migrations, the others wait and find nothing
// left to do. SQLite has a single writer and needs no lock.
func (s *Store) provider() (*goose.Provider, error) {
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil, err
	}
	fsys, err := MigrationFS(s.dialect)
	if err != nil {
		return nil, err
	}
	dialect := goose.DialectSQLite3
	var opts []goose.ProviderOption
	if s.dialect == Postgres {
		dialect = goose.DialectPostgres
		// Retry the lock every second for up to ten minutes: a replica that
		// waits behind a long migration should not give up early.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 600))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(dialect, sqlDB, fsys, opts...)
}

// lockFile takes an exclusive advisory lock on path, waiting for it. goose
// has no SQLite locker, and two processes opening one SQLite file (a second
// "lapse migrate" beside "lapse serve") would otherwise race to create the
// same tables.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}

// Migrate applies every pending migration and returns how many it applied.
func (s *Store) Migrate(ctx context.Context) (int, error) {
	p, err := s.provider()
	if err != nil {
		return 0, fmt.Errorf("store: migrate: %w", err)
	}
	if s.dialect == SQLite && s.path != ":memory:" {
		unlock, err := lockFile(s.path + ".migrate-lock")
		if err != nil {
			return 0, fmt.Errorf("store: migrate: %w", err)
		}
		defer unlock()
	}
	results, err := p.Up(ctx)
	if err != nil {
		return len(results), fmt.Errorf("store: migrate: %w", err)
	}
	return len(results), nil
}

// SchemaVersion reports the applied and the latest known schema versions.
func (s *Store) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	p, err := s.provider()
	if err != nil {
		return 0, 0, fmt.Errorf("store: schema version: %w", err)
	}
	current, err = p.GetDBVersion(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("store: schema version: %w", err)
	}
	sources := p.ListSources()
	if n := len(sources); n > 0 {
		latest = sources[n-1].Version
	}
	return current, latest, nil
}

// SchemaCurrent reports whether every migration has been applied.
func (s *Store) SchemaCurrent(ctx context.Context) (bool, error) {
	current, latest, err := s.SchemaVersion(ctx)
	if err != nil {
		return false, err
	}
	return current >= latest, nil
}
