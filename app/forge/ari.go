package forge

import (
	"fmt"
	"strings"
)

const (
	// AppARIPrefix prefixes an app UUID to form the app ARI that FITs carry
	// in aud and app.id.
	AppARIPrefix = "ari:cloud:ecosystem::app/"
	// InstallationARIPrefix is the prefix some sources put in front of an
	// installation UUID.
	InstallationARIPrefix = "ari:cloud:ecosystem::installation/"
)

// AppARI returns the app ARI for appID, which may be a bare UUID (as in the
// Developer Console) or already an ARI. Like ACE, it prefixes a bare UUID so
// both configuration styles produce the audience FITs are issued for.
// Anything else is an error, because a typo would otherwise refuse every
// invocation with an audience mismatch that is hard to diagnose.
func AppARI(appID string) (string, error) {
	id := strings.TrimPrefix(strings.TrimSpace(appID), AppARIPrefix)
	if !isUUID(id) {
		return "", fmt.Errorf("forge app id %q: want a UUID or %s<uuid>", appID, AppARIPrefix)
	}
	return AppARIPrefix + id, nil
}

// NormalizeInstallationID strips the installation ARI prefix and surrounding
// space. The installation id shows up both bare and as an ARI across sources
// (PLATFORM.md §7.2), so storage keys and joins with Connect data must use
// one form: the bare one.
func NormalizeInstallationID(id string) string {
	return strings.TrimPrefix(strings.TrimSpace(id), InstallationARIPrefix)
}

// isUUID reports whether s has the canonical 8-4-4-4-12 hex form.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

func isHex(c rune) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}
