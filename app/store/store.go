// Package store is the one package that talks to the database. It runs on
// PostgreSQL in production and on embedded, pure-Go SQLite for a single
// node, through GORM. Row structs stay unexported; callers see app types.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/lapsehq/lapse/app/secret"
)

// Dialect names a supported database.
type Dialect string

// Supported dialects.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Config configures Open. Zero values mean defaults.
type Config struct {
	// URL is a postgres:// (or postgresql://) URL, or for SQLite a file path,
	// "sqlite://<path>" or "file:<path>".
	URL string
	// Box encrypts secrets at rest. Required.
	Box *secret.Box
	// Logger receives store diagnostics. Default: slog.Default().
	Logger *slog.Logger
	// NowFunc is the clock. Default: time.Now.
	NowFunc func() time.Time
	// MaxOpenConns caps PostgreSQL connections (default 20). SQLite always
	// uses one connection: it has a single writer and River's SQLite driver
	// documents this setting.
	MaxOpenConns int
}

// Store is the database handle shared by the web server and background
// work. It is safe for concurrent use.
type Store struct {
	db      *gorm.DB
	path    string // SQLite file, for the migration lock
	box     *secret.Box
	dialect Dialect
	log     *slog.Logger
	now     func() time.Time
}

// DialectOf reports which database a URL selects; NormalizeURL tells
// whether the URL is one Lapse accepts at all.
func DialectOf(url string) Dialect {
	lower := strings.ToLower(url[:min(len(url), len("postgresql://"))])
	if strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://") {
		return Postgres
	}
	return SQLite
}

// Open connects to the database named by cfg.URL. It does not migrate.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Box == nil {
		return nil, errors.New("store: an encryption box is required")
	}
	dbURL, err := NormalizeURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s := &Store{box: cfg.Box, dialect: DialectOf(dbURL), log: cfg.Logger, now: cfg.NowFunc}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	gcfg := &gorm.Config{
		// GORM's default logger prints SQL with bound values; it is off so
		// that nothing sensitive can reach a log line.
		Logger:                 logger.Discard,
		NowFunc:                func() time.Time { return s.now().UTC() },
		SkipDefaultTransaction: true,
	}
	switch s.dialect {
	case Postgres:
		s.db, err = gorm.Open(postgres.Open(dbURL), gcfg)
	default:
		var dsn string
		s.path = SQLitePath(dbURL)
		if dsn, err = sqliteDSN(s.path); err == nil {
			s.db, err = gorm.Open(sqlite.Open(dsn), gcfg)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s %s: %w", s.dialect, RedactURL(dbURL), err)
	}
	if err := s.configurePool(cfg.MaxOpenConns); err != nil {
		return nil, err
	}
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) configurePool(maxOpen int) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if s.dialect == SQLite {
		sqlDB.SetMaxOpenConns(1)
		return nil
	}
	if maxOpen <= 0 {
		maxOpen = 20
	}
	sqlDB.SetMaxOpenConns(maxOpen)
	sqlDB.SetMaxIdleConns(maxOpen)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	return nil
}

// sqliteDSN turns a path into a DSN with the pragmas Lapse relies on:
// foreign keys (off by default in SQLite), WAL so readers do not block the
// writer, and a busy timeout instead of immediate SQLITE_BUSY errors.
func sqliteDSN(path string) (string, error) {
	if path == "" {
		return "", errors.New("empty SQLite path")
	}
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		return "", fmt.Errorf("%s is a directory, not a database file (name a file inside it, e.g. %s)", path, filepath.Join(path, "lapse.db"))
	}
	if path != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", fmt.Errorf("create database directory: %w", err)
		}
	}
	return "file:" + path + "?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_time_format=sqlite", nil
}

// Dialect reports which database the store runs on.
func (s *Store) Dialect() Dialect { return s.dialect }

// SQLDB exposes the underlying *sql.DB for components that need a plain
// database/sql handle (migrations, the job queue).
func (s *Store) SQLDB() (*sql.DB, error) { return s.db.DB() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close releases the database connections.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// inTx runs fn in one transaction on a copy of the store bound to it, so
// every write a method makes, its audit row included, commits or rolls back
// together.
func (s *Store) inTx(ctx context.Context, fn func(tx *Store) error) error {
	return s.db.WithContext(ctx).Transaction(func(gtx *gorm.DB) error {
		txs := *s
		txs.db = gtx
		return fn(&txs)
	})
}

// nowUTC returns the store clock in UTC, truncated to microseconds so that
// values read back from either database compare equal to those written.
func (s *Store) nowUTC() time.Time { return s.now().UTC().Truncate(time.Microsecond) }
