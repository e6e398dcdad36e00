package store

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"
)

func TestCanonicalNumber(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in, want string }{
		{"integer", "42", "42"},
		{"zero", "0", "0"},
		{"negative_zero", "-0.0", "0"},
		{"trailing_fraction_zeros", "1.50", "1.5"},
		{"exponent_fraction", "15e-1", "1.5"},
		{"upper_exponent", "1E+3", "1000"},
		{"small", "1e-7", "0.0000001"},
		{"small_fraction", "0.0000001", "0.0000001"},
		{"negative", "-12.340", "-12.34"},
		{"integral_fraction", "100.000", "100"},
		{"large_integer_exact", "9007199254740993", "9007199254740993"},
		{"float_max", "1.7976931348623157e308", "17976931348623157" + zeros(292)},
		{"beyond_plain", "1e999", "1e999"},
		{"absurd_exponent", "1e99999999999", "1e99999999999"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := canonicalNumber(c.in); got != c.want {
				t.Fatalf("canonicalNumber(%s) = %s, want %s", c.in, got, c.want)
			}
		})
	}
}

func zeros(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '0'
	}
	return string(b)
}

// TestCanonicalJSON feeds each value as Go's encoder writes it and as
// PostgreSQL's JSONB prints it back: both must give the same bytes.
func TestCanonicalJSON(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   []string
		want string
	}{
		{"keys_sorted", []string{`{"b":1,"a":2}`, `{"a": 2, "b": 1}`}, `{"a":2,"b":1}`},
		{"jsonb_key_order", []string{`{"stateBefore":"x","eventType":"y","a":1}`, `{"a": 1, "eventType": "y", "stateBefore": "x"}`}, `{"a":1,"eventType":"y","stateBefore":"x"}`},
		{"nested", []string{`{"z":{"y":[3,{"b":null,"a":true}]}}`, `{"z": {"y": [3, {"a": true, "b": null}]}}`}, `{"z":{"y":[3,{"a":true,"b":null}]}}`},
		{"html_and_unicode", []string{`{"s":"\u003c\u0026\u003e é \u00e9"}`, `{"s": "<&> é é"}`}, `{"s":"<&> é é"}`},
		{"escapes", []string{`{"s":"a\"b\\c\n\t\u0001\/"}`, `{"s": "a\"b\\c\n\t\u0001/"}`}, `{"s":"a\"b\\c\n\t\u0001/"}`},
		{"line_separator_literal", []string{`"\u2028"`, "\"\u2028\""}, "\"\u2028\""},
		{"numbers", []string{`[1e-7,1.50,-0,2E2]`, `[0.0000001, 1.50, 0, 200]`}, `[0.0000001,1.5,0,200]`},
		{"duplicate_keys_last_wins", []string{`{"a":1,"a":2}`, `{"a": 2}`}, `{"a":2}`},
		{"null", []string{`null`, ` null `}, `null`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for _, in := range c.in {
				got, _, err := canonicalJSON([]byte(in))
				if err != nil || string(got) != c.want {
					t.Fatalf("canonicalJSON(%s) = %s, %v; want %s", in, got, err, c.want)
				}
			}
		})
	}
	if _, _, err := canonicalJSON([]byte(`{} {}`)); err == nil {
		t.Fatal("trailing data accepted")
	}
}

// TestAuditHash_Encoding pins the documented encoding: an auditor's own
// implementation of it must give this hash.
func TestAuditHash_Encoding(t *testing.T) {
	t.Parallel()
	r := &auditRow{TenantID: "t-1", Seq: 2, OccurredAt: time.Date(2026, 3, 4, 5, 6, 7, 890000000, time.FixedZone("x", 3600)),
		ActorType: "admin", ActorID: "557058:abc", Action: "access.removed", Data: `{"product": "jira", "accountId": "acc-1"}`, PrevHash: "ab"}
	preimage := "lapse-audit-v1\n" +
		"3:t-1\n" + "1:2\n" + "23:2026-03-04T04:06:07.89Z\n" + "5:admin\n" + "10:557058:abc\n" + "14:access.removed\n" +
		`38:{"accountId":"acc-1","product":"jira"}` + "\n" + "2:ab\n"
	sum := sha256.Sum256([]byte(preimage))
	if got, want := auditHash(r), hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("auditHash = %s, want %s", got, want)
	}
}
