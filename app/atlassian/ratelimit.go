package atlassian

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RateLimitInfo is what a response says about Atlassian's rate limits
// (DOMAIN.md §3.7, §4.5). Fields whose header is absent or unreadable keep
// their "unknown" value: 0 for durations, limits and times, -1 for Remaining
// (0 remaining is meaningful).
type RateLimitInfo struct {
	// Reason is RateLimit-Reason, e.g. "jira-quota-global-based" or
	// "jira-burst-based"; empty on Admin API responses.
	Reason string
	// RetryAfter is Retry-After (seconds or an HTTP date).
	RetryAfter time.Duration
	// Limit, Remaining and ResetAt come from X-RateLimit-Limit,
	// X-RateLimit-Remaining and X-RateLimit-Reset (ISO-8601 UTC).
	Limit     int64
	Remaining int64
	ResetAt   time.Time
	// NearLimit is X-RateLimit-NearLimit: true when less than 20 % is left.
	NearLimit bool
	// Policies merges RateLimit-Policy (quota, window) and RateLimit
	// (remaining, reset) by policy name, in order of first appearance;
	// policies read from Beta- headers come after and have Beta set.
	Policies []RateLimitPolicy
	// Beta is true when only Beta- forms were present, i.e. the values
	// describe what Atlassian would have enforced, not what it enforces. When
	// both forms are present the enforced one wins for every single-valued
	// field.
	Beta bool
}

// RateLimitPolicy is one entry of the structured RateLimit-Policy / RateLimit
// headers, e.g. `"tenant-app-quota";q=480000;w=3600` merged with
// `"tenant-app-quota";r=1200;t=600`. Remaining and ResetSeconds are -1 when
// the RateLimit header did not carry them (Atlassian sends r only past about
// 80 % use); Quota and Window are 0 when unknown.
type RateLimitPolicy struct {
	Name         string
	Quota        int64
	Window       int64
	Remaining    int64
	ResetSeconds int64
	Beta         bool
}

// Policy returns the first enforced policy called name, or a Beta one when no
// enforced policy has that name.
func (i RateLimitInfo) Policy(name string) (RateLimitPolicy, bool) {
	var beta *RateLimitPolicy
	for k, p := range i.Policies {
		if p.Name != name {
			continue
		}
		if !p.Beta {
			return p, true
		}
		if beta == nil {
			beta = &i.Policies[k]
		}
	}
	if beta != nil {
		return *beta, true
	}
	return RateLimitPolicy{}, false
}

// Header names. Lookups go through http.Header.Values, which canonicalizes.
const (
	hRetryAfter       = "Retry-After"
	hReason           = "RateLimit-Reason"
	hPolicy           = "RateLimit-Policy"
	hRateLimit        = "RateLimit"
	hXLimit           = "X-RateLimit-Limit"
	hXRemaining       = "X-RateLimit-Remaining"
	hXReset           = "X-RateLimit-Reset"
	hXNearLimit       = "X-RateLimit-NearLimit"
	betaPrefix        = "Beta-"
	legacyBetaPrefix  = "X-Beta-"
	maxRetryAfterSecs = 400 * 24 * 3600 // longer values are garbage, not advice
)

// ParseRateLimit reads every rate-limit header form Atlassian sends: enforced,
// Beta- prefixed, the legacy X-Beta-RateLimit-* set, and mixes of them. It is
// lenient: unknown or garbled values are ignored, and it never panics. now
// turns HTTP-date Retry-After values into durations.
func ParseRateLimit(h http.Header, now time.Time) RateLimitInfo {
	info := RateLimitInfo{Remaining: -1}
	var enforced, beta bool
	pick := func(names ...string) (string, bool) {
		for _, n := range names {
			if v := strings.TrimSpace(strings.Join(h.Values(n), ",")); v != "" {
				return v, strings.HasPrefix(n, betaPrefix) || strings.HasPrefix(n, legacyBetaPrefix)
			}
		}
		return "", false
	}
	mark := func(ok, isBeta bool) {
		if ok {
			beta = beta || isBeta
			enforced = enforced || !isBeta
		}
	}

	if v, b := pick(hRetryAfter, betaPrefix+hRetryAfter); v != "" {
		d, ok := parseRetryAfter(v, now)
		info.RetryAfter = d
		mark(ok, b)
	}
	if v, b := pick(hReason, betaPrefix+hReason); v != "" {
		if r := sanitizeToken(v); r != "" {
			info.Reason = r
			mark(true, b)
		}
	}
	if v, b := pick(hXLimit, "X-Beta-RateLimit-Limit"); v != "" {
		n, ok := parseNonNegative(v)
		info.Limit = n
		mark(ok, b)
	}
	if v, b := pick(hXRemaining, "X-Beta-RateLimit-Remaining"); v != "" {
		if n, ok := parseNonNegative(v); ok {
			info.Remaining = n
			mark(true, b)
		}
	}
	if v, b := pick(hXReset, "X-Beta-RateLimit-Reset"); v != "" {
		t, ok := parseResetTime(v, now)
		info.ResetAt = t
		mark(ok, b)
	}
	if v, b := pick(hXNearLimit, "X-Beta-RateLimit-NearLimit"); v != "" {
		near, err := strconv.ParseBool(strings.TrimSpace(v))
		info.NearLimit = err == nil && near
		mark(err == nil, b)
	}

	enforcedPolicies := parsePolicies(h, "", false)
	betaPolicies := parsePolicies(h, betaPrefix, true)
	mark(len(enforcedPolicies) > 0, false)
	mark(len(betaPolicies) > 0, true)
	info.Policies = append(enforcedPolicies, betaPolicies...)

	info.Beta = beta && !enforced
	return info
}

