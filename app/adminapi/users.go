package adminapi

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"time"
)

// Expand values of users/search, exactly as published: the enum is
// case-sensitive ("PRODUCT_ACCESS" is a 400).
const (
	ExpandPlatformRoles   = "platformRoles"
	ExpandCountsResources = "counts.resources"
	ExpandProductAccess   = "productAccess"
	ExpandGroups          = "groups"
)

// UserQuery filters users/search. Empty fields do not filter.
type UserQuery struct {
	AccountIDs  []string
	ResourceIDs []string // product ARIs (from Workspaces); also narrows ProductAccess
	GroupIDs    []string
	Expand      []string // Expand* constants
	Limit       int      // page size; default and cap MaxPageSize
	// Cursor resumes a listing from PageError.Cursor.
	Cursor string
}

// User is a MultiDirectoryUser.
type User struct {
	AccountID        string
	AccountType      string // atlassian | app | customer
	Status           string // active | suspended | not_invited | deactivated | for_deletion
	AccountStatus    string // active | inactive | closed
	MembershipStatus string // active | suspended | no_membership
	AddedToOrg       time.Time
	Name             string
	Nickname         string
	Email            string // "" when hidden
	ClaimStatus      string // managed | unmanaged
	ManagementSource string // invited | synced; "" when unknown
	PlatformRoles    []string

	// ProductAccess is set only with ExpandProductAccess, and only when the
	// answer carried the field: ProductAccessKnown tells "no products"
	// from "not reported" (DOMAIN.md §8 question 1).
	ProductAccess      []ProductAccess
	ProductAccessKnown bool
	// Groups is set only with ExpandGroups; GroupsKnown as above.
	Groups      []GroupRef
	GroupsKnown bool
}

// ProductAccess is one product on one site the user can access.
type ProductAccess struct {
	Key        string    // product key, e.g. jira-software
	ResourceID string    // the product ARI; key on this, not on Key
	LastActive time.Time // zero: never used
}

// GroupRef is a group the user belongs to (MultiDirectoryUserGroup).
type GroupRef struct {
	ID          string
	Name        string
	Description string
}

// userSearchBody is MultiDirectoryUserSearchRequest.
type userSearchBody struct {
	Cursor      string   `json:"cursor,omitempty"`
	Limit       int      `json:"limit,omitempty"`
	AccountIDs  []string `json:"accountIds,omitempty"`
	ResourceIDs []string `json:"resourceIds,omitempty"`
	GroupIDs    []string `json:"groupIds,omitempty"`
	Expand      []string `json:"expand,omitempty"`
}

// wireUser is MultiDirectoryUser as sent; timestamps are parsed afterwards
// so an unreadable one is an error rather than "never active".
type wireUser struct {
	AccountID        string   `json:"accountId"`
	AccountType      string   `json:"accountType"`
	Status           string   `json:"status"`
	AccountStatus    string   `json:"accountStatus"`
	MembershipStatus string   `json:"membershipStatus"`
	AddedToOrg       string   `json:"addedToOrg"`
	Name             string   `json:"name"`
	Nickname         string   `json:"nickname"`
	Email            string   `json:"email"`
	ClaimStatus      string   `json:"claimStatus"`
	ManagementSource *string  `json:"managementSource"`
	PlatformRoles    []string `json:"platformRoles"`
	ProductAccess    *[]struct {
		Key                 string `json:"key"`
		ID                  string `json:"id"`
		LastActiveTimestamp string `json:"lastActiveTimestamp"`
	} `json:"productAccess"`
	Groups *[]struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Description string `json:"description"`
	} `json:"groups"`
}

type userPage struct {
	Data  []wireUser `json:"data"`
	Links links      `json:"links"`
}

func (w *wireUser) user() (User, error) {
	u := User{
		AccountID: w.AccountID, AccountType: w.AccountType, Status: w.Status, AccountStatus: w.AccountStatus,
		MembershipStatus: w.MembershipStatus, Name: w.Name, Nickname: w.Nickname, Email: w.Email,
		ClaimStatus: w.ClaimStatus, PlatformRoles: w.PlatformRoles,
	}
	if w.ManagementSource != nil {
		u.ManagementSource = *w.ManagementSource
	}
	var err error
	if u.AddedToOrg, err = parseTime(w.AddedToOrg); err != nil {
		return u, fmt.Errorf("user %s addedToOrg: %w", w.AccountID, err)
	}
	if w.ProductAccess != nil {
		u.ProductAccessKnown, u.ProductAccess = true, make([]ProductAccess, 0, len(*w.ProductAccess))
		for _, p := range *w.ProductAccess {
			t, err := parseTime(p.LastActiveTimestamp)
			if err != nil {
				return u, fmt.Errorf("user %s lastActiveTimestamp: %w", w.AccountID, err)
			}
			u.ProductAccess = append(u.ProductAccess, ProductAccess{Key: p.Key, ResourceID: p.ID, LastActive: t})
		}
	}
	if w.Groups != nil {
		u.GroupsKnown, u.Groups = true, make([]GroupRef, 0, len(*w.Groups))
		for _, g := range *w.Groups {
			u.Groups = append(u.Groups, GroupRef(g))
		}
	}
	return u, nil
}

