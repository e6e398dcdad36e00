package store

import (
	"context"
	"fmt"
)

// sealedColumn is a column that holds secrets sealed with the encryption
// key, and how each row's ciphertext is bound to the row.
type sealedColumn struct {
	what    string // for messages
	table   string
	idCol   string
	encCol  string
	binding func(id string) string
}

var sealedColumns = []sealedColumn{
	{"Connect shared secret", "tenants", "id", "shared_secret_enc", sharedSecretBinding},
	{"organization API key", "org_connections", "tenant_id", "api_key_enc", apiKeyBinding},
	{"Forge system token", "forge_system_tokens", "tenant_id", "token_enc", systemTokenBinding},
}

// sealedSample is one stored ciphertext.
type sealedSample struct {
	column *sealedColumn
	ID     string
	Enc    []byte
}

// HoldsSealedSecrets reports whether the database holds any secret sealed
// with an encryption key. Without one, a lost key costs nothing and a new
// one may be generated; with one, a new key would leave every tenant
// unreadable. Tables a not yet migrated database lacks hold nothing.
func (s *Store) HoldsSealedSecrets(ctx context.Context) (bool, error) {
	samples, err := s.sealedSamples(ctx)
	return len(samples) > 0, err
}

// CheckSealedSecrets opens one stored secret per column and per key that
// sealed it (the ciphertext names its key), so a wrong key, or a rotation
// that dropped a key still in use, is found at start-up instead of at the
// first request of each tenant. The error wraps secret.ErrDecrypt and names
// the secret and tenant, never the secret itself.
func (s *Store) CheckSealedSecrets(ctx context.Context) error {
	samples, err := s.sealedSamples(ctx)
	if err != nil {
		return err
	}
	for _, x := range samples {
		if _, err := s.box.Open(x.Enc, x.column.binding(x.ID)); err != nil {
			return fmt.Errorf("store: the %s of tenant %s: %w", x.column.what, x.ID, err)
		}
	}
	return nil
}

// sealedSamples returns, for every sealed column, one row per distinct key
// id (bytes 2-5 of the framed ciphertext; byte 1 is the format version).
// substr and length work on BLOB and bytea alike.
func (s *Store) sealedSamples(ctx context.Context) ([]sealedSample, error) {
	var out []sealedSample
	for i := range sealedColumns {
		c := &sealedColumns[i]
		exists, err := s.hasTable(ctx, c.table)
		if err != nil {
			return nil, err
		}
		if !exists {
			continue
		}
		var ids []string
		q := fmt.Sprintf("SELECT MIN(%[1]s) FROM %[2]s WHERE %[3]s IS NOT NULL AND length(%[3]s) > 0 GROUP BY substr(%[3]s, 1, 5)", c.idCol, c.table, c.encCol)
		if err := s.db.WithContext(ctx).Raw(q).Scan(&ids).Error; err != nil {
			return nil, fmt.Errorf("store: look for sealed secrets in %s: %w", c.table, err)
		}
		for _, id := range ids {
			var enc []byte
			q := fmt.Sprintf("SELECT %s FROM %s WHERE %s = ?", c.encCol, c.table, c.idCol)
			if err := s.db.WithContext(ctx).Raw(q, id).Row().Scan(&enc); err != nil {
				return nil, fmt.Errorf("store: read a sealed secret of %s: %w", c.table, err)
			}
			out = append(out, sealedSample{column: c, ID: id, Enc: enc})
		}
	}
	return out, nil
}

// hasTable reports whether a table exists, with the error GORM's migrator
// would swallow: "cannot tell" must not read as "no secrets here".
func (s *Store) hasTable(ctx context.Context, table string) (bool, error) {
	q := "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	if s.dialect == Postgres {
		q = "SELECT count(*) FROM (SELECT to_regclass(?) AS t) r WHERE r.t IS NOT NULL"
	}
	var n int64
	if err := s.db.WithContext(ctx).Raw(q, table).Row().Scan(&n); err != nil {
		return false, fmt.Errorf("store: look for table %s: %w", table, err)
	}
	return n > 0, nil
}
