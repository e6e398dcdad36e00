package adminapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/lapsehq/lapse/app/atlassian"
)

// Admin API error codes this client acts on (jira.js
// src/admin/models/applicationError.ts).
const (
	codeInvalidCursor = "ADMIN-400-1"
	codeGroupNotFound = "ADMIN-404-10"
	codeUserNotFound  = "ADMIN-404-8"
)

// Errors a caller can test with errors.Is. The *atlassian.APIError that
// caused them stays in the chain for errors.As.
var (
	// ErrSyncedGroup: the group is synced from an identity provider and
	// Atlassian refuses membership changes; the change belongs in the IdP
	// (DOMAIN.md §0 fact 7).
	ErrSyncedGroup = errors.New("adminapi: group is synced from an identity provider")
	// ErrGroupNotFound: the group does not exist in the directory.
	ErrGroupNotFound = errors.New("adminapi: group not found")
	// ErrUserNotFound: the account is not in the organization.
	ErrUserNotFound = errors.New("adminapi: user not found")
)

// CursorExpiredError reports that Atlassian refused a page cursor it had
// handed out, in practice because it expired while the listing paused (a
// budget wait, a slow consumer). Cursors are opaque, so the listing cannot
// resume where it stopped: the caller starts it again and skips, or
// deduplicates, the Yielded items it already has.
type CursorExpiredError struct {
	Yielded int // items yielded before the failure
	Err     error
}

// Error implements the error interface.
func (e *CursorExpiredError) Error() string {
	return fmt.Sprintf("adminapi: page cursor refused after %d items; restart the listing: %v", e.Yielded, e.Err)
}

// Unwrap returns the *atlassian.APIError.
func (e *CursorExpiredError) Unwrap() error { return e.Err }

// PageError reports that a listing stopped at a page, e.g. with an
// *atlassian.BudgetError when the org's request budget ran out. Cursor is
// the cursor of the page that failed ("" for the first page): pass it as
// the query's Cursor to resume, as long as it has not expired.
type PageError struct {
	Yielded int
	Cursor  string
	Err     error
}

// Error implements the error interface.
func (e *PageError) Error() string {
	return fmt.Sprintf("adminapi: listing stopped after %d items: %v", e.Yielded, e.Err)
}

// Unwrap returns the cause.
func (e *PageError) Unwrap() error { return e.Err }

func apiError(err error) (*atlassian.APIError, bool) {
	var ae *atlassian.APIError
	ok := errors.As(err, &ae)
	return ae, ok
}

// isCursorRefusal reports a 400 about the cursor. Atlassian publishes one
// cursor code (ADMIN-400-1, "Invalid page cursor") and no expiry code, so
// any cursor complaint on a cursor the server issued is treated as expiry.
func isCursorRefusal(err error) bool {
	ae, ok := apiError(err)
	if !ok || ae.Status != http.StatusBadRequest {
		return false
	}
	return ae.Code == codeInvalidCursor || mentions(ae, "cursor")
}

// isSyncedRefusal recognises the refusal to change an IdP-synced group.
// Its status and code are not published (Atlassian documents only the
// wording), so it is matched on the message for a 400 or 403.
func isSyncedRefusal(err error) bool {
	ae, ok := apiError(err)
	if !ok || (ae.Status != http.StatusForbidden && ae.Status != http.StatusBadRequest) {
		return false
	}
	return mentions(ae, "identity provider") || mentions(ae, "synced")
}

func mentions(ae *atlassian.APIError, s string) bool {
	for _, m := range ae.Messages {
		if strings.Contains(strings.ToLower(m), s) {
			return true
		}
	}
	return false
}

func isStatus(err error, status int) bool {
	ae, ok := apiError(err)
	return ok && ae.Status == status
}

func isUnknownOutcome(err error) bool {
	var u *atlassian.UnknownOutcomeError
	return errors.As(err, &u)
}

// classify wraps a write error with the sentinel it stands for.
func classify(err error) error {
	ae, ok := apiError(err)
	switch {
	case !ok:
		return err
	case isSyncedRefusal(err):
		return fmt.Errorf("%w: %w", ErrSyncedGroup, err)
	case ae.Status == http.StatusNotFound && ae.Code == codeGroupNotFound:
		return fmt.Errorf("%w: %w", ErrGroupNotFound, err)
	case ae.Status == http.StatusNotFound && ae.Code == codeUserNotFound:
		return fmt.Errorf("%w: %w", ErrUserNotFound, err)
	}
	return err
}
