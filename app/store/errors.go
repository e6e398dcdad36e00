package store

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/lapsehq/lapse/app"
)

// isUniqueViolation reports whether err is a unique-constraint violation on
// either dialect.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	// The pure-Go SQLite driver reports constraint failures by message only.
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// notFound translates gorm's not-found error into a domain error.
func notFound(err error, what string) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return app.Errorf(app.ENOTFOUND, "%s not found", what)
	}
	return err
}
