package web

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lapsehq/lapse/app"
)

// maxAPIBody bounds JSON API request bodies. A policy with long exemption
// lists is a few tens of KiB.
const maxAPIBody = 256 << 10

// readStrictJSON decodes a JSON API body into v, refusing unknown fields
// (a misspelt policy field must not be silently dropped), trailing data
// and wrong types, each with a message that names the problem. An empty
// body is refused: every JSON API write needs one.
func readStrictJSON(c *gin.Context, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxAPIBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return app.Errorf(codeTooLarge, "request body is too large (at most %d KiB)", maxAPIBody>>10)
	} else if err != nil {
		return app.Errorf(app.EINVALID, "could not read the request body")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return app.Errorf(app.EINVALID, "a JSON request body is required")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return app.Errorf(app.EINVALID, "request body must hold one JSON object and nothing after it")
	}
	return nil
}

// jsonError turns a decoding error into a client error that says where.
func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return app.Errorf(app.EINVALID, "request body: %s must be %s, not %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &typeErr):
		return app.Errorf(app.EINVALID, "request body must be a JSON object")
	case errors.As(err, &syntaxErr):
		return app.Errorf(app.EINVALID, "request body is not valid JSON (at byte %d)", syntaxErr.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return app.Errorf(app.EINVALID, "request body has an unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return app.Errorf(app.EINVALID, "request body is not valid JSON")
}

func jsonKind(kind string) string {
	switch kind {
	case "int", "int64", "int32", "float64", "float32", "uint", "uint64":
		return "a number"
	case "bool":
		return "true or false"
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return "of another type"
}

// queryLimit reads the limit parameter: def when absent, otherwise an
// integer from 1 to max.
func queryLimit(c *gin.Context, def, max int) (int, error) {
	raw, ok := c.GetQuery("limit")
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > max {
		return 0, app.Errorf(app.EINVALID, "limit must be an integer from 1 to %d", max)
	}
	return n, nil
}

// queryTime reads an optional time parameter: RFC 3339 (2026-03-01T00:00:00Z)
// or a date (2026-03-01, midnight UTC).
func queryTime(c *gin.Context, name string) (*time.Time, error) {
	raw := c.Query(name)
	if raw == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, raw); err == nil {
		t = t.UTC()
		return &t, nil
	}
	if t, err := time.Parse(time.DateOnly, raw); err == nil {
		return &t, nil
	}
	return nil, app.Errorf(app.EINVALID, "%s must be an RFC 3339 time (2026-03-01T00:00:00Z) or a date (2026-03-01)", name)
}

// queryList reads a parameter that may repeat or hold comma-separated
// values.
func queryList(c *gin.Context, name string) []string {
	var out []string
	for _, v := range c.QueryArray(name) {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// validToken reports whether s is a short printable identifier: no
// spaces, no control characters, at most max bytes.
func validToken(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// encodeCursor and decodeCursor make opaque page cursors: base64url JSON,
// so clients treat them as tokens, not as values to compute.
func encodeCursor(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(raw string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(raw) > 1024 || json.Unmarshal(b, v) != nil {
		return app.Errorf(app.EINVALID, "after must be a cursor returned as next by this route")
	}
	return nil
}

// parseID reads a positive integer path parameter.
func parseID(c *gin.Context, name, what string) (int64, error) {
	n, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || n < 1 {
		return 0, app.Errorf(app.EINVALID, "%s must be a positive integer", what)
	}
	return n, nil
}

// etag quotes a version for ETag and If-Match.
func etag(version int) string { return fmt.Sprintf(`"%d"`, version) }

// parseIfMatch reads If-Match: a quoted (or bare) version number.
func parseIfMatch(h string) (int, bool, error) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false, nil
	}
	v := strings.Trim(strings.TrimPrefix(h, "W/"), `"`)
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false, app.Errorf(app.EINVALID, `If-Match must be the policy's ETag, a quoted version such as "3"`)
	}
	return n, true, nil
}

// problemsError joins every problem found into one EINVALID error, so a
// client fixes them all in one round trip; nil when there are none.
func problemsError(prefix string, problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return app.Errorf(app.EINVALID, "%s: %s", prefix, strings.Join(problems, "; "))
}
