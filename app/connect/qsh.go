package connect

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"
)

// ContextQSH is the literal qsh claim of context JWTs (obtained in the browser
// with AP.context.getToken). Such tokens are not bound to a URL, so they are
// accepted only by endpoints that ask for QSHContext, and refused everywhere
// else (PLATFORM §3.5).
const ContextQSH = "context-qsh"

// CanonicalRequest returns the Connect canonical request
// METHOD&CANONICAL_URI&CANONICAL_QUERY (PLATFORM §4.1).
//
// path is the request path as the receiver sees it, decoded (r.URL.Path):
// Atlassian hashes the decoded path, which is why GH4J decodes before hashing.
// basePath is the path prefix of the receiver that the signer cannot know
// about and that is stripped first: the path of the app's descriptor baseUrl
// for requests to the app, or the product context path ("/wiki") for requests
// to the product; "" for none. rawQuery is the undecoded query (r.URL.RawQuery);
// the jwt parameter is ignored.
func CanonicalRequest(method, path, rawQuery, basePath string) string {
	return canonicalMethod(method) + "&" + canonicalURI(path, basePath) + "&" + canonicalQuery(rawQuery)
}

// QueryStringHash returns the qsh claim for a request: the lower-case hex
// SHA-256 of CanonicalRequest.
func QueryStringHash(method, path, rawQuery, basePath string) string {
	sum := sha256.Sum256([]byte(CanonicalRequest(method, path, rawQuery, basePath)))
	return hex.EncodeToString(sum[:])
}

// RequestQSH returns the qsh of an incoming request, stripping basePath from
// its path first (see CanonicalRequest).
func RequestQSH(r *http.Request, basePath string) string {
	return QueryStringHash(r.Method, r.URL.Path, r.URL.RawQuery, basePath)
}

// acceptedQSHs returns every qsh an Atlassian signer may have computed for r:
// one, or two when the JavaScript and Java libraries order its parameter
// names differently (see canonicalQueries).
func acceptedQSHs(r *http.Request, basePath string) []string {
	if !isASCIIQuery(r.URL.RawQuery) {
		return nil
	}
	prefix := canonicalMethod(r.Method) + "&" + canonicalURI(r.URL.Path, basePath) + "&"
	var out []string
	for _, q := range canonicalQueries(r.URL.RawQuery) {
		sum := sha256.Sum256([]byte(prefix + q))
		out = append(out, hex.EncodeToString(sum[:]))
	}
	return out
}

// isASCIIQuery reports whether a raw query holds only printable ASCII.
// Signers and browsers percent-encode everything else; a raw byte above
// 0x7F means different text to different stacks (Latin-1 in Node's HTTP
// server, UTF-8 in Java's), so a token cannot say which request it signed.
func isASCIIQuery(rawQuery string) bool {
	for i := 0; i < len(rawQuery); i++ {
		if c := rawQuery[i]; c <= ' ' || c >= 0x7F {
			return false
		}
	}
	return true
}

// canonicalMethod upper-cases the method; "" means GET, as in net/http.
func canonicalMethod(method string) string {
	if method == "" {
		return http.MethodGet
	}
	return strings.ToUpper(method)
}

// canonicalURI strips basePath, normalises the leading and trailing slash and
// escapes "&". Nothing else is re-encoded: the reference implementations only
// touch "&", because a raw "&" would let "/a&x=y?z" collide with "/a?x=y&z".
func canonicalURI(path, basePath string) string {
	path = stripBasePath(path, basePath)
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	return strings.ReplaceAll(path, "&", "%26")
}

// stripBasePath removes basePath from the front of path when path is that
// base or lies below it. The match is on whole segments so that base "/wiki"
// does not eat the front of "/wikipedia".
func stripBasePath(path, basePath string) string {
	base := strings.TrimSuffix(basePath, "/")
	if base == "" {
		return path
	}
	if !strings.HasPrefix(base, "/") {
		base = "/" + base
	}
	if path == base || strings.HasPrefix(path, base+"/") {
		return path[len(base):]
	}
	return path
}

// canonicalQuery returns the canonical query string in atlassian-jwt's
// (JavaScript) parameter order; see canonicalQueries.
func canonicalQuery(rawQuery string) string {
	return canonicalQueries(rawQuery)[0]
}

// canonicalQueries returns the canonical query string as Atlassian's two
// reference implementations build it: first atlassian-jwt (JS), then the
// Java atlassian-jwt the products sign with; the second is returned only
// when it differs.
//
// Both decode names and values, sort the values of a repeated name and
// re-encode everything with RFC 3986 rules. Both compare strings by UTF-16
// code unit (JavaScript's default sort, Java's String.compareTo), which is
// not Go's byte order: U+1F600 (surrogates D83D DE00) sorts before U+FF41
// in UTF-16 but after it in UTF-8. They differ in how they order names: JS
// sorts the decoded names, Java the percent-encoded ones ("a-" comes before
// "a/" decoded, after "a%2F" encoded). The two forms list the same encoded
// parameters, so accepting either never lets one request stand for another.
func canonicalQueries(rawQuery string) []string {
	params := parseQuery(rawQuery)
	delete(params, "jwt")
	for _, values := range params {
		slices.SortFunc(values, compareUTF16)
	}
	names := slices.Collect(maps.Keys(params))

	// JS: lodash copies the parsed query into a plain object, where a
	// "__proto__" name is swallowed, and the library skips it explicitly.
	jsNames := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == "__proto__" })
	slices.SortFunc(jsNames, compareUTF16)
	js := joinParams(params, jsNames)

	// Java: names are compared in their percent-encoded form.
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(percentEncode(a), percentEncode(b)) })
	if java := joinParams(params, names); java != js {
		return []string{js, java}
	}
	return []string{js}
}

