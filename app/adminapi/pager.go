package adminapi

import (
	"context"
	"errors"
	"iter"
	"net/url"
	"strings"
	"time"
)

// fetchFunc fetches the page at cursor ("" = first) and returns its items
// and the next cursor ("" = last page).
type fetchFunc[T any] func(ctx context.Context, cursor string) (items []T, next string, err error)

// errCursorLoop stops a listing whose server hands back the same cursor.
var errCursorLoop = errors.New("adminapi: the server returned the same cursor again")

// paginate turns a page fetcher into an iterator that holds one page at a
// time. An error ends the iteration as a *CursorExpiredError (a cursor the
// server issued was refused) or a *PageError.
func paginate[T any](ctx context.Context, start string, fetch fetchFunc[T]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		cursor, yielded := start, 0
		for {
			items, next, err := fetch(ctx, cursor)
			if err == nil && next != "" && next == cursor {
				err = errCursorLoop
			}
			if err != nil {
				var zero T
				yield(zero, pageError(err, cursor, start, yielded))
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
				yielded++
			}
			if next == "" {
				return
			}
			cursor = next
		}
	}
}

func pageError(err error, cursor, start string, yielded int) error {
	// A refused cursor we got from the server means expiry; a refused
	// caller-supplied start cursor may be expired too.
	if cursor != "" && isCursorRefusal(err) {
		return &CursorExpiredError{Yielded: yielded, Err: err}
	}
	return &PageError{Yielded: yielded, Cursor: cursor, Err: err}
}

// links is LinkPageCursor / LinkPageModel / CursorNextPageModel.
type links struct {
	Next *string `json:"next"`
}

// nextCursor returns the bare cursor of links.next. The v2 models document
// a bare token, the v1 models "a URL to fetch the next page"; third parties
// report bare tokens everywhere (DOMAIN.md §3.7). Both are accepted.
func (l links) nextCursor() string {
	if l.Next == nil {
		return ""
	}
	next := strings.TrimSpace(*l.Next)
	if !strings.HasPrefix(next, "http://") && !strings.HasPrefix(next, "https://") && !strings.HasPrefix(next, "/") {
		return next
	}
	u, err := url.Parse(next)
	if err != nil {
		return next
	}
	if c := u.Query().Get("cursor"); c != "" {
		return c
	}
	return next
}

// pageSize applies the default and the cap to a requested limit.
func pageSize(limit int) int {
	if limit <= 0 || limit > MaxPageSize {
		return MaxPageSize
	}
	return limit
}

// parseTime reads an ISO-8601 timestamp or date. An empty string is the
// zero time; anything unreadable is an error, never "never".
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("adminapi: unreadable timestamp " + s)
}
