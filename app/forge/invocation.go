package forge

import (
	"encoding/json"
	"net/url"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Product names as they appear in an apiBaseUrl path (/ex/<product>/<cloudId>).
const (
	ProductJira       = "jira"
	ProductConfluence = "confluence"
)

// Invocation is the decoded payload of a verified Forge Invocation Token.
type Invocation struct {
	App App `json:"app"`
	// Context is the module/product context of UI invocations (cloudId,
	// siteUrl, extension, …); its shape depends on the module, so it is
	// left raw.
	Context json.RawMessage `json:"context,omitempty"`
	// Principal is the accountId of the invoking user (UI modules only).
	Principal string `json:"principal,omitempty"`
	jwt.RegisteredClaims
}

// App is the "app" object of a FIT payload.
type App struct {
	// ID is the app ARI.
	ID      string `json:"id"`
	Version string `json:"appVersion"`
	// InstallationID is the key for all remote storage; use
	// Invocation.InstallationID for the normalised form.
	InstallationID string `json:"installationId"`
	// APIBaseURL is where product API calls go, e.g.
	// https://api.atlassian.com/ex/jira/<cloudId>.
	APIBaseURL   string        `json:"apiBaseUrl"`
	Environment  Environment   `json:"environment"`
	Module       Module        `json:"module"`
	Installation *Installation `json:"installation,omitempty"`
	// License is present only for paid apps in production.
	License json.RawMessage `json:"license,omitempty"`
}

// Environment is the Forge environment the invocation comes from.
type Environment struct {
	// Type is DEVELOPMENT, STAGING or PRODUCTION.
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Module identifies the module that invoked the remote.
type Module struct {
	// Type is "core:endpoint" for backend invocations, else the UI module type.
	Type string `json:"type"`
	Key  string `json:"key"`
}

// Installation is the optional "app.installation" object.
type Installation struct {
	ID       string                `json:"id"`
	Contexts []InstallationContext `json:"contexts"`
}

// InstallationContext is one site/product context of an installation.
type InstallationContext struct {
	Name       string `json:"name"`
	APIBaseURL string `json:"apiBaseUrl"`
	CloudID    string `json:"cloudId"`
}

// InstallationID returns the installation id without its ARI prefix, falling
// back to app.installation.id when app.installationId is absent.
func (inv *Invocation) InstallationID() string {
	if id := NormalizeInstallationID(inv.App.InstallationID); id != "" {
		return id
	}
	if inv.App.Installation != nil {
		return NormalizeInstallationID(inv.App.Installation.ID)
	}
	return ""
}

// CloudID returns the site's cloud id. apiBaseUrl is the primary source
// because it is always present in a verified FIT; installation contexts and
// the UI context are fallbacks for payloads whose base URL has another shape.
func (inv *Invocation) CloudID() string {
	if _, id := parseAPIBaseURL(inv.App.APIBaseURL); id != "" {
		return id
	}
	for _, c := range inv.contexts() {
		if c.CloudID != "" {
			return c.CloudID
		}
		if _, id := parseAPIBaseURL(c.APIBaseURL); id != "" {
			return id
		}
	}
	return contextCloudID(inv.Context)
}

// Product returns ProductJira, ProductConfluence or "" from the /ex/<product>/
// segment of apiBaseUrl (or, failing that, of an installation context).
func (inv *Invocation) Product() string {
	urls := []string{inv.App.APIBaseURL}
	for _, c := range inv.contexts() {
		urls = append(urls, c.APIBaseURL)
	}
	for _, u := range urls {
		switch p, _ := parseAPIBaseURL(u); p {
		case ProductJira, ProductConfluence:
			return p
		}
	}
	return ""
}

func (inv *Invocation) contexts() []InstallationContext {
	if inv.App.Installation == nil {
		return nil
	}
	return inv.App.Installation.Contexts
}

// parseAPIBaseURL extracts product and cloud id from ".../ex/<product>/<cloudId>".
// It looks for the "ex" segment anywhere in the path so that a gateway
// prefix in front of it does not break the lookup.
func parseAPIBaseURL(raw string) (product, cloudID string) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", ""
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	for i := 0; i+2 < len(segs); i++ {
		if segs[i] == "ex" && segs[i+1] != "" && segs[i+2] != "" {
			return segs[i+1], segs[i+2]
		}
	}
	return "", ""
}

// contextCloudID reads context.cloudId, present for UI invocations.
func contextCloudID(raw json.RawMessage) string {
	var c struct {
		CloudID string `json:"cloudId"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &c) != nil {
		return ""
	}
	return c.CloudID
}
