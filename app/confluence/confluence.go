package confluence

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Group is a Confluence group.
type Group struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// User is a Confluence user. Email may be empty, depending on the user's
// privacy settings.
type User struct {
	AccountID   string `json:"accountId"`
	AccountType string `json:"accountType"`
	DisplayName string `json:"displayName"`
	PublicName  string `json:"publicName"`
	Email       string `json:"email"`
}

// operation is an OperationCheckResult of a user expanded with operations.
type operation struct {
	Operation  string `json:"operation"`
	TargetType string `json:"targetType"`
}

// IsSiteAdmin reports whether the account administers Confluence: its
// operations include {"administer", "application"}. The reference does not
// list the "application" target type, but the API returns it and it is the
// documented community answer for this check (DOMAIN §2; community thread
// 29678).
func (c *Client) IsSiteAdmin(ctx context.Context, accountID string) (bool, error) {
	if accountID == "" {
		return false, errors.New("confluence: is site admin: empty account id")
	}
	var out struct {
		Operations []operation `json:"operations"`
	}
	q := url.Values{"accountId": {accountID}, "expand": {"operations"}}
	if _, err := c.http.Do(ctx, c.get("/rest/api/user", "/wiki/rest/api/user", q, 1, func() int { return 1 }), &out); err != nil {
		return false, err
	}
	return slices.Contains(out.Operations, operation{"administer", "application"}), nil
}

// Groups iterates over the site's groups, alphabetically (Connect scope
// READ). Iteration stops at the first error, which is yielded.
func (c *Client) Groups(ctx context.Context) iter.Seq2[Group, error] {
	return pages[Group](ctx, c, "/rest/api/group", "/wiki/rest/api/group", nil)
}

// GroupMembers iterates over the members of a group (membersByGroupId,
// Connect scope READ), whatever their account status.
func (c *Client) GroupMembers(ctx context.Context, groupID string) iter.Seq2[User, error] {
	path := "/rest/api/group/" + url.PathEscape(groupID) + "/membersByGroupId"
	return pages[User](ctx, c, path, "/wiki/rest/api/group/{groupId}/membersByGroupId", nil)
}

// UserGroups iterates over the groups an account belongs to (user/memberof,
// Connect scope READ).
func (c *Client) UserGroups(ctx context.Context, accountID string) iter.Seq2[Group, error] {
	return pages[Group](ctx, c, "/rest/api/user/memberof", "/wiki/rest/api/user/memberof", url.Values{"accountId": {accountID}})
}

// list is a v1 paged list. _links.next, relative to _links.base, is present
// while more items follow.
type list[T any] struct {
	Results []T `json:"results"`
	Start   int `json:"start"`
	Limit   int `json:"limit"`
	Size    int `json:"size"`
	Links   struct {
		Next string `json:"next"`
	} `json:"_links"`
}

// pages walks a v1 list by following _links.next, which carries the offset
// Confluence chose (it may lower the limit), until a page has none.
func pages[T any](ctx context.Context, c *Client, path, endpoint string, q url.Values) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		query := cloneQuery(q)
		query.Set("start", "0")
		query.Set("limit", strconv.Itoa(c.pageSize))
		for {
			var page list[T]
			req := c.get(path, endpoint, query, c.pageSize, func() int { return len(page.Results) })
			if _, err := c.http.Do(ctx, req, &page); err != nil {
				yield(zero, err)
				return
			}
			for _, v := range page.Results {
				if !yield(v, nil) {
					return
				}
			}
			if page.Links.Next == "" {
				return
			}
			next, err := nextPage(path, page.Links.Next)
			if err == nil && len(page.Results) == 0 {
				err = fmt.Errorf("confluence: %s: empty page with a next link", endpoint)
			}
			if err != nil {
				yield(zero, err)
				return
			}
			query = next
		}
	}
}

// nextPage returns the query of a next link. The link must lead to the
// same list: it is relative to the wiki base ("/rest/api/group?…") or, on
// some deployments, absolute; either way only its query is used, so a link
// can never move the request to another path or host.
func nextPage(path, next string) (url.Values, error) {
	u, err := url.Parse(next)
	if err != nil {
		return nil, fmt.Errorf("confluence: next link %q: %w", next, err)
	}
	if !strings.HasSuffix(u.EscapedPath(), path) {
		return nil, fmt.Errorf("confluence: next link %q leaves %s", next, path)
	}
	return u.Query(), nil
}

func cloneQuery(q url.Values) url.Values {
	out := make(url.Values, len(q)+2)
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}
