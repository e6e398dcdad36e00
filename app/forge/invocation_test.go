package forge_test

import (
	"encoding/json"
	"testing"

	"github.com/lapsehq/lapse/app/forge"
)

func TestInvocationCloudIDAndProduct(t *testing.T) {
	t.Parallel()
	const cloud = "0b7d6f9e-3c2a-4d1b-8e5f-6a7b8c9d0e1f"
	cases := []struct {
		name        string
		inv         forge.Invocation
		wantCloudID string
		wantProduct string
	}{
		{
			name:        "jira",
			inv:         forge.Invocation{App: forge.App{APIBaseURL: "https://api.atlassian.com/ex/jira/" + cloud}},
			wantCloudID: cloud, wantProduct: forge.ProductJira,
		},
		{
			name:        "confluence with trailing slash",
			inv:         forge.Invocation{App: forge.App{APIBaseURL: "https://api.atlassian.com/ex/confluence/" + cloud + "/"}},
			wantCloudID: cloud, wantProduct: forge.ProductConfluence,
		},
		{
			name:        "staging host",
			inv:         forge.Invocation{App: forge.App{APIBaseURL: "https://api.stg.atlassian.com/ex/jira/" + cloud}},
			wantCloudID: cloud, wantProduct: forge.ProductJira,
		},
		{
			name:        "other product has cloud id but no product",
			inv:         forge.Invocation{App: forge.App{APIBaseURL: "https://api.atlassian.com/ex/bitbucket/" + cloud}},
			wantCloudID: cloud, wantProduct: "",
		},
		{
			name: "installation contexts fallback",
			inv: forge.Invocation{App: forge.App{
				APIBaseURL: "https://example.test/",
				Installation: &forge.Installation{Contexts: []forge.InstallationContext{
					{Name: "site", CloudID: cloud, APIBaseURL: "https://api.atlassian.com/ex/confluence/" + cloud},
				}},
			}},
			wantCloudID: cloud, wantProduct: forge.ProductConfluence,
		},
		{
			name: "context apiBaseUrl without cloudId",
			inv: forge.Invocation{App: forge.App{Installation: &forge.Installation{Contexts: []forge.InstallationContext{
				{APIBaseURL: "https://api.atlassian.com/ex/jira/" + cloud},
			}}}},
			wantCloudID: cloud, wantProduct: forge.ProductJira,
		},
		{
			name:        "ui context fallback",
			inv:         forge.Invocation{Context: json.RawMessage(`{"cloudId":"` + cloud + `"}`)},
			wantCloudID: cloud,
		},
		{name: "path too short", inv: forge.Invocation{App: forge.App{APIBaseURL: "https://api.atlassian.com/ex/jira"}}},
		{name: "no ex segment", inv: forge.Invocation{App: forge.App{APIBaseURL: "https://api.atlassian.com/jira/" + cloud}}},
		{name: "unparseable", inv: forge.Invocation{App: forge.App{APIBaseURL: "://bad"}}},
		{name: "empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.inv.CloudID(); got != tc.wantCloudID {
				t.Errorf("CloudID (-want +got):\n- %q\n+ %q", tc.wantCloudID, got)
			}
			if got := tc.inv.Product(); got != tc.wantProduct {
				t.Errorf("Product (-want +got):\n- %q\n+ %q", tc.wantProduct, got)
			}
		})
	}
}

func TestInvocationInstallationID(t *testing.T) {
	t.Parallel()
	const id = "6f1e3c1a-2b4d-4e8f-9a0b-1c2d3e4f5a6b"
	cases := []struct {
		name string
		app  forge.App
		want string
	}{
		{name: "bare", app: forge.App{InstallationID: id}, want: id},
		{name: "ari", app: forge.App{InstallationID: forge.InstallationARIPrefix + id}, want: id},
		{name: "installation object fallback", app: forge.App{Installation: &forge.Installation{ID: forge.InstallationARIPrefix + id}}, want: id},
		{name: "none", want: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			inv := forge.Invocation{App: tc.app}
			if got := inv.InstallationID(); got != tc.want {
				t.Fatalf("InstallationID (-want +got):\n- %q\n+ %q", tc.want, got)
			}
		})
	}
}
