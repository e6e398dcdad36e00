package store

import (
	"context"
	"path/filepath"
	"testing"

	"gorm.io/gorm/schema"

	"github.com/lapsehq/lapse/app/secret"
)

// TestRowsMatchSchema catches drift between the unexported row structs and
// the SQL migrations: every field of every row must be a column.
func TestRowsMatchSchema(t *testing.T) {
	t.Parallel()
	k, _ := secret.NewKey()
	keys, _ := secret.ParseKeys(k)
	box, _ := secret.NewBox(keys...)
	s, err := Open(context.Background(), Config{URL: filepath.Join(t.TempDir(), "drift.db"), Box: box})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, row := range []schema.Tabler{tenantRow{}, forgeInvocationRow{}, systemTokenRow{}, auditRow{}, orgConnectionRow{}, policyRow{}, scanRow{}, scanAccountRow{}, scanActionRow{}, auditHeadRow{}, warningRow{}, seenInstallTokenRow{}} {
		stmt := s.db.Model(row).Statement
		if err := stmt.Parse(row); err != nil {
			t.Fatal(err)
		}
		for _, f := range stmt.Schema.Fields {
			if f.DBName == "" {
				continue
			}
			if !s.db.Migrator().HasColumn(row, f.DBName) {
				t.Errorf("%s.%s: field %s has no column in the migrated schema", row.TableName(), f.DBName, f.Name)
			}
		}
	}
}