// joinParams renders name=v1,v2 pairs in the given name order.
func joinParams(params map[string][]string, names []string) string {
	var b strings.Builder
	for i, name := range names {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(percentEncode(name))
		b.WriteByte('=')
		for j, v := range params[name] {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(percentEncode(v))
		}
	}
	return b.String()
}

// compareUTF16 orders valid UTF-8 strings as their UTF-16 encodings compare
// code unit by code unit, the order of JavaScript's Array.prototype.sort and
// Java's String.compareTo. Only runes above U+FFFF compare differently from
// Go's byte order: their first unit is a surrogate (D800–DBFF), which sorts
// below U+E000–U+FFFF.
func compareUTF16(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			if ua, ub := firstUTF16Unit(ra), firstUTF16Unit(rb); ua != ub {
				return cmp.Compare(ua, ub)
			}
			// Same high surrogate: the low surrogates follow code point order.
			return cmp.Compare(ra, rb)
		}
		a, b = a[na:], b[nb:]
	}
	return cmp.Compare(len(a), len(b))
}

func firstUTF16Unit(r rune) rune {
	if r < 0x10000 {
		return r
	}
	return 0xD800 + (r-0x10000)>>10
}

// parseQuery splits a raw query on "&" only and decodes names and values
// leniently. It deliberately does not use url.ParseQuery: that rejects ";"
// and bad escapes and drops the pair, while the signer (Node's querystring,
// Java servlets) keeps them, and a dropped pair would silently change the hash.
func parseQuery(rawQuery string) map[string][]string {
	params := make(map[string][]string)
	for pair := range strings.SplitSeq(rawQuery, "&") {
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		name = formUnescape(name)
		params[name] = append(params[name], formUnescape(value))
	}
	return params
}

// formUnescape decodes "+" as a space and %XX escapes, keeping a "%" that is
// not followed by two hex digits as is (the behaviour of Node's
// querystring.unescapeBuffer).
func formUnescape(s string) string {
	if !strings.ContainsAny(s, "+%") && utf8.ValidString(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return toWellFormedUTF8(b)
}

// toWellFormedUTF8 decodes b as the WHATWG Encoding Standard does (Node's
// Buffer.toString, which querystring falls back to when a value is not
// valid UTF-8): each maximal invalid subpart becomes one U+FFFD. Go's own
// strings.ToValidUTF8 merges runs and utf8.DecodeRune splits truncated
// sequences, and either would hash "%E2%82" differently from the signer.
func toWellFormedUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	const replacement = "\uFFFD"
	var out strings.Builder
	for i := 0; i < len(b); {
		n := validPrefixLen(b[i:])
		if n > 0 {
			out.Write(b[i : i+n])
			i += n
			continue
		}
		out.WriteString(replacement)
		i += maximalSubpartLen(b[i:])
	}
	return out.String()
}

// validPrefixLen returns the length of the complete, valid UTF-8 sequence at
// the start of b, or 0.
func validPrefixLen(b []byte) int {
	r, n := utf8.DecodeRune(b)
	if r == utf8.RuneError && n <= 1 {
		return 0
	}
	return n
}

// maximalSubpartLen returns how many bytes of the invalid sequence at the
// start of b the WHATWG decoder consumes for one U+FFFD: a lead byte and the
// continuation bytes that were still acceptable when the sequence broke off.
func maximalSubpartLen(b []byte) int {
	lead := b[0]
	need, lower, upper := 0, byte(0x80), byte(0xBF)
	switch {
	case 0xC2 <= lead && lead <= 0xDF:
		need = 1
	case 0xE0 <= lead && lead <= 0xEF:
		need = 2
		if lead == 0xE0 {
			lower = 0xA0
		} else if lead == 0xED {
			upper = 0x9F
		}
	case 0xF0 <= lead && lead <= 0xF4:
		need = 3
		if lead == 0xF0 {
			lower = 0x90
		} else if lead == 0xF4 {
			upper = 0x8F
		}
	default:
		return 1
	}
	n := 1
	for ; n <= need && n < len(b); n++ {
		if b[n] < lower || b[n] > upper {
			break
		}
		lower, upper = 0x80, 0xBF
	}
	return n
}

// percentEncode applies RFC 3986 encoding to every byte outside the
// unreserved set, with upper-case hex: space is %20 (never "+"), "*" is %2A,
// "~" stays.
func percentEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0x0f])
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
