package connect_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"testing"

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
