// Package migrations embeds Lapse's versioned SQL migrations, one folder per
// dialect with identical version numbers. Migrations are forward-only: a
// rollback is a new migration. It is a leaf package because //go:embed cannot
// reach parent folders.
package migrations

import "embed"

// FS holds postgres/*.sql and sqlite/*.sql.
//
//go:embed postgres/*.sql sqlite/*.sql
var FS embed.FS
