package web_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lapsehq/lapse/app/store"
)

// The browser tests load the admin page in a real headless Chromium. CI
// installs Debian's chromium and sets LAPSE_TEST_CHROMIUM to its path, which
// turns a missing browser into a failure.
const envChromium = "LAPSE_TEST_CHROMIUM"

func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(envChromium); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", envChromium, p, err)
		}
		return p
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Skipf("browser test SKIPPED: install Debian's chromium (CI does, and sets %s)", envChromium)
	return ""
}

func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// TestAdminPage_Browser opens the signed admin-page URL the way the Jira
// iframe does and reads what a site admin sees, including an attacker-chosen
// account id that must render as text, not markup.
func TestAdminPage_Browser(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	e := newEnv(t, store.SQLite)
	site := e.site("jira")
	e.install(site)
	const hostile = `<img src=x onerror="document.title='pwned'">`
	page, err := e.host.PageURL(e.app, site, "/admin", url.Values{"lic": {"none"}, "xdm_e": {site.BaseURL}}, hostile)
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#tenant"))); err != nil {
		t.Fatal(err)
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return v
	}
	baseURL, product, account := text("#tenant-base-url"), text("#tenant-product"), text("#tenant-account")
	injected, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#tenant img').length`))
	if err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if baseURL != site.BaseURL || product != "jira" {
		t.Fatalf("page shows site %q product %q, want %q jira", baseURL, product, site.BaseURL)
	}
	if account != hostile || injected != 0 || title != "Lapse" {
		t.Fatalf("account id was not escaped: text %q, injected elements %d, title %q", account, injected, title)
	}
}
