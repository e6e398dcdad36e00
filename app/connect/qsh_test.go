package connect_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/lapsehq/lapse/app/connect"
)

// qshVector is one row of testdata/qsh_vectors.json. Rows give either a full
// url or a path and raw query (for inputs url.Parse would not accept, such as
// raw spaces).
type qshVector struct {
	Name      string `json:"name"`
	Method    string `json:"method"`
	URL       string `json:"url"`
	Path      string `json:"path"`
	Query     string `json:"query"`
	BasePath  string `json:"basePath"`
	Canonical string `json:"canonical"`
	QSH       string `json:"qsh"`
}

func loadQSHVectors(t *testing.T) []qshVector {
	t.Helper()
	var file struct {
		Vectors []qshVector `json:"vectors"`
	}
	loadJSON(t, "qsh_vectors.json", &file)
	if len(file.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	return file.Vectors
}

// pathAndQuery returns the decoded path and raw query of the vector.
func (v qshVector) pathAndQuery(t *testing.T) (string, string) {
	t.Helper()
	if v.URL == "" {
		return v.Path, v.Query
	}
	u, err := url.Parse(v.URL)
	if err != nil {
		t.Fatalf("parse %q: %v", v.URL, err)
	}
	return u.Path, u.RawQuery
}

func (v qshVector) method() string {
	if v.Method == "" {
		return http.MethodGet
	}
	return v.Method
}

func TestCanonicalRequest_Vectors(t *testing.T) {
	t.Parallel()
	for _, tc := range loadQSHVectors(t) {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			path, query := tc.pathAndQuery(t)
			if got := connect.CanonicalRequest(tc.method(), path, query, tc.BasePath); got != tc.Canonical {
				t.Errorf("CanonicalRequest() = %q, want %q", got, tc.Canonical)
			}
		})
	}
}

func TestQueryStringHash_Vectors(t *testing.T) {
	t.Parallel()
	for _, tc := range loadQSHVectors(t) {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			// Rows without a published qsh still pin the hash to the canonical
			// string, which is itself checked above.
			want := tc.QSH
			if want == "" {
				sum := sha256.Sum256([]byte(tc.Canonical))
				want = hex.EncodeToString(sum[:])
			}
			path, query := tc.pathAndQuery(t)
			if got := connect.QueryStringHash(tc.method(), path, query, tc.BasePath); got != want {
				t.Errorf("QueryStringHash() = %s, want %s", got, want)
			}
			r := &http.Request{Method: tc.method(), URL: &url.URL{Path: path, RawQuery: query}}
			if got := connect.RequestQSH(r, tc.BasePath); got != want {
				t.Errorf("RequestQSH() = %s, want %s", got, want)
			}
		})
	}
}

// TestRequestQSH_ServerRequest feeds URLs through httptest.NewRequest, the
// way a handler sees them, to pin that the decoded r.URL.Path is hashed.
func TestRequestQSH_ServerRequest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, method, target, basePath, canonical string
	}{
		{"golden_stack", "GET", "https://example.atlassian.net/rest/api/3/issue/TEST-1?expand=names,renderedFields&fields=summary", "", "GET&/rest/api/3/issue/TEST-1&expand=names%2CrenderedFields&fields=summary"},
		{"encoded_path_is_hashed_decoded", "GET", "/page/a%20b?x=1", "", "GET&/page/a b&x=1"},
		{"installed_with_base_path", "POST", "/base/installed", "/base", "POST&/installed&"},
		{"jwt_query_param_ignored", "GET", "/test?param=value&jwt=abc.def.ghi", "", "GET&/test&param=value"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRequest(tc.method, tc.target)
			sum := sha256.Sum256([]byte(tc.canonical))
			if got, want := connect.RequestQSH(r, tc.basePath), hex.EncodeToString(sum[:]); got != want {
				t.Errorf("RequestQSH() = %s, want sha256(%q) = %s", got, tc.canonical, want)
			}
		})
	}
}

