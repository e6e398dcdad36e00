package web

import (
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/lapsehq/lapse/app"
)

// ownsProductKey reports whether a policy product key belongs to the
// tenant's product family. Jira sites may carry more Jira products than the
// defaults (jira-core, jira-product-discovery), so any jira-* key is a
// Jira tenant's.
func ownsProductKey(t *app.Tenant, key string) bool {
	if !validProductKey(key) {
		return false
	}
	if t.Product == app.ProductConfluence {
		return key == "confluence"
	}
	return strings.HasPrefix(key, "jira-")
}

func validProductKey(key string) bool {
	if key == "" || len(key) > 64 {
		return false
	}
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// policyView is the JSON answer of the policy routes.
type policyView struct {
	Policy *app.Policy `json:"policy"`
	// Products are the product keys of this installation, the keys the
	// policy's products map may use.
	Products []string `json:"products"`
	// Warnings name settings that are valid but weaken the policy or do
	// nothing here (the brake turned off, a warning period without a mail
	// relay); [] when there are none.
	Warnings []string `json:"warnings"`
}

func (s *Server) policyView(p *app.Policy, products []string) policyView {
	return policyView{Policy: withEmptyLists(p), Products: products, Warnings: p.Warnings(s.cfg.MailConfigured)}
}

// policyInput is the body of PUT /policy.
type policyInput struct {
	Policy *app.Policy `json:"policy"`
	// BaseVersion is the version the edit started from; If-Match may carry
	// it instead.
	BaseVersion *int `json:"baseVersion"`
}

// handlePolicyShow returns the tenant's current policy (the default, at
// version 0, until one is saved), with its version as the ETag.
func (s *Server) handlePolicyShow(c *gin.Context) {
	caller := callerOf(c)
	products := caller.Tenant.Product.PolicyProducts()
	p, err := s.store.Policy(c.Request.Context(), caller.Tenant.ID, products)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("ETag", etag(p.Version))
	c.JSON(http.StatusOK, s.policyView(p, products))
}

// handlePolicySave validates and saves a new version of the policy. The
// edit must name the version it started from (baseVersion or If-Match): a
// save over a newer version is refused with 409, so two admins never
// overwrite each other unknowingly.
func (s *Server) handlePolicySave(c *gin.Context) {
	caller := callerOf(c)
	var in policyInput
	if err := readStrictJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	base, err := baseVersion(c, in.BaseVersion)
	if err != nil {
		s.fail(c, err)
		return
	}
	if in.Policy == nil {
		s.fail(c, app.Errorf(app.EINVALID, "policy is required"))
		return
	}
	if err := validatePolicy(caller.Tenant, in.Policy); err != nil {
		s.fail(c, err)
		return
	}
	products := caller.Tenant.Product.PolicyProducts()
	saved, err := s.store.SavePolicy(c.Request.Context(), caller.Tenant.ID, *in.Policy, base, actorOf(caller), products)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("ETag", etag(saved.Version))
	c.JSON(http.StatusOK, s.policyView(saved, products))
}

// withEmptyLists answers absent lists as [] rather than null, so clients
// can iterate them without a check.
func withEmptyLists(p *app.Policy) *app.Policy {
	out := *p
	for _, l := range []*[]string{&out.ExemptGroupIDs, &out.ExemptAccountIDs, &out.ExemptEmailDomains} {
		if *l == nil {
			*l = []string{}
		}
	}
	if out.Products == nil {
		out.Products = map[string]app.ProductRule{}
	}
	return &out
}

// baseVersion reads the version an edit started from, from the body or
// If-Match; when both are given they must agree.
func baseVersion(c *gin.Context, body *int) (int, error) {
	header, ok, err := parseIfMatch(c.GetHeader("If-Match"))
	switch {
	case err != nil:
		return 0, err
	case body != nil && *body < 0:
		return 0, app.Errorf(app.EINVALID, "baseVersion must be 0 or more")
	case body != nil && ok && *body != header:
		return 0, app.Errorf(app.EINVALID, "baseVersion %d and If-Match %d disagree; send one of them", *body, header)
	case body != nil:
		return *body, nil
	case ok:
		return header, nil
	}
	return 0, app.Errorf(app.EINVALID, "baseVersion (or an If-Match header) is required: the version of the policy you edited, so that concurrent edits are detected")
}

// validatePolicy reports every problem of p at once: the domain's rules
// and the product keys this installation may govern.
func validatePolicy(t *app.Tenant, p *app.Policy) error {
	var problems []string
	if err := p.Validate(); err != nil {
		if app.ErrorCode(err) != app.EINVALID {
			return err
		}
		problems = append(problems, strings.TrimPrefix(app.ErrorMessage(err), "invalid policy: "))
	}
	for _, key := range slices.Sorted(maps.Keys(p.Products)) {
		if !ownsProductKey(t, key) {
			problems = append(problems, "products."+truncate(key, 64)+" is not a product of this "+string(t.Product)+" installation (use "+strings.Join(t.Product.PolicyProducts(), ", ")+")")
		}
	}
	return problemsError("invalid policy", problems)
}
