// Package privacy reports the accounts whose personal data Lapse stores to
// Atlassian's personal data reporting API, and returns the accounts whose
// data must be erased (closed) or refreshed (updated) (atlassian/DOMAIN.md
// §5). Lapse keeps names, emails and last-active dates as access-review
// evidence, so it must report them on every cycle.
package privacy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/lapsehq/lapse/app/atlassian"
)

// Reporting API facts (DOMAIN §5).
const (
	// DefaultBaseURL is where the API lives.
	DefaultBaseURL = "https://api.atlassian.com"
	// Path is the reporting endpoint.
	Path = "/app/report-accounts/"
	// MaxBatch is the most accounts one request may carry.
	MaxBatch = 90
	// DefaultCyclePeriod is the reporting cycle when the answer names none.
	DefaultCyclePeriod = 7 * 24 * time.Hour
)

// Statuses of accounts that need action.
const (
	StatusClosed  = "closed"  // erase the account's personal data
	StatusUpdated = "updated" // refresh the account's cached data
)

// Config configures a Client.
type Config struct {
	// Transport sends the requests; its BaseURL is DefaultBaseURL in
	// production. Auth is the app's credential: a Forge system token
	// (atlassian.Bearer) or a Connect JWT (connect.TenantAuth). Reporting is not a
	// Jira/Confluence call, so no points are charged.
	Transport *atlassian.Client
}

// Client reports accounts. It is safe for concurrent use.
type Client struct{ http *atlassian.Client }

// New returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Transport == nil {
		return nil, errors.New("privacy: config: Transport is required")
	}
	return &Client{http: cfg.Transport}, nil
}

// Account is an account whose personal data Lapse stores, with the time
// Lapse last fetched that data.
type Account struct {
	AccountID string
	UpdatedAt time.Time
}

// Result lists the accounts that need action, in report order.
type Result struct {
	Closed  []string // erase their personal data
	Updated []string // refresh their data
	// CyclePeriod is how long to wait before reporting the same accounts
	// again, from the Cycle-Period header of the last answer.
	CyclePeriod time.Duration
}

// ReportAccounts reports accounts in batches of MaxBatch, one after the
// other (the Forge runtime fires batches concurrently, which invites burst
// limits). On an error it returns the results of the batches that succeeded
// and which batch failed; reporting those accounts again is harmless.
func (c *Client) ReportAccounts(ctx context.Context, accounts []Account) (Result, error) {
	res := Result{CyclePeriod: DefaultCyclePeriod}
	for start := 0; start < len(accounts); start += MaxBatch {
		batch := accounts[start:min(start+MaxBatch, len(accounts))]
		if err := c.report(ctx, batch, &res); err != nil {
			return res, fmt.Errorf("privacy: report accounts %d–%d of %d: %w", start+1, start+len(batch), len(accounts), err)
		}
	}
	return res, nil
}

// report sends one batch and adds its answer to res.
func (c *Client) report(ctx context.Context, batch []Account, res *Result) error {
	type entry struct {
		AccountID string `json:"accountId"`
		UpdatedAt string `json:"updatedAt"`
	}
	body := struct {
		Accounts []entry `json:"accounts"`
	}{Accounts: make([]entry, len(batch))}
	for i, a := range batch {
		body.Accounts[i] = entry{a.AccountID, a.UpdatedAt.UTC().Format(time.RFC3339)}
	}
	var out struct {
		Accounts []struct {
			AccountID string `json:"accountId"`
			Status    string `json:"status"`
		} `json:"accounts"`
	}
	// Reporting changes nothing at Atlassian: sending a batch twice is safe.
	idempotent := true
	resp, err := c.http.Do(ctx, &atlassian.Request{
		Method: http.MethodPost, Path: Path, Body: body, Endpoint: "POST " + Path, Idempotent: &idempotent,
	}, &out) // a 204 leaves out empty: nothing to do
	if err != nil {
		return err
	}
	for _, a := range out.Accounts {
		switch a.Status {
		case StatusClosed:
			res.Closed = append(res.Closed, a.AccountID)
		case StatusUpdated:
			res.Updated = append(res.Updated, a.AccountID)
		}
	}
	if d, ok := ParseCyclePeriod(resp.Header.Get("Cycle-Period")); ok {
		res.CyclePeriod = d
	}
	return nil
}

// isoDuration matches the ISO 8601 durations a cycle can take: weeks, or
// days and a time part.
var isoDuration = regexp.MustCompile(`^P(?:(\d+)W|(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?)$`)

// ParseCyclePeriod parses a Cycle-Period value such as "P7D" or "PT12H".
// ok is false for an empty, zero or unsupported value (years and months
// have no fixed length).
func ParseCyclePeriod(s string) (d time.Duration, ok bool) {
	m := isoDuration.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	units := []time.Duration{7 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute, time.Second}
	for i, u := range units {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.ParseInt(m[i+1], 10, 32)
		if err != nil {
			return 0, false
		}
		d += time.Duration(n) * u
	}
	return d, d > 0
}
