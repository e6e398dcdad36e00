package store

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// AcceptedURLForms names the database URLs Lapse understands, for error
// messages that have to say what to write instead.
const AcceptedURLForms = "postgres://user:password@host:5432/db (or postgresql://…) for PostgreSQL; " +
	"sqlite://path, file:path or a plain file path for the embedded SQLite"

// A scheme is a letter followed by letters, digits, '+', '-' or '.', then a
// colon (RFC 3986 §3.1). A plain path starting so ("data/lapse.db") cannot
// match, because '/' ends the candidate scheme.
var urlScheme = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*):`)

// libpq's keyword/value form ("host=db user=lapse password=…") is no path
// either: treated as one it would name a SQLite file after the password.
var keywordDSN = regexp.MustCompile(`(?i)(^|\s)(host|hostaddr|port|dbname|user|password|sslmode)\s*=`)

// NormalizeURL checks a database URL against the documented forms and
// returns it with its scheme in lower case. Schemes are case-insensitive
// (RFC 3986 §3.1) but the PostgreSQL driver only recognises lower case, so
// POSTGRES://… is accepted and rewritten. Anything else that looks like a
// URL (postgress://, mysql://, sqlite:path) is refused: taken as a path it
// would start an empty SQLite database in a folder named after the URL. The
// error never repeats a password.
func NormalizeURL(raw string) (string, error) {
	if strings.TrimSpace(raw) == "" {
		return "", errors.New("the database URL is empty; use " + AcceptedURLForms)
	}
	m := urlScheme.FindStringSubmatch(raw)
	if m == nil {
		if keywordDSN.MatchString(raw) {
			return "", fmt.Errorf("%q looks like a PostgreSQL keyword/value connection string, which is not supported; use %s", RedactURL(raw), AcceptedURLForms)
		}
		return raw, nil
	}
	scheme, rest := strings.ToLower(m[1]), raw[len(m[0]):]
	switch {
	case (scheme == "postgres" || scheme == "postgresql" || scheme == "sqlite") && strings.HasPrefix(rest, "//"):
		return scheme + ":" + rest, nil
	case scheme == "file":
		return scheme + ":" + rest, nil
	}
	return "", fmt.Errorf("%q is not a supported database URL (scheme %q); use %s (a file path that contains ':' can be written ./path)", RedactURL(raw), m[1]+":", AcceptedURLForms)
}

// SQLitePath returns the file a SQLite database URL names.
func SQLitePath(url string) string {
	path := url
	for _, prefix := range []string{"sqlite://", "file:"} {
		if len(path) >= len(prefix) && strings.EqualFold(path[:len(prefix)], prefix) {
			path = path[len(prefix):]
			break
		}
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	return path
}

var passwordParam = regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|[^&\s]*)`)

// RedactURL hides the password of a database URL, for log lines and error
// messages, also when the URL does not parse: everything between the first
// ':' after "scheme://" and the last '@' is masked (masking too much is
// harmless, too little is not), and so is a password=… parameter. Without
// "//" the user information is taken to start after "scheme:".
func RedactURL(raw string) string {
	out, start := raw, -1
	if i := strings.Index(raw, "://"); i >= 0 {
		start = i + len("://")
	} else if m := urlScheme.FindString(raw); m != "" {
		start = len(m) // "scheme:user:password@host"
	}
	if start >= 0 {
		rest := raw[start:]
		if at := strings.LastIndexByte(rest, '@'); at >= 0 {
			if c := strings.IndexByte(rest[:at], ':'); c >= 0 {
				out = raw[:start] + rest[:c] + ":xxxxx@" + rest[at+1:]
			}
		}
	}
	return passwordParam.ReplaceAllString(out, "${1}xxxxx")
}