// TestVerifyHS256_AtlassianOrder pins query strings on which Go's byte order
// and Atlassian's UTF-16 order disagree. Canonical strings and qsh values are
// the output of atlassian-jwt 2.0.3 (createCanonicalRequest and
// createQueryStringHash over fromMethodAndUrl("GET", url)); the Java rows
// follow com.atlassian.jwt.core.HttpRequestCanonicalizer, which sorts names
// by their percent-encoded form. Each token must verify against its URL.
func TestVerifyHS256_AtlassianOrder(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, target, canonical, qsh string
	}{
		// U+FF41 is EF BD 81 in UTF-8, U+1F600 is F0 9F 98 80: bytes put
		// U+FF41 first, UTF-16 (FF41 vs D83D) puts the emoji first.
		{"repeated_values_supplementary_plane", "/test?v=%EF%BD%81&v=%F0%9F%98%80",
			"GET&/test&v=%F0%9F%98%80,%EF%BD%81", "b5d5f1b232450b33c74d16a11357868a4bab3fc133635ed4202d39251ec999e2"},
		{"names_supplementary_plane_js", "/test?%EF%BD%81=1&%F0%9F%98%80=2",
			"GET&/test&%F0%9F%98%80=2&%EF%BD%81=1", "e12c4ff04876d1d726cbbc33135780487627fbd4afa310374b957a6c3710841d"},
		{"names_supplementary_plane_java", "/test?%EF%BD%81=1&%F0%9F%98%80=2",
			"GET&/test&%EF%BD%81=1&%F0%9F%98%80=2", ""},
		{"names_reserved_js", "/test?a%2F=2&a-=1",
			"GET&/test&a-=1&a%2F=2", "b12505020145569e30ececa8390a4a378ab83ba4bc9a45fb6d5eacc90930fb78"},
		{"names_reserved_java", "/test?a%2F=2&a-=1",
			"GET&/test&a%2F=2&a-=1", ""},
		// Invalid UTF-8 decodes to U+FFFD per maximal subpart, as Node's
		// Buffer.toString does.
		{"invalid_utf8_values", "/test?v=%E2%82&v=%FF",
			"GET&/test&v=%EF%BF%BD,%EF%BF%BD", "f4fde3d39051de1275a8bc2f71ac851457ce234a9183ba49485d8731b478b15e"},
	}
	v := connect.TokenVerifier{NowFunc: fixedClock(testNow)}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sum := sha256.Sum256([]byte(tc.canonical))
			qsh := hex.EncodeToString(sum[:])
			if tc.qsh != "" && qsh != tc.qsh {
				t.Fatalf("test vector: sha256(%q) = %s, atlassian-jwt says %s", tc.canonical, qsh, tc.qsh)
			}
			token := mintToken(t, jwt.SigningMethodHS256, jwt.MapClaims{
				"iss": testIssuer, "iat": testNow.Unix(), "exp": testNow.Add(time.Minute).Unix(), "qsh": qsh,
			}, []byte(testSecret), nil)
			if _, err := v.VerifyHS256(token, []byte(testSecret), newRequest(http.MethodGet, tc.target), "", connect.QSHExact); err != nil {
				t.Fatalf("token with qsh of %q refused for %s: %v", tc.canonical, tc.target, err)
			}
			// The same token must not cover a different request.
			other := newRequest(http.MethodGet, tc.target+"&extra=1")
			_, err := v.VerifyHS256(token, []byte(testSecret), other, "", connect.QSHExact)
			wantAuthReason(t, err, "query string hash does not match")
		})
	}
}

// TestVerifyHS256_RawNonASCIIQuery: a raw byte above 0x7F in the query
// reads as different text in different HTTP stacks (Latin-1 or UTF-8), so
// no qsh can bind it; signers percent-encode such characters.
func TestVerifyHS256_RawNonASCIIQuery(t *testing.T) {
	t.Parallel()
	sum := sha256.Sum256([]byte("GET&/test&v=%E2%82%AC"))
	token := mintToken(t, jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": testIssuer, "iat": testNow.Unix(), "exp": testNow.Add(time.Minute).Unix(), "qsh": hex.EncodeToString(sum[:]),
	}, []byte(testSecret), nil)
	v := connect.TokenVerifier{NowFunc: fixedClock(testNow)}
	if _, err := v.VerifyHS256(token, []byte(testSecret), newRequest(http.MethodGet, "/test?v=%E2%82%AC"), "", connect.QSHExact); err != nil {
		t.Fatalf("encoded query refused: %v", err)
	}
	_, err := v.VerifyHS256(token, []byte(testSecret), newRequest(http.MethodGet, "/test?v=\xE2\x82\xAC"), "", connect.QSHExact)
	wantAuthReason(t, err, "query string hash does not match")
}
