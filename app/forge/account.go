package forge

// MaxAccountIDLen is the longest Atlassian account id the REST API schemas
// allow (maxLength 128).
const MaxAccountIDLen = 128

// ValidAccountID reports whether id has the shape of an Atlassian account
// id: 1 to 128 characters from letters, digits, ":", "-" and "_", starting
// with a letter or digit. Real ids look like "5b10ac8d82e05b22cc7d4ef5",
// "557058:<uuid>" or "qm:<uuid>:<uuid>". An id that a request body supplies
// is checked with this before it is recorded anywhere, so markup or control
// characters never reach the audit trail as an actor.
func ValidAccountID(id string) bool {
	if id == "" || len(id) > MaxAccountIDLen || !isAlnum(id[0]) {
		return false
	}
	for i := 1; i < len(id); i++ {
		if c := id[i]; !isAlnum(c) && c != ':' && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
