package connect

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// These tests need the unexported key-host table, so they live inside the
// package; everything else is tested black-box in package connect_test.

func TestHTTPKeyFetcher_keyURLs_AtlassianTable(t *testing.T) {
	t.Parallel()
	const (
		prod       = "https://asap-distribution.us-west-2.prod.atl-asap.net/k1"
		legacy     = "https://connect-install-keys.atlassian.com/k1"
		fedProd    = "https://asap-distribution.us-west-2.prod.atl-auth-us-gov-mod.net/k1"
		fedProdCDN = "https://cs-migrations--fedrampcdn.us-east-1.prod.cdn.atlassian-us-gov-mod.com/k1"
		stg        = "https://asap-distribution.us-west-2.staging.atl-asap.net/k1"
		stgCDN     = "https://cs-migrations--cdn.us-east-1.staging.public.atl-paas.net/k1"
		fedStg     = "https://asap-distribution.us-west-2.staging.atl-auth-us-gov-mod.net/k1"
		fedStgCDN  = "https://cs-migrations--fedrampcdn.us-east-1.staging.cdn.atlassian-us-gov-mod.com/k1"
	)
	cases := []struct {
		name        string
		hostBaseURL string
		want        []string
	}{
		{"atlassian_net", "https://acme.atlassian.net", []string{prod, legacy}},
		{"atlassian_net_confluence_path", "https://acme.atlassian.net/wiki", []string{prod, legacy}},
		{"atlassian_net_upper_case_trailing_dot", "https://ACME.Atlassian.NET./", []string{prod, legacy}},
		{"jira_com", "https://legacy.jira.com", []string{prod, legacy}},
		{"fedramp_prod", "https://agency.atlassian-us-gov-mod.net", []string{fedProd, fedProdCDN}},
		{"staging", "https://team.jira-dev.com", []string{stg, stgCDN}},
		{"fedramp_staging", "https://agency.atlassian-stg-fedm.net", []string{fedStg, fedStgCDN}},
		{"other_host", "https://example.com", []string{legacy}},
		// A suffix match needs the dot: "evilatlassian.net" is not Atlassian.
		{"lookalike_host", "https://evilatlassian.net", []string{legacy}},
		{"suffix_in_path_only", "https://evil.example/x.atlassian.net", []string{legacy}},
		{"empty", "", []string{legacy}},
		{"garbage", "::not a url", []string{legacy}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := (&HTTPKeyFetcher{}).keyURLs("k1", tc.hostBaseURL)
			if !slices.Equal(got, tc.want) {
				t.Errorf("keyURLs() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHTTPKeyFetcher_keyURLs_Override(t *testing.T) {
	t.Parallel()
	f := NewHTTPKeyFetcher("http://localhost:9999/keys/", nil)
	got := f.keyURLs("k1", "https://acme.atlassian.net")
	if want := []string{"http://localhost:9999/keys/k1"}; !slices.Equal(got, want) {
		t.Errorf("keyURLs() = %q, want %q", got, want)
	}
}

var internalTestKey = sync.OnceValue(func() *rsa.PrivateKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return key
})

// keyHost is a fake key host that records the paths it was asked for.
type keyHost struct {
	*httptest.Server
	mu    sync.Mutex
	paths []string
	hits  atomic.Int32
}

func newKeyHost(t *testing.T, handler func(w http.ResponseWriter, r *http.Request)) *keyHost {
	t.Helper()
	h := &keyHost{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.hits.Add(1)
		h.mu.Lock()
		h.paths = append(h.paths, r.URL.Path)
		h.mu.Unlock()
		handler(w, r)
	}))
	t.Cleanup(h.Close)
	return h
}

func servePEM(t *testing.T) func(http.ResponseWriter, *http.Request) {
	der, err := x509.MarshalPKIXPublicKey(&internalTestKey().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	body := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	return func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }
}

func status(code int) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

func TestHTTPKeyFetcher_FetchKey_Fallback(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		primary      func(http.ResponseWriter, *http.Request)
		primaryDown  bool
		fallback     func(http.ResponseWriter, *http.Request)
		wantErr      bool
		wantAuthErr  bool
		wantFallback bool // the fallback must have been asked for /<kid>
	}{
		{name: "primary_ok", primary: servePEM(t), fallback: status(500)},
		{name: "primary_404", primary: status(404), fallback: servePEM(t), wantFallback: true},
		{name: "primary_500", primary: status(500), fallback: servePEM(t), wantFallback: true},
		{name: "primary_unreachable", primaryDown: true, fallback: servePEM(t), wantFallback: true},
		{name: "both_404_is_auth_error", primary: status(404), fallback: status(404), wantErr: true, wantAuthErr: true, wantFallback: true},
		{name: "outage_is_not_auth_error", primary: status(404), fallback: status(503), wantErr: true, wantFallback: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			primary := newKeyHost(t, orServerError(tc.primary))
			fallback := newKeyHost(t, tc.fallback)
			if tc.primaryDown {
				primary.Close()
			}
			f := &HTTPKeyFetcher{
				Client:       fallback.Client(),
				baseURLsFunc: func(string) []string { return []string{primary.URL, fallback.URL + "/"} },
			}
			key, err := f.FetchKey(context.Background(), "kid-1", "https://acme.atlassian.net")
			switch {
			case tc.wantErr && err == nil:
				t.Fatal("want error")
			case !tc.wantErr && err != nil:
				t.Fatal(err)
			case tc.wantErr && IsAuthError(err) != tc.wantAuthErr:
				t.Fatalf("IsAuthError(%v) = %v, want %v", err, IsAuthError(err), tc.wantAuthErr)
			case !tc.wantErr && !key.Equal(&internalTestKey().PublicKey):
				t.Fatal("wrong key")
			}
			fallback.mu.Lock()
			defer fallback.mu.Unlock()
			if tc.wantFallback && !slices.Equal(fallback.paths, []string{"/kid-1"}) {
				t.Errorf("fallback paths = %q, want [/kid-1]", fallback.paths)
			}
			if !tc.wantFallback && len(fallback.paths) != 0 {
				t.Errorf("fallback asked %q, want nothing", fallback.paths)
			}
		})
	}
}

func orServerError(h func(http.ResponseWriter, *http.Request)) func(http.ResponseWriter, *http.Request) {
	if h == nil {
		return status(500)
	}
	return h
}

func TestHTTPKeyFetcher_FetchKey_FailuresNotCached(t *testing.T) {
	t.Parallel()
	var ready atomic.Bool
	serve := servePEM(t)
	host := newKeyHost(t, func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		serve(w, r)
	})
	f := NewHTTPKeyFetcher(host.URL, host.Client())
	if _, err := f.FetchKey(context.Background(), "kid-1", ""); !IsAuthError(err) {
		t.Fatalf("first fetch: error = %v, want AuthError", err)
	}
	// The key gets published; the earlier 404 must not stick.
	ready.Store(true)
	for range 2 {
		if _, err := f.FetchKey(context.Background(), "kid-1", ""); err != nil {
			t.Fatal(err)
		}
	}
	if hits := host.hits.Load(); hits != 2 {
		t.Errorf("hits = %d, want 2 (one failure, one success, then cached)", hits)
	}
}

func TestHTTPKeyFetcher_FetchKey_Concurrent(t *testing.T) {
	t.Parallel()
	host := newKeyHost(t, servePEM(t))
	f := NewHTTPKeyFetcher(host.URL, host.Client())
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := f.FetchKey(context.Background(), "kid-1", ""); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}
