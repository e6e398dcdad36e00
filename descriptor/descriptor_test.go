package descriptor_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"github.com/lapsehq/lapse/descriptor"
)

// connectDescriptor is the subset of atlassian-connect.json the tests check.
type connectDescriptor struct {
	Key            string `json:"key"`
	Name           string `json:"name"`
	BaseURL        string `json:"baseUrl"`
	Authentication struct {
		Type string `json:"type"`
	} `json:"authentication"`
	Lifecycle       map[string]string `json:"lifecycle"`
	APIVersion      int               `json:"apiVersion"`
	APIMigrations   map[string]bool   `json:"apiMigrations"`
	Scopes          []string          `json:"scopes"`
	EnableLicensing *bool             `json:"enableLicensing"`
	Modules         struct {
		AdminPages []struct {
			Key  string `json:"key"`
			Name struct {
				Value string `json:"value"`
			} `json:"name"`
			URL        string `json:"url"`
			Conditions []struct {
				Condition string `json:"condition"`
			} `json:"conditions"`
		} `json:"adminPages"`
	} `json:"modules"`
}

func mustConnect(t *testing.T, baseURL, appKey string) (connectDescriptor, []byte) {
	t.Helper()
	out, err := descriptor.Connect(baseURL, appKey)
	if err != nil {
		t.Fatalf("Connect(%q, %q): %v", baseURL, appKey, err)
	}
	var d connectDescriptor
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("Connect output does not parse: %v\n%s", err, out)
	}
	return d, out
}

func TestConnect(t *testing.T) {
	t.Parallel()

	d, out := mustConnect(t, "https://lapse.test.example/", "com.lapsehq.lapse.dev")

	if got, want := d.BaseURL, "https://lapse.test.example"; got != want {
		t.Errorf("baseUrl = %q, want %q (trailing slash removed)", got, want)
	}
	if got, want := d.Key, "com.lapsehq.lapse.dev"; got != want {
		t.Errorf("key = %q, want %q", got, want)
	}
	if d.Name != "Lapse" {
		t.Errorf("name = %q, want Lapse", d.Name)
	}
	if d.Authentication.Type != "jwt" {
		t.Errorf("authentication.type = %q, want jwt", d.Authentication.Type)
	}
	if d.APIVersion != 1 {
		t.Errorf("apiVersion = %d, want 1", d.APIVersion)
	}
	wantMigrations := map[string]bool{"signed-install": true, "context-qsh": true, "gdpr": true}
	if !reflect.DeepEqual(d.APIMigrations, wantMigrations) {
		t.Errorf("apiMigrations = %v, want %v", d.APIMigrations, wantMigrations)
	}
	wantLifecycle := map[string]string{
		"installed":   "/installed",
		"uninstalled": "/uninstalled",
		"enabled":     "/enabled",
		"disabled":    "/disabled",
	}
	if !reflect.DeepEqual(d.Lifecycle, wantLifecycle) {
		t.Errorf("lifecycle = %v, want %v", d.Lifecycle, wantLifecycle)
	}
	if want := []string{"READ"}; !reflect.DeepEqual(d.Scopes, want) {
		t.Errorf("scopes = %q, want %q", d.Scopes, want)
	}
	if d.EnableLicensing == nil || *d.EnableLicensing {
		t.Errorf("enableLicensing = %v, want explicit false", d.EnableLicensing)
	}
	if len(d.Modules.AdminPages) != 1 {
		t.Fatalf("adminPages has %d entries, want 1", len(d.Modules.AdminPages))
	}
	page := d.Modules.AdminPages[0]
	if page.Key != "lapse-admin" || page.URL != "/admin" || page.Name.Value != "Lapse" {
		t.Errorf("adminPages[0] = key %q url %q name %q, want lapse-admin /admin Lapse", page.Key, page.URL, page.Name.Value)
	}
	if len(page.Conditions) != 1 || page.Conditions[0].Condition != "user_is_admin" {
		t.Errorf("adminPages[0].conditions = %+v, want [user_is_admin]", page.Conditions)
	}

	// Indented, ends with a newline, keeps the template's key order.
	if !bytes.HasPrefix(out, []byte("{\n  \"key\": ")) || !bytes.HasSuffix(out, []byte("}\n")) {
		t.Errorf("output is not indented in template order:\n%s", out)
	}
}

// TestConnectOnlyTopLevel checks that only the top-level baseUrl and key
// change: everything else equals the embedded template.
func TestConnectOnlyTopLevel(t *testing.T) {
	t.Parallel()

	raw, err := fs.ReadFile(descriptor.FS, "atlassian-connect.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatalf("template does not parse: %v", err)
	}
	want["baseUrl"] = "http://127.0.0.1:8080/sub"
	want["key"] = "k"

	out, err := descriptor.Connect("http://127.0.0.1:8080/sub", "k")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Connect changed more than baseUrl and key:\n got %v\nwant %v", got, want)
	}
}

func TestConnectRejects(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name    string
		baseURL string
		appKey  string
		wantErr string
	}{
		{"empty base url", "", "k", "scheme"},
		{"relative base url", "/lapse", "k", "scheme"},
		{"ftp base url", "ftp://lapse.example.com", "k", "scheme"},
		{"no host", "https://", "k", "host"},
		{"query", "https://lapse.example.com/?x=1", "k", "query"},
		{"fragment", "https://lapse.example.com/#x", "k", "fragment"},
		{"user info", "https://u:p@lapse.example.com", "k", "user info"},
		{"empty key", "https://lapse.example.com", "", "app key"},
		{"key with space", "https://lapse.example.com", "com lapse", "app key"},
		{"key too long", "https://lapse.example.com", strings.Repeat("a", 65), "app key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := descriptor.Connect(tc.baseURL, tc.appKey)
			if err == nil {
				t.Fatalf("Connect(%q, %q) = %s, want error", tc.baseURL, tc.appKey, out)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestFSHoldsManifest(t *testing.T) {
	t.Parallel()

	m, err := fs.ReadFile(descriptor.FS, "manifest.yml")
	if err != nil {
		t.Fatal(err)
	}
	// The manifest is validated by .ci/node/validate-manifest.js; here only
	// check that the pieces the Go side depends on are present.
	for _, want := range []string{
		"key: com.lapsehq.lapse",
		"remote: lapse-remote",
		"path: /forge/events",
		"path: /forge/scheduled",
		"key: lapse-api",
		"- read:app-system-token",
	} {
		if !bytes.Contains(m, []byte(want)) {
			t.Errorf("manifest.yml lacks %q", want)
		}
	}
}
