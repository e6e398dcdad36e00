package forge_test

import (
	"strings"
	"testing"

	"github.com/lapsehq/lapse/app/forge"
)

func TestValidAccountID(t *testing.T) {
	t.Parallel()
	for _, id := range []string{
		"5b10ac8d82e05b22cc7d4ef5",
		"557058:f58131cb-b67d-43c7-b30d-6b58d40bd077",
		"qm:a1b2c3d4-0000-4000-8000-000000000000:e5f6a7b8-0000-4000-8000-000000000000",
		"712020:installer",
		strings.Repeat("a", forge.MaxAccountIDLen),
	} {
		if !forge.ValidAccountID(id) {
			t.Errorf("ValidAccountID(%q) = false, want true", id)
		}
	}
	for _, id := range []string{
		"",
		"<script>alert(1)</script>",
		"557058:abc def",
		"a\nb",
		":leading-colon",
		"-leading-dash",
		"ünïcode",
		"a/b",
		strings.Repeat("a", forge.MaxAccountIDLen+1),
	} {
		if forge.ValidAccountID(id) {
			t.Errorf("ValidAccountID(%q) = true, want false", id)
		}
	}
}
