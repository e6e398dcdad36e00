package jira

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"slices"
	"strconv"
)

// Group is a Jira group. The id is stable; names can change.
type Group struct {
	ID   string `json:"groupId"`
	Name string `json:"name"`
}

// User is a Jira user as group/member and users/search describe it.
// EmailAddress may be empty, depending on the user's privacy settings.
type User struct {
	AccountID    string `json:"accountId"`
	AccountType  string `json:"accountType"` // atlassian | app | customer | unknown
	DisplayName  string `json:"displayName"`
	EmailAddress string `json:"emailAddress"`
	Active       bool   `json:"active"`
}

// IsSiteAdmin reports whether the account holds the ADMINISTER global
// permission on the site ("Get bulk permissions", Connect scope READ).
// Connect apps may ask this for any account from the app server.
func (c *Client) IsSiteAdmin(ctx context.Context, accountID string) (bool, error) {
	if accountID == "" {
		// Without an accountId Jira answers for the app user.
		return false, errors.New("jira: is site admin: empty account id")
	}
	body := map[string]any{"accountId": accountID, "globalPermissions": []string{"ADMINISTER"}}
	var out struct {
		GlobalPermissions []string `json:"globalPermissions"`
	}
	req := c.read(http.MethodPost, "/rest/api/3/permissions/check", nil, body, 1,
		func() int { return len(out.GlobalPermissions) })
	if _, err := c.http.Do(ctx, req, &out); err != nil {
		return false, err
	}
	return slices.Contains(out.GlobalPermissions, "ADMINISTER"), nil
}

// Groups iterates over the site's groups ("Bulk get groups", Connect scope
// ADMIN). Iteration stops at the first error, which is yielded.
func (c *Client) Groups(ctx context.Context) iter.Seq2[Group, error] {
	return pageBeans[Group](ctx, c, "/rest/api/3/group/bulk", url.Values{}, c.pageSizeFor(MaxGroupPage))
}

// GroupMembers iterates over the members of a group ("Get users from
// group", Connect scope ADMIN), with deactivated accounts when
// includeInactive is set (Jira leaves them out by default).
func (c *Client) GroupMembers(ctx context.Context, groupID string, includeInactive bool) iter.Seq2[User, error] {
	q := url.Values{"groupId": {groupID}, "includeInactiveUsers": {strconv.FormatBool(includeInactive)}}
	return pageBeans[User](ctx, c, "/rest/api/3/group/member", q, c.pageSizeFor(MaxMemberPage))
}

// UserGroups returns the groups an account belongs to (Connect scope
// READ). Per-user lookups are expensive across a whole site (DOMAIN §4.8):
// derive memberships from GroupMembers for scans.
func (c *Client) UserGroups(ctx context.Context, accountID string) ([]Group, error) {
	// The answer is not paged; 50 groups is a generous reservation that
	// the settlement corrects.
	const estimate = 50
	var out []Group
	req := c.read(http.MethodGet, "/rest/api/3/user/groups", url.Values{"accountId": {accountID}}, nil, estimate,
		func() int { return len(out) })
	if _, err := c.http.Do(ctx, req, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Users iterates over every account of the site, active or not, including
// app and customer accounts ("Get all users"). Connect apps cannot call it
// (INACCESSIBLE); Forge apps can.
func (c *Client) Users(ctx context.Context) iter.Seq2[User, error] {
	return func(yield func(User, error) bool) {
		size := c.pageSizeFor(MaxUserPage)
		for start := 0; ; {
			var page []User
			q := url.Values{"startAt": {strconv.Itoa(start)}, "maxResults": {strconv.Itoa(size)}}
			req := c.read(http.MethodGet, "/rest/api/3/users/search", q, nil, size, func() int { return len(page) })
			if _, err := c.http.Do(ctx, req, &page); err != nil {
				yield(User{}, err)
				return
			}
			// The answer is a bare array without isLast, and Jira may
			// return fewer than asked before the end (DOMAIN §1.1, §8.4):
			// only an empty page ends the list.
			if len(page) == 0 {
				return
			}
			for _, u := range page {
				if !yield(u, nil) {
					return
				}
			}
			start += len(page)
		}
	}
}

// pageBean is Jira's PageBean.
type pageBean[T any] struct {
	StartAt    int  `json:"startAt"`
	MaxResults int  `json:"maxResults"`
	Total      int  `json:"total"`
	IsLast     bool `json:"isLast"`
	Values     []T  `json:"values"`
}

// pageBeans walks a PageBean endpoint. The offset advances by the number of
// items received, not by the size asked for, because Jira lowers maxResults
// to its cap; isLast ends the walk.
func pageBeans[T any](ctx context.Context, c *Client, path string, q url.Values, size int) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		for start := 0; ; {
			var page pageBean[T]
			pq := cloneQuery(q)
			pq.Set("startAt", strconv.Itoa(start))
			pq.Set("maxResults", strconv.Itoa(size))
			req := c.read(http.MethodGet, path, pq, nil, size, func() int { return len(page.Values) })
			if _, err := c.http.Do(ctx, req, &page); err != nil {
				yield(zero, err)
				return
			}
			for _, v := range page.Values {
				if !yield(v, nil) {
					return
				}
			}
			if page.IsLast {
				return
			}
			if len(page.Values) == 0 {
				// Asking again would loop forever; stopping silently would
				// pass a truncated list off as complete.
				yield(zero, fmt.Errorf("jira: GET %s: empty page at startAt %d is not marked last", path, start))
				return
			}
			start += len(page.Values)
		}
	}
}

func cloneQuery(q url.Values) url.Values {
	out := make(url.Values, len(q)+2)
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}
