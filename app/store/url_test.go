package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/store/storetest"
)

// TestNormalizeURL: the documented forms pass (schemes in any case, rewritten
// to lower case); anything else that looks like a URL is refused with the
// accepted forms and without the password.
func TestNormalizeURL(t *testing.T) {
	t.Parallel()
	ok := map[string]string{
		"postgres://u:p@db/lapse":          "postgres://u:p@db/lapse",
		"postgresql://db/lapse":            "postgresql://db/lapse",
		"Postgres://u:p@db/lapse":          "postgres://u:p@db/lapse",
		"POSTGRESQL://db/lapse":            "postgresql://db/lapse",
		"sqlite://data/lapse.db":           "sqlite://data/lapse.db",
		"SQLite:///var/lib/lapse/lapse.db": "sqlite:///var/lib/lapse/lapse.db",
		"file:data/lapse.db":               "file:data/lapse.db",
		"data/lapse.db":                    "data/lapse.db",
		"/var/lib/lapse/lapse.db":          "/var/lib/lapse/lapse.db",
		"./odd:name.db":                    "./odd:name.db",
		":memory:":                         ":memory:",
	}
	for in, want := range ok {
		got, err := store.NormalizeURL(in)
		if err != nil || got != want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"postgress://u:s3cret-pw@db/lapse",
		"mysql://u:s3cret-pw@db/lapse",
		"mariadb://u:s3cret-pw@db:3306/lapse?tls=true",
		"postgres:u:s3cret-pw@db/lapse", // no "//"
		"sqlite:data/lapse.db",
		"jdbc:postgresql://u:s3cret-pw@db/lapse",
		"host=db user=u password=s3cret-pw dbname=lapse",
		"",
	} {
		_, err := store.NormalizeURL(in)
		if err == nil {
			t.Errorf("NormalizeURL(%q) accepted it", in)
			continue
		}
		if strings.Contains(err.Error(), "s3cret-pw") || !strings.Contains(err.Error(), "postgres://") || !strings.Contains(err.Error(), "sqlite://") {
			t.Errorf("NormalizeURL(%q): %v; want the accepted forms and no password", in, err)
		}
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"postgres://lapse:hunter2@db/lapse":         "postgres://lapse:xxxxx@db/lapse",
		"postgress://u:p%zz@h/db":                   "postgress://u:xxxxx@h/db", // does not parse as a URL
		"postgres://u:p@ss/w@rd@h/db":               "postgres://u:xxxxx@h/db",
		"postgres://db/lapse?password=hunter2&x=1":  "postgres://db/lapse?password=xxxxx&x=1",
		"host=db password='hunter 2' dbname=lapse":  "host=db password=xxxxx dbname=lapse",
		"postgres://lapse@db/lapse?sslmode=disable": "postgres://lapse@db/lapse?sslmode=disable",
		"data/lapse.db":                             "data/lapse.db",
	} {
		if got := store.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestOpen_RefusesBadURLAndDirectory: Open refuses a misspelt scheme without
// creating anything, and names a directory given as the SQLite file.
func TestOpen_RefusesBadURLAndDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// The old behaviour made a SQLite file under ./postgress:/ (the URL
	// read as a relative path); never leave it behind in the package.
	t.Cleanup(func() { _ = os.RemoveAll("postgress:") })
	_, err := store.Open(context.Background(), store.Config{URL: "postgress://u:s3cret-pw@" + dir + "/db", Box: storetest.Box(t)})
	if err == nil || strings.Contains(err.Error(), "s3cret-pw") || !strings.Contains(err.Error(), "not a supported database URL") {
		t.Fatalf("misspelt scheme: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("Open created %v", entries)
	}
	if _, err := os.Stat("postgress:"); err == nil {
		t.Fatal("Open created a folder named after the URL")
	}
	_, err = store.Open(context.Background(), store.Config{URL: dir, Box: storetest.Box(t)})
	if err == nil || !strings.Contains(err.Error(), "is a directory") || !strings.Contains(err.Error(), filepath.Join(dir, "lapse.db")) {
		t.Fatalf("directory: %v", err)
	}
}
