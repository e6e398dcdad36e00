package adminapi

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strings"
)

// Org is an organization the API key can administer.
type Org struct {
	ID   string
	Name string
}

// Orgs lists the organizations of the API key (v1).
func (c *Client) Orgs(ctx context.Context) iter.Seq2[Org, error] {
	return paginate(ctx, "", func(ctx context.Context, cursor string) ([]Org, string, error) {
		var page struct {
			Data []struct {
				ID         string `json:"id"`
				Attributes struct {
					Name string `json:"name"`
				} `json:"attributes"`
			} `json:"data"`
			Links links `json:"links"`
		}
		if err := c.do(ctx, request{method: http.MethodGet, path: "/admin/v1/orgs", endpoint: "/admin/v1/orgs",
			query: cursorQuery(cursor)}, &page); err != nil {
			return nil, "", err
		}
		orgs := make([]Org, 0, len(page.Data))
		for _, d := range page.Data {
			orgs = append(orgs, Org{ID: d.ID, Name: d.Attributes.Name})
		}
		return orgs, page.Links.nextCursor(), nil
	})
}

func cursorQuery(cursor string) url.Values {
	if cursor == "" {
		return nil
	}
	return url.Values{"cursor": {cursor}}
}

// Workspace is one product instance on one site (v2 workspaces).
type Workspace struct {
	// ID is the product ARI, the value resourceIds, productAccess ids and
	// role assignments use.
	ID      string
	Name    string // the site name
	TypeKey string
	Type    string
	Status  string // online | offline | deprecated
	HostURL string
	// Sandbox is true for sandbox sites (sandbox.type CHILD), which
	// public connectors skip.
	Sandbox bool
}

// Product returns the product key of the workspace's ARI
// ("ari:cloud:jira-software::site/…" → "jira-software").
func (w Workspace) Product() string { return ResourceProduct(w.ID) }

// CloudID returns the site's cloud id from the ARI, "" when it has none.
func (w Workspace) CloudID() string {
	_, id, ok := strings.Cut(w.ID, "::site/")
	if !ok {
		return ""
	}
	return id
}

// ResourceProduct returns the product key of a product ARI, "" when the id
// is not a cloud ARI.
func ResourceProduct(ari string) string {
	rest, ok := strings.CutPrefix(ari, "ari:cloud:")
	if !ok {
		return ""
	}
	product, _, _ := strings.Cut(rest, ":")
	return product
}

type wireWorkspace struct {
	ID         string `json:"id"`
	Attributes struct {
		Name    string `json:"name"`
		TypeKey string `json:"typeKey"`
		Type    string `json:"type"`
		Status  string `json:"status"`
		HostURL string `json:"hostUrl"`
		Sandbox struct {
			Type string `json:"type"`
		} `json:"sandbox"`
	} `json:"attributes"`
}

// Workspaces lists the org's product sites. As published, a request with a
// cursor carries nothing else, so only the first one sets the page size.
func (c *Client) Workspaces(ctx context.Context) iter.Seq2[Workspace, error] {
	return paginate(ctx, "", func(ctx context.Context, cursor string) ([]Workspace, string, error) {
		body := map[string]any{"limit": MaxPageSize}
		if cursor != "" {
			body = map[string]any{"cursor": cursor}
		}
		var page struct {
			Data  []wireWorkspace `json:"data"`
			Links links           `json:"links"`
		}
		if err := c.do(ctx, request{method: http.MethodPost, path: c.v2OrgPath + "/workspaces",
			endpoint: "/admin/v2/orgs/{orgId}/workspaces", body: body, readOnly: true}, &page); err != nil {
			return nil, "", err
		}
		out := make([]Workspace, 0, len(page.Data))
		for _, d := range page.Data {
			a := d.Attributes
			out = append(out, Workspace{ID: d.ID, Name: a.Name, TypeKey: a.TypeKey, Type: a.Type, Status: a.Status,
				HostURL: a.HostURL, Sandbox: strings.EqualFold(a.Sandbox.Type, "CHILD")})
		}
		return out, page.Links.nextCursor(), nil
	})
}

// Domain is a domain of the organization.
type Domain struct {
	ID          string
	Name        string
	ClaimType   string // http | dns
	ClaimStatus string // verified | unverified | deleted | superseded | missing_token
}

// Verified reports whether the domain is verified: its accounts are
// managed by the org.
func (d Domain) Verified() bool { return d.ClaimStatus == "verified" }

// Domains lists the org's domains (v1).
func (c *Client) Domains(ctx context.Context) iter.Seq2[Domain, error] {
	return paginate(ctx, "", func(ctx context.Context, cursor string) ([]Domain, string, error) {
		var page struct {
			Data []struct {
				ID         string `json:"id"`
				Attributes struct {
					Name  string `json:"name"`
					Claim struct {
						Type   string `json:"type"`
						Status string `json:"status"`
					} `json:"claim"`
				} `json:"attributes"`
			} `json:"data"`
			Links links `json:"links"`
		}
		if err := c.do(ctx, request{method: http.MethodGet, path: c.orgPath + "/domains",
			endpoint: "/admin/v1/orgs/{orgId}/domains", query: cursorQuery(cursor)}, &page); err != nil {
			return nil, "", err
		}
		out := make([]Domain, 0, len(page.Data))
		for _, d := range page.Data {
			out = append(out, Domain{ID: d.ID, Name: d.Attributes.Name,
				ClaimType: d.Attributes.Claim.Type, ClaimStatus: d.Attributes.Claim.Status})
		}
		return out, page.Links.nextCursor(), nil
	})
}
