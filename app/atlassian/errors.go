package atlassian

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// APIError is a non-2xx answer other than a 429 (and other than a 503 that
// could still be retried). Messages come from the error body, bounded and
// scrubbed of the request's credentials.
type APIError struct {
	Status    int
	Endpoint  string
	RequestID string   // Atlassian's Atl-Traceid or X-Request-Id
	Messages  []string // errorMessages, field errors, message, title/detail
	Code      string   // Admin API / Confluence v2 error code, when present
}

// Error implements the error interface.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "atlassian: %s: status %d", e.Endpoint, e.Status)
	if t := http.StatusText(e.Status); t != "" {
		b.WriteString(" " + t)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " (code %s)", e.Code)
	}
	if len(e.Messages) > 0 {
		b.WriteString(": " + strings.Join(e.Messages, "; "))
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request id %s]", e.RequestID)
	}
	return b.String()
}

// RateLimitError is a 429 (or an endpoint still slowed by one) that could not
// be waited out within Config.MaxWait and the retry policy. The caller, or
// the scheduler, should try again at ResetAt.
type RateLimitError struct {
	Endpoint   string
	Reason     string        // RateLimit-Reason, "" for the Admin API
	Scope      string        // the budget scope that was paused, if any
	RetryAfter time.Duration // how long Atlassian asked to wait
	ResetAt    time.Time     // when a new attempt may succeed
}

// Error implements the error interface.
func (e *RateLimitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "atlassian: %s: rate limited", e.Endpoint)
	if e.Reason != "" {
		fmt.Fprintf(&b, " (%s)", e.Reason)
	}
	if e.Scope != "" {
		fmt.Fprintf(&b, ", scope %q paused", e.Scope)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, ", retry after %s", e.RetryAfter)
	}
	if !e.ResetAt.IsZero() {
		fmt.Fprintf(&b, " (at %s)", e.ResetAt.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// UnknownOutcomeError reports that a non-idempotent request may or may not
// have been processed: it was sent, and the answer was lost (timeout,
// connection reset) or was a 5xx that does not promise the request was
// ignored. The caller must read state back before deciding to repeat it.
type UnknownOutcomeError struct {
	Endpoint string
	Err      error
}

// Error implements the error interface.
func (e *UnknownOutcomeError) Error() string {
	return fmt.Sprintf("atlassian: %s: outcome unknown, read state back before repeating: %v", e.Endpoint, e.Err)
}

// Unwrap returns the cause, e.g. an *APIError or context.DeadlineExceeded.
func (e *UnknownOutcomeError) Unwrap() error { return e.Err }

// IsNotFound reports whether err is, or wraps, an *APIError with status 404.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// RetryAt returns when work that failed with err can be tried again: the
// ResetAt of a *BudgetError or *RateLimitError in err's chain. ok is false
// for other errors and for a BudgetError that waiting cannot fix.
func RetryAt(err error) (at time.Time, ok bool) {
	var be *BudgetError
	if errors.As(err, &be) {
		return be.ResetAt, !be.ResetAt.IsZero()
	}
	var re *RateLimitError
	if errors.As(err, &re) {
		return re.ResetAt, !re.ResetAt.IsZero()
	}
	return time.Time{}, false
}

// Bounds for what an error body may contribute to an APIError.
const (
	maxMessages     = 10
	maxMessageBytes = 300
	maxCodeBytes    = 100
)

// errorBody covers the three shapes Atlassian uses:
//
//	Jira, Confluence v1: {"errorMessages":[...],"errors":{"field":"msg"}}
//	Confluence v1:       {"statusCode":404,"message":"..."}
//	Admin API:           {"code":"...","message":"..."} or
//	Admin, Confluence v2: {"errors":[{"id","status","code","title","detail"}]}
type errorBody struct {
	ErrorMessages []string        `json:"errorMessages"`
	Errors        json.RawMessage `json:"errors"`
	Message       json.RawMessage `json:"message"`
	Code          json.RawMessage `json:"code"`
}

type errorItem struct {
	Code   json.RawMessage `json:"code"`
	Title  string          `json:"title"`
	Detail string          `json:"detail"`
}

// parseErrorBody extracts messages and a code; scrub removes credentials.
// Bodies that are not JSON contribute only when they are short plain text.
func parseErrorBody(body []byte, contentType string, scrub func(string) string) (messages []string, code string) {
	add := func(s string) {
		if s = cleanMessage(scrub(s)); s != "" && len(messages) < maxMessages {
			messages = append(messages, s)
		}
	}
	trimmed := bytes.TrimSpace(body)
	var eb errorBody
	if len(trimmed) == 0 || trimmed[0] != '{' || json.Unmarshal(trimmed, &eb) != nil {
		if strings.HasPrefix(strings.ToLower(contentType), "text/plain") {
			add(string(trimmed))
		}
		return messages, ""
	}
	for _, m := range eb.ErrorMessages {
		add(m)
	}
	code = rawString(eb.Code)
	add(rawString(eb.Message))
	switch t := bytes.TrimSpace(eb.Errors); {
	case len(t) > 0 && t[0] == '{':
		var fields map[string]string
		if json.Unmarshal(t, &fields) == nil {
			keys := make([]string, 0, len(fields))
			for k := range fields {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				add(k + ": " + fields[k])
			}
		}
	case len(t) > 0 && t[0] == '[':
		var items []errorItem
		if json.Unmarshal(t, &items) == nil {
			for _, it := range items {
				add(joinNonEmpty(": ", it.Title, it.Detail))
				if code == "" {
					code = rawString(it.Code)
				}
			}
		}
	}
	return messages, cleanCode(scrub(code))
}

// rawString renders a JSON string or number; other JSON values yield "".
func rawString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

func joinNonEmpty(sep string, parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, sep)
}

// cleanMessage collapses whitespace, drops control characters and bounds the
// length, so a hostile or huge body cannot forge log lines or flood them.
func cleanMessage(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == utf8.RuneError:
			return -1
		case unicode.IsSpace(r):
			return ' '
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	return truncate(s, maxMessageBytes)
}

func cleanCode(s string) string { return truncate(cleanMessage(s), maxCodeBytes) }

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
