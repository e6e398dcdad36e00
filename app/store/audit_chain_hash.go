package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// auditHashVersion opens every hashed record. A future change to the
// encoding gets a new version string (and a way for rows to say which one
// they use), so old hashes stay verifiable.
const auditHashVersion = "lapse-audit-v1"

// auditHash is the hex SHA-256 that links one event into its tenant's chain.
// It is written for auditors who recompute it from an export, so it is
// deliberately plain:
//
//	"lapse-audit-v1\n"
//	then, for each field in this order,
//	  the field's length in bytes (decimal) ":" the field's bytes "\n"
//	fields: tenant_id, seq (decimal), occurred_at (UTC, RFC 3339 with
//	nanoseconds, trailing zeros dropped: Go's time.RFC3339Nano),
//	actor_type, actor_id, action, data (canonical JSON, see canonicalJSON),
//	prev_hash ("" for seq 1)
//
// Length prefixes make the encoding unambiguous whatever the fields contain.
// target_account_id and id are not covered: the first is derived from data
// (verification checks it), the second is the database's own counter.
func auditHash(r *auditRow) string {
	canon, _ := canonicalData([]byte(r.Data))
	h := sha256.New()
	io.WriteString(h, auditHashVersion+"\n")
	for _, f := range []string{
		r.TenantID,
		strconv.FormatInt(r.Seq, 10),
		r.OccurredAt.UTC().Format(time.RFC3339Nano),
		r.ActorType,
		r.ActorID,
		r.Action,
		string(canon),
		r.PrevHash,
	} {
		fmt.Fprintf(h, "%d:%s\n", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// canonicalData returns the canonical form of a stored data column and its
// decoded value. Text that is not JSON (only possible by editing an SQLite
// file by hand) is returned as it is, so that it still hashes
// deterministically and the edit shows up as a hash mismatch.
func canonicalData(raw []byte) ([]byte, any) {
	canon, v, err := canonicalJSON(raw)
	if err != nil {
		return raw, nil
	}
	return canon, v
}

// canonicalJSON re-encodes a JSON value so that equal values give equal
// bytes on both databases. PostgreSQL's JSONB does not keep the text it was
// given: it sorts keys (by length, then bytes), drops duplicate keys (the
// last wins), changes whitespace and string escapes, and prints numbers in
// plain decimal (1e-7 becomes 0.0000001). The canonical form is RFC 8785
// (JCS) for objects and strings: no insignificant whitespace, object keys
// sorted by their UTF-8 bytes, strings escaping only '"', '\' and control
// characters (\b \t \n \f \r, else \u00xx), everything else literal UTF-8.
// Numbers differ from JCS, which goes through float64 and would merge
// distinct large integers: they are exact decimals without exponent,
// leading zeros or trailing fractional zeros, and -0 is 0 (canonicalNumber).
func canonicalJSON(raw []byte) ([]byte, any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, nil, errors.New("canonical json: data after the value")
	}
	var b bytes.Buffer
	writeCanonical(&b, v)
	return b.Bytes(), v, nil
}

func writeCanonical(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case json.Number:
		b.WriteString(canonicalNumber(string(v)))
	case string:
		writeCanonicalString(b, v)
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanonical(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		b.WriteByte('{')
		for i, k := range slices.Sorted(maps.Keys(v)) {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanonicalString(b, k)
			b.WriteByte(':')
			writeCanonical(b, v[k])
		}
		b.WriteByte('}')
	}
}

func writeCanonicalString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(b, `\u%04x`, r)
			} else {
				b.WriteRune(r) // the decoder already turned invalid UTF-8 into U+FFFD
			}
		}
	}
	b.WriteByte('"')
}

// maxPlainExponent bounds how many zeros canonicalNumber writes out; past
// it (never reached by values Lapse writes, which fit a float64) the number
// keeps an exponent, which is still one canonical form per value.
const maxPlainExponent = 400

// canonicalNumber writes a valid JSON number as an exact, plain decimal:
// "1.50" and "15e-1" both become "1.5", "1E+3" becomes "1000", "-0.0"
// becomes "0". It never goes through float64, so no two values collide.
func canonicalNumber(text string) string {
	neg := strings.HasPrefix(text, "-")
	s := strings.TrimPrefix(text, "-")
	mant, expText, _ := strings.Cut(strings.ToLower(s), "e")
	exp, err := strconv.ParseInt(expText, 10, 32)
	if expText == "" {
		exp, err = 0, nil
	}
	if err != nil {
		return text // an absurd exponent: keep the text, still deterministic
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	exp -= int64(len(frac))
	if digits == "" {
		return "0"
	}
	for strings.HasSuffix(digits, "0") {
		digits = digits[:len(digits)-1]
		exp++
	}
	var out string
	switch k := int(-exp); {
	case exp > maxPlainExponent || -exp > maxPlainExponent:
		out = digits + "e" + strconv.FormatInt(exp, 10)
	case exp >= 0:
		out = digits + strings.Repeat("0", int(exp))
	case len(digits) > k:
		out = digits[:len(digits)-k] + "." + digits[len(digits)-k:]
	default:
		out = "0." + strings.Repeat("0", k-len(digits)) + digits
	}
	if neg {
		out = "-" + out
	}
	return out
}

// accountIDOf returns data.accountId when data is an object holding it as a
// string: the account an event is about, kept in target_account_id.
func accountIDOf(v any) string {
	if m, ok := v.(map[string]any); ok {
		if id, ok := m["accountId"].(string); ok {
			return id
		}
	}
	return ""
}
