package connect

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"net/http"
	"slices"
	"strings"
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

// canonicalQuery sorts parameters by decoded name, sorts each parameter's
// decoded values, and re-encodes both with RFC 3986 rules. Sorting values
// (not keeping arrival order) follows atlassian-jwt JS and Atlassian's Java
// ComparableParameter, which is what the products sign with.
func canonicalQuery(rawQuery string) string {
	params := parseQuery(rawQuery)
	delete(params, "jwt")

	var b strings.Builder
	for i, name := range slices.Sorted(maps.Keys(params)) {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(percentEncode(name))
		b.WriteByte('=')
		values := params[name]
		slices.Sort(values)
		for j, v := range values {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(percentEncode(v))
		}
	}
	return b.String()
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
	if !strings.ContainsAny(s, "+%") {
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
	return string(b)
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
