package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDevsite_InstallIntoServe runs `lapse devsite` and `lapse serve`
// side by side, configures Lapse from exactly what the devsite printed,
// installs it through the control API (Connect into Jira, Connect on Forge
// into Confluence), reads the tenants and shuts both down cleanly.
func TestDevsite_InstallIntoServe(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The site.
	siteOut, siteLog := &syncBuffer{}, &syncBuffer{}
	siteURL := make(chan string, 1)
	siteDone := make(chan error, 1)
	go func() {
		siteDone <- runDevsite(ctx, []string{"--addr", "127.0.0.1:0", "--users", "50", "--seed", "7"}, env(nil), siteOut, siteLog,
			func(u string) { siteURL <- u })
	}()
	var site string
	select {
	case site = <-siteURL:
	case err := <-siteDone:
		t.Fatalf("devsite exited: %v\n%s", err, siteLog)
	case <-time.After(30 * time.Second):
		t.Fatal("devsite did not start")
	}

	// Lapse, configured from the printed exports.
	addr := freeAddr(t)
	lapseURL := "http://" + addr
	vars := map[string]string{
		"LAPSE_ADDR":         addr,
		"LAPSE_BASE_URL":     lapseURL,
		"LAPSE_DATABASE_URL": filepath.Join(t.TempDir(), "data", "lapse.db"),
	}
	printed := siteOut.String()
	for _, line := range strings.Split(printed, "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "export "), "="); ok && strings.HasPrefix(k, "LAPSE_") {
			vars[k] = v
		}
	}
	for _, k := range []string{"LAPSE_ADMIN_API_URL", "LAPSE_INSTALL_KEYS_URL", "LAPSE_FORGE_JWKS_URL", "LAPSE_FORGE_APP_ID", "LAPSE_ALLOWED_HOSTS"} {
		if vars[k] == "" {
			t.Fatalf("devsite did not print %s:\n%s", k, printed)
		}
	}
	if vars["LAPSE_ADMIN_API_URL"] != site || vars["LAPSE_INSTALL_KEYS_URL"] != site+"/connect-keys" || vars["LAPSE_ALLOWED_HOSTS"] != "127.0.0.1" ||
		!strings.Contains(printed, "org API key    devsite-org-key-") || !strings.Contains(printed, site+"/_devsite/install") {
		t.Fatalf("printed instructions:\n%s", printed)
	}
	lapseLog := &syncBuffer{}
	listening := make(chan string, 1)
	lapseDone := make(chan error, 1)
	go func() { lapseDone <- runServe(ctx, env(vars), lapseLog, func(a string) { listening <- a }) }()
	select {
	case <-listening:
	case err := <-lapseDone:
		t.Fatalf("serve exited: %v\n%s", err, lapseLog)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}

	install := func(body map[string]any) (tenant map[string]any, res map[string]any) {
		t.Helper()
		b, _ := json.Marshal(body)
		resp, err := http.Post(site+"/_devsite/install", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(&res)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("install %v = %d %v\nlapse log:\n%s", body, resp.StatusCode, res, lapseLog)
		}
		tenant, _ = res["tenant"].(map[string]any)
		return tenant, res
	}
	tenant, res := install(map[string]any{"lapseUrl": lapseURL, "site": "acme", "product": "jira"})
	if tenant["baseUrl"] != site+"/s/acme" || tenant["connect"] != true || tenant["forge"] != false || res["clientKey"] == "" || res["appKey"] != "com.lapsehq.lapse" {
		t.Fatalf("jira install = %v", res)
	}
	tenant, res = install(map[string]any{"lapseUrl": lapseURL, "product": "confluence", "forge": true})
	if tenant["baseUrl"] != site+"/s/acme/wiki" || tenant["connect"] != true || tenant["forge"] != true || tenant["cloudId"] != res["cloudId"] {
		t.Fatalf("confluence install = %v", res)
	}
	resp, err := http.Post(site+"/_devsite/trigger", "application/json", strings.NewReader(`{"lapseUrl":"`+lapseURL+`","product":"confluence"}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scheduled trigger = %v %v", resp, err)
	}
	resp.Body.Close()

	cancel()
	if err := <-lapseDone; err != nil {
		t.Fatalf("serve returned %v", err)
	}
	if err := <-siteDone; err != nil {
		t.Fatalf("devsite returned %v", err)
	}
	if !strings.Contains(siteLog.String(), "devsite shutting down") {
		t.Fatalf("no clean devsite shutdown:\n%s", siteLog)
	}
}

func TestDevsite_Options(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		args    []string
		vars    map[string]string
		wantErr string
	}{
		{"all_interfaces", []string{"--addr", ":8090"}, nil, "--allow-remote"},
		{"public_ip", []string{"--addr", "192.0.2.1:8090"}, nil, "--allow-remote"},
		{"env_addr", nil, map[string]string{"LAPSE_DEVSITE_ADDR": "0.0.0.0:8090"}, "--allow-remote"},
		{"bad_addr", []string{"--addr", "8090"}, nil, "host:port"},
		{"bad_users_env", nil, map[string]string{"LAPSE_DEVSITE_USERS": "many"}, "LAPSE_DEVSITE_USERS"},
		{"no_sites", []string{"--sites", "0"}, nil, "--sites"},
		{"bad_base_url", []string{"--base-url", "ftp://x"}, nil, "--base-url"},
		{"stray_argument", []string{"extra"}, nil, "unexpected argument"},
		{"allowed_remote", []string{"--addr", "0.0.0.0:8090", "--allow-remote"}, nil, ""},
		{"defaults", nil, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stderr bytes.Buffer
			o, err := parseDevsiteOptions(tc.args, env(tc.vars), &stderr, &stderr)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			_ = o
		})
	}
	o, err := parseDevsiteOptions(nil, env(nil), &bytes.Buffer{}, &bytes.Buffer{})
	if err != nil || o.addr != "127.0.0.1:8090" || o.params.Users != 1000 || o.params.Sites != 1 || o.params.Seed != 1 {
		t.Fatalf("defaults = %+v, %v", o, err)
	}
	// Refused through the command as well, before anything listens.
	err = run(context.Background(), []string{"devsite", "--addr", ":0"}, env(nil), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "--allow-remote") {
		t.Fatalf("run devsite on all interfaces: %v", err)
	}
}
