package adminapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
)

// MembershipResult describes how a membership change ended.
type MembershipResult struct {
	// AlreadyRemoved: the user was not a member, so nothing was removed.
	AlreadyRemoved bool
	// AlreadyMember: the API said the user was already a member (409).
	AlreadyMember bool
	// ReadBack: an answer was lost and the state was read back to decide.
	ReadBack bool
	// Sent is how many times the write was sent (at most 2).
	Sent int
}

// membershipWrite is one add or remove: how to send it, and which state
// means it is done.
type membershipWrite struct {
	name      string
	send      func(ctx context.Context) error
	doneState bool // membership state that means done: false for remove
}

// RemoveMembership removes accountID from groupID. The write is never
// repeated blindly: when its answer is lost (*atlassian.UnknownOutcomeError)
// the membership is read back, and the removal is sent once more only if the
// user is still a member. A "not a member" 404 is success with
// AlreadyRemoved. IdP-synced groups fail with ErrSyncedGroup.
func (c *Client) RemoveMembership(ctx context.Context, groupID, accountID string) (MembershipResult, error) {
	w := membershipWrite{name: "remove", doneState: false, send: func(ctx context.Context) error {
		return c.do(ctx, request{method: http.MethodDelete,
			path:     c.groupPath(groupID) + "/memberships/" + url.PathEscape(accountID),
			endpoint: "/admin/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/memberships/{accountId}"}, nil)
	}}
	return c.writeMembership(ctx, groupID, accountID, w)
}

// AddMembership adds accountID to groupID, with the same read-back rule as
// RemoveMembership. IdP-synced groups fail with ErrSyncedGroup.
func (c *Client) AddMembership(ctx context.Context, groupID, accountID string) (MembershipResult, error) {
	w := membershipWrite{name: "add", doneState: true, send: func(ctx context.Context) error {
		return c.do(ctx, request{method: http.MethodPost, path: c.groupPath(groupID) + "/memberships",
			endpoint: "/admin/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/memberships",
			body:     map[string]string{"accountId": accountID}}, nil)
	}}
	return c.writeMembership(ctx, groupID, accountID, w)
}

func (c *Client) writeMembership(ctx context.Context, groupID, accountID string, w membershipWrite) (MembershipResult, error) {
	var res MembershipResult
	wrap := func(err error) error {
		return fmt.Errorf("adminapi: %s account %s, group %s: %w", w.name, accountID, groupID, err)
	}
	for {
		res.Sent++
		err := w.send(ctx)
		switch {
		case err == nil:
			return res, nil
		case isUnknownOutcome(err):
			res.ReadBack = true
			member, rerr := c.isMember(ctx, groupID, accountID)
			if rerr != nil {
				return res, wrap(errors.Join(err, fmt.Errorf("read back: %w", rerr)))
			}
			if member == w.doneState {
				return res, nil
			}
			if res.Sent == 2 {
				return res, wrap(err)
			}
		case !w.doneState && isStatus(err, http.StatusNotFound):
			return c.removeNotFound(ctx, groupID, accountID, res, err, wrap)
		case w.doneState && isStatus(err, http.StatusConflict):
			res.AlreadyMember = true
			return res, nil
		default:
			return res, wrap(classify(err))
		}
	}
}

// removeNotFound decides what a 404 on a removal means. "Group not found"
// has a published code; how "not a member" and "unknown user" differ is not
// published, so the membership is read back: a user who exists and is not
// in the group is already removed.
func (c *Client) removeNotFound(ctx context.Context, groupID, accountID string, res MembershipResult,
	err error, wrap func(error) error) (MembershipResult, error) {
	if ae, _ := apiError(err); ae.Code == codeGroupNotFound {
		return res, wrap(classify(err))
	}
	res.ReadBack = true
	member, rerr := c.isMember(ctx, groupID, accountID)
	switch {
	case rerr != nil:
		return res, wrap(errors.Join(classify(err), rerr))
	case member:
		return res, wrap(err)
	}
	res.AlreadyRemoved = true
	return res, nil
}

// IsMember reports whether the account is a member of the group, read
// through users/search: how a write whose outcome is unknown is settled
// without writing again.
func (c *Client) IsMember(ctx context.Context, groupID, accountID string) (bool, error) {
	return c.isMember(ctx, groupID, accountID)
}

// isMember reads the membership back through users/search. It prefers the
// groups expand; if the answer lacks it, a groupIds filter decides.
func (c *Client) isMember(ctx context.Context, groupID, accountID string) (bool, error) {
	users, _, err := c.searchUsersPage(ctx, UserQuery{AccountIDs: []string{accountID}, Expand: []string{ExpandGroups}, Limit: 1}, "")
	switch {
	case err != nil:
		return false, err
	case len(users) == 0:
		return false, ErrUserNotFound
	case users[0].GroupsKnown:
		return slices.ContainsFunc(users[0].Groups, func(g GroupRef) bool { return g.ID == groupID }), nil
	}
	users, _, err = c.searchUsersPage(ctx, UserQuery{AccountIDs: []string{accountID}, GroupIDs: []string{groupID}, Limit: 1}, "")
	return len(users) > 0, err
}
