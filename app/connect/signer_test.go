package connect_test

import (
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/lapsehq/lapse/app/connect"
)

const testAppKey = "com.lapsehq.lapse"

// receive rebuilds req the way the product's server sees it, so the test
// verifies exactly what arrives over the wire.
func receive(t *testing.T, req *http.Request) *http.Request {
	t.Helper()
	r := newRequest(req.Method, req.URL.String())
	r.Header = req.Header.Clone()
	return r
}

func TestSigner_Sign(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name          string
		method        string
		target        string
		tenantBaseURL string
		productBase   string // the base path the product strips when verifying
		ttl           time.Duration
		wantTTL       time.Duration
	}{
		{
			name:          "confluence_wiki",
			method:        http.MethodGet,
			target:        "https://acme.atlassian.net/wiki/rest/api/content?limit=10&expand=space,version",
			tenantBaseURL: "https://acme.atlassian.net/wiki",
			productBase:   "/wiki",
			wantTTL:       180 * time.Second,
		},
		{
			name:          "confluence_wiki_trailing_slash_and_default_port",
			method:        http.MethodGet,
			target:        "https://acme.atlassian.net:443/wiki/rest/api/space",
			tenantBaseURL: "https://ACME.atlassian.net/wiki/",
			productBase:   "/wiki",
			wantTTL:       180 * time.Second,
		},
		{
			name:          "jira_post_with_query_and_ttl",
			method:        http.MethodPost,
			target:        "https://acme.atlassian.net/rest/api/3/search/jql?fields=summary,status&maxResults=50",
			tenantBaseURL: "https://acme.atlassian.net",
			ttl:           time.Minute,
			wantTTL:       time.Minute,
		},
		{
			name:          "encoded_path",
			method:        http.MethodGet,
			target:        "https://acme.atlassian.net/rest/api/3/user/search?query=a%20b%2Bc",
			tenantBaseURL: "https://acme.atlassian.net/",
			wantTTL:       180 * time.Second,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(tc.method, tc.target, nil)
			if err != nil {
				t.Fatal(err)
			}
			s := connect.Signer{AppKey: testAppKey, TTL: tc.ttl, NowFunc: fixedClock(testNow)}
			if err := s.Sign(req, tc.tenantBaseURL, []byte(testSecret)); err != nil {
				t.Fatal(err)
			}

			received := receive(t, req)
			token, err := connect.TokenFromRequest(received)
			if err != nil {
				t.Fatal(err)
			}
			v := connect.TokenVerifier{NowFunc: fixedClock(testNow.Add(time.Second))}
			claims, err := v.VerifyHS256(token, []byte(testSecret), received, tc.productBase, connect.QSHExact)
			if err != nil {
				t.Fatalf("product-side verification: %v", err)
			}
			if claims.Issuer != testAppKey {
				t.Errorf("iss = %q, want %q", claims.Issuer, testAppKey)
			}
			if !claims.IssuedAt.Equal(testNow) {
				t.Errorf("iat = %v, want %v", claims.IssuedAt, testNow)
			}
			if got := claims.ExpiresAt.Sub(claims.IssuedAt.Time); got != tc.wantTTL {
				t.Errorf("exp - iat = %v, want %v", got, tc.wantTTL)
			}
			if tc.productBase != "" {
				// The qsh must be over the path without the context path.
				_, err := v.VerifyHS256(token, []byte(testSecret), received, "", connect.QSHExact)
				wantAuthReason(t, err, "query string hash does not match")
			}
		})
	}
}

func TestSigner_Sign_Refuses(t *testing.T) {
	t.Parallel()
	confluence := "https://acme.atlassian.net/wiki"
	cases := []struct {
		name          string
		target        string
		tenantBaseURL string
		appKey        string
		secret        []byte
	}{
		{name: "other_host", target: "https://evil.example.com/wiki/rest/api/content"},
		{name: "other_tenant", target: "https://other.atlassian.net/wiki/rest/api/content"},
		{name: "http_vs_https", target: "http://acme.atlassian.net/wiki/rest/api/content"},
		{name: "other_port", target: "https://acme.atlassian.net:8443/wiki/rest/api/content"},
		{name: "outside_base_path", target: "https://acme.atlassian.net/rest/api/3/myself"},
		{name: "base_path_prefix_only", target: "https://acme.atlassian.net/wikiother/rest"},
		{name: "dot_segments", target: "https://acme.atlassian.net/wiki/../rest/api/3/myself"},
		{name: "relative_tenant_url", target: "https://acme.atlassian.net/wiki/rest", tenantBaseURL: "/wiki"},
		{name: "no_app_key", target: "https://acme.atlassian.net/wiki/rest", appKey: "-"},
		{name: "no_secret", target: "https://acme.atlassian.net/wiki/rest", secret: []byte{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(http.MethodGet, tc.target, nil)
			if err != nil {
				t.Fatal(err)
			}
			s := connect.Signer{AppKey: testAppKey, NowFunc: fixedClock(testNow)}
			if tc.appKey == "-" {
				s.AppKey = ""
			}
			secret := []byte(testSecret)
			if tc.secret != nil {
				secret = tc.secret
			}
			if err := s.Sign(req, cmpOr(tc.tenantBaseURL, confluence), secret); err == nil {
				t.Fatal("Sign() succeeded, want refusal")
			}
			if h := req.Header.Get("Authorization"); h != "" {
				t.Errorf("Authorization set on refused request: %q", h)
			}
		})
	}
}

// TestSigner_Sign_Algorithm pins the wire format: HS256 and no extra claims
// a product might choke on.
func TestSigner_Sign_Algorithm(t *testing.T) {
	t.Parallel()
	req, err := http.NewRequest(http.MethodGet, "https://acme.atlassian.net/rest/api/3/myself", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := (connect.Signer{AppKey: testAppKey}).Sign(req, "https://acme.atlassian.net", []byte(testSecret)); err != nil {
		t.Fatal(err)
	}
	token, err := connect.TokenFromRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.Parse(token, func(*jwt.Token) (any, error) { return []byte(testSecret), nil },
		jwt.WithValidMethods([]string{"HS256"}))
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(maps.Keys(parsed.Claims.(jwt.MapClaims)))
	if want := []string{"exp", "iat", "iss", "qsh"}; !slices.Equal(got, want) {
		t.Errorf("claims = %q, want %q", got, want)
	}
}