// SearchUsers lists users matching q, page by page, in the server's order.
// An error ends the iteration: *CursorExpiredError when a cursor expired
// mid-listing (restart it), otherwise *PageError.
func (c *Client) SearchUsers(ctx context.Context, q UserQuery) iter.Seq2[User, error] {
	return paginate(ctx, q.Cursor, func(ctx context.Context, cursor string) ([]User, string, error) {
		return c.searchUsersPage(ctx, q, cursor)
	})
}

func (c *Client) searchUsersPage(ctx context.Context, q UserQuery, cursor string) ([]User, string, error) {
	body := userSearchBody{Cursor: cursor, Limit: pageSize(q.Limit), AccountIDs: q.AccountIDs,
		ResourceIDs: q.ResourceIDs, GroupIDs: q.GroupIDs, Expand: q.Expand}
	var page userPage
	err := c.do(ctx, request{method: http.MethodPost, path: c.dirPath + "/users/search",
		endpoint: "/admin/v2/orgs/{orgId}/directories/{directoryId}/users/search", body: body, readOnly: true}, &page)
	if err != nil {
		return nil, "", err
	}
	users := make([]User, 0, len(page.Data))
	for i := range page.Data {
		u, err := page.Data[i].user()
		if err != nil {
			return nil, "", fmt.Errorf("adminapi: users/search: %w", err)
		}
		users = append(users, u)
	}
	return users, page.Links.nextCursor(), nil
}

// LastActive is a user's v1 last-active-dates answer: every product and
// site the user has used, including products it may no longer access.
type LastActive struct {
	AccountID  string
	Products   []ProductActivity
	AddedToOrg time.Time // zero unless the org uses the new user management
}

// ProductActivity is one UserProductLastActive entry.
type ProductActivity struct {
	ResourceID string    // the product ARI
	Key        string    // v1 product key, e.g. jira-service-desk
	LastActive time.Time // last_active_timestamp, else the last_active date
}

type lastActivePage struct {
	Data struct {
		ProductAccess []struct {
			ID                  string `json:"id"`
			Key                 string `json:"key"`
			LastActive          string `json:"last_active"`
			LastActiveTimestamp string `json:"last_active_timestamp"`
		} `json:"product_access"`
		AddedToOrg          string `json:"added_to_org"`
		AddedToOrgTimestamp string `json:"added_to_org_timestamp"`
	} `json:"data"`
	Links links `json:"links"`
}

// LastActiveDates reads one user's last-active dates (v1, one request per
// page, usually one page): the fallback when users/search does not report
// productAccess. A user who never used a product has no Products.
func (c *Client) LastActiveDates(ctx context.Context, accountID string) (*LastActive, error) {
	out := &LastActive{AccountID: accountID}
	for cursor := ""; ; {
		page, err := c.lastActivePage(ctx, accountID, cursor)
		if err != nil {
			return nil, classify(err)
		}
		if err := out.add(page); err != nil {
			return nil, fmt.Errorf("adminapi: last-active-dates of %s: %w", accountID, err)
		}
		next := page.Links.nextCursor()
		if next == "" || next == cursor {
			return out, nil
		}
		cursor = next
	}
}

func (c *Client) lastActivePage(ctx context.Context, accountID, cursor string) (*lastActivePage, error) {
	var q url.Values
	if cursor != "" {
		q = url.Values{"cursor": {cursor}}
	}
	var page lastActivePage
	err := c.do(ctx, request{method: http.MethodGet, query: q,
		path:     c.orgPath + "/directory/users/" + url.PathEscape(accountID) + "/last-active-dates",
		endpoint: "/admin/v1/orgs/{orgId}/directory/users/{accountId}/last-active-dates"}, &page)
	return &page, err
}

func (l *LastActive) add(page *lastActivePage) error {
	added, err := parseTime(orDefault(page.Data.AddedToOrgTimestamp, page.Data.AddedToOrg))
	if err != nil {
		return err
	}
	if !added.IsZero() {
		l.AddedToOrg = added
	}
	for _, p := range page.Data.ProductAccess {
		t, err := parseTime(orDefault(p.LastActiveTimestamp, p.LastActive))
		if err != nil {
			return err
		}
		l.Products = append(l.Products, ProductActivity{ResourceID: p.ID, Key: p.Key, LastActive: t})
	}
	return nil
}

// detectSample is how many users DetectBulkProductAccess looks at.
const detectSample = 10

// DetectBulkProductAccess reports whether users/search returns productAccess
// for users of resourceID, with one small request. It answers false, and the
// caller falls back to LastActiveDates per user, when the expand value is
// refused with a 400, when the answer carries no productAccess, or when no
// user of the resource carries any entry although the resourceIds filter
// says each one can access it. It also answers false when the resource has
// no users: there is nothing to prove the bulk path with, and the fallback
// is always correct.
func (c *Client) DetectBulkProductAccess(ctx context.Context, resourceID string) (bool, error) {
	users, _, err := c.searchUsersPage(ctx, UserQuery{ResourceIDs: []string{resourceID},
		Expand: []string{ExpandProductAccess}, Limit: detectSample}, "")
	switch {
	case isStatus(err, http.StatusBadRequest):
		return false, nil
	case err != nil:
		return false, err
	}
	for _, u := range users {
		if u.ProductAccessKnown && len(u.ProductAccess) > 0 {
			return true, nil
		}
	}
	return false, nil
}