// parsePolicies merges <prefix>RateLimit-Policy and <prefix>RateLimit.
func parsePolicies(h http.Header, prefix string, isBeta bool) []RateLimitPolicy {
	var out []RateLimitPolicy
	index := map[string]int{}
	get := func(name string) *RateLimitPolicy {
		if i, ok := index[name]; ok {
			return &out[i]
		}
		index[name] = len(out)
		out = append(out, RateLimitPolicy{Name: name, Remaining: -1, ResetSeconds: -1, Beta: isBeta})
		return &out[len(out)-1]
	}
	for _, it := range parseSFList(strings.Join(h.Values(prefix+hPolicy), ",")) {
		q, okQ := paramInt(it, "q")
		w, okW := paramInt(it, "w")
		if !okQ && !okW {
			continue
		}
		p := get(it.name)
		if okQ {
			p.Quota = q
		}
		if okW {
			p.Window = w
		}
	}
	for _, it := range parseSFList(strings.Join(h.Values(prefix+hRateLimit), ",")) {
		r, okR := paramInt(it, "r")
		t, okT := paramInt(it, "t")
		if !okR && !okT {
			continue
		}
		p := get(it.name)
		if okR {
			p.Remaining = r
		}
		if okT {
			p.ResetSeconds = t
		}
	}
	return out
}

func paramInt(it sfItem, key string) (int64, bool) {
	v, ok := it.params[key]
	if !ok {
		return 0, false
	}
	return parseNonNegative(v)
}

func parseNonNegative(s string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// parseRetryAfter accepts delta-seconds (Atlassian's form; fractions are
// tolerated) and the HTTP-date form of RFC 9110.
func parseRetryAfter(s string, now time.Time) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || f < 0 || f > maxRetryAfterSecs {
			return 0, false
		}
		return time.Duration(f * float64(time.Second)), true
	}
	t, err := http.ParseTime(s)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d < 0 {
		d = 0
	}
	if d > maxRetryAfterSecs*time.Second {
		return 0, false
	}
	return d, true
}

// resetLayouts are the ISO-8601 shapes X-RateLimit-Reset has been seen in or
// may plausibly use. Layouts without a zone are read as UTC.
var resetLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	http.TimeFormat,
	time.RFC1123Z,
}

// parseResetTime reads X-RateLimit-Reset. Besides ISO-8601 it tolerates the
// two numeric conventions other APIs use: Unix seconds (large numbers) and
// seconds until reset (small numbers).
func parseResetTime(s string, now time.Time) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		switch {
		case n < 0:
			return time.Time{}, false
		case n >= 1_000_000_000 && n < 100_000_000_000:
			return time.Unix(n, 0).UTC(), true
		case n <= maxRetryAfterSecs:
			return now.Add(time.Duration(n) * time.Second).UTC(), true
		}
		return time.Time{}, false
	}
	for _, layout := range resetLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// sanitizeToken keeps a header value that looks like a reason token
// (letters, digits, '-', '_', '.'), bounded, and returns "" otherwise.
func sanitizeToken(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 100 {
		return ""
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return ""
		}
	}
	return s
}

// sfItem is one member of a structured-field list (RFC 8941) with its
// parameters, read leniently: just enough for Atlassian's
// `"name";q=1;w=2, token;r=3` headers.
type sfItem struct {
	name   string
	params map[string]string
}

// parseSFList splits s into list members and parses each. Malformed members
// are skipped; the parser only ever moves forward, so it cannot loop or
// panic on hostile input.
func parseSFList(s string) []sfItem {
	var items []sfItem
	for _, member := range splitOutsideQuotes(s, ',') {
		if it, ok := parseSFItem(member); ok {
			items = append(items, it)
		}
	}
	return items
}

func parseSFItem(member string) (sfItem, bool) {
	parts := splitOutsideQuotes(member, ';')
	if len(parts) == 0 {
		return sfItem{}, false
	}
	name, ok := parseSFName(strings.TrimSpace(parts[0]))
	if !ok {
		return sfItem{}, false
	}
	it := sfItem{name: name, params: map[string]string{}}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if k == "" {
			continue
		}
		if uq, ok := unquote(strings.TrimSpace(v)); ok {
			v = uq
		}
		if _, dup := it.params[k]; !dup { // first occurrence wins
			it.params[k] = strings.TrimSpace(v)
		}
	}
	return it, true
}

// parseSFName accepts a quoted string or a bare token. Tokens containing '='
// are dictionary members of some other header shape, not policy names.
func parseSFName(s string) (string, bool) {
	if strings.HasPrefix(s, `"`) {
		name, ok := unquote(s)
		return name, ok && name != "" && len(name) <= 200
	}
	if s == "" || len(s) > 200 || strings.ContainsAny(s, "= \t\"") {
		return "", false
	}
	return s, true
}

// unquote reads an sf-string: "..." with \" and \\ escapes.
func unquote(s string) (string, bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return "", false
	}
	var b strings.Builder
	body := s[1 : len(s)-1]
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '\\' && i+1 < len(body):
			i++
			b.WriteByte(body[i])
		case c == '"' || c == '\\':
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// splitOutsideQuotes splits s at sep, ignoring separators inside "..." (with
// backslash escapes). Empty parts are dropped.
func splitOutsideQuotes(s string, sep byte) []string {
	var parts []string
	inQuote, start := false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote && c == '\\':
			i++ // skip the escaped byte
		case c == '"':
			inQuote = !inQuote
		case c == sep && !inQuote:
			if p := strings.TrimSpace(s[start:i]); p != "" {
				parts = append(parts, p)
			}
			start = i + 1
		}
	}
	if start <= len(s) {
		if p := strings.TrimSpace(s[start:]); p != "" {
			parts = append(parts, p)
		}
	}
	return parts
}
