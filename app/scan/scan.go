// Package scan runs one tenant's scan: read the access inventory through
// the Admin API, evaluate the policy for every account, store the snapshot,
// check the safety brake and, in enforce mode, remove the memberships that
// grant unused products — each removal recorded as an intent before the call
// and completed, with its audit event, after it. A scan that dies resumes
// from those records without repeating a write.
package scan

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/adminapi"
	"github.com/lapsehq/lapse/app/atlassian"
	"github.com/lapsehq/lapse/app/inventory"
	"github.com/lapsehq/lapse/app/policy"
	"github.com/lapsehq/lapse/app/store"
)

// ClientFunc builds the Admin API client of a tenant's organization.
type ClientFunc func(ctx context.Context, t *app.Tenant, conn *app.OrgConnection) (*adminapi.Client, error)

// Runner runs scans. It is safe for concurrent use across tenants; the
// store keeps one scan per tenant at a time.
type Runner struct {
	Store  *store.Store
	Client ClientFunc
	// QueueWarnings queues a warning e-mail for each account that a scan in
	// enforce mode finds pending removal (policy warningDays > 0) and that
	// has an e-mail address. Set it only when a mailer delivers the queue
	// (SMTP configured); otherwise the report alone shows pending accounts.
	QueueWarnings bool
	NowFunc       func() time.Time
	Logger        *slog.Logger
}

// Summary is what a scan records about itself.
type Summary struct {
	Accounts        int                 `json:"accounts"`
	Decisions       policy.Summary      `json:"decisions"`
	Brake           *policy.BrakeResult `json:"brake,omitempty"`
	ActivitySource  string              `json:"activitySource"`
	RemovalsPlanned int                 `json:"removalsPlanned"`
	RemovalsDone    int                 `json:"removalsDone"`
	RemovalsSkipped int                 `json:"removalsSkipped"` // already gone when Lapse got there
	RemovalsFailed  int                 `json:"removalsFailed"`
	HandoffAccounts int                 `json:"handoffAccounts"`
	WarningsQueued  int                 `json:"warningsQueued,omitempty"`
	DurationMillis  int64               `json:"durationMs"`
	// API is what the scan spent on Atlassian's APIs, across all its
	// attempts (deferred, interrupted, killed and resumed): requests sent
	// (retries included), 429 answers, Jira/Confluence points. It is the
	// running total the attempts add to as they go (store.AddScanUsage).
	API              app.APIUsage `json:"api"`
	IncompleteReason string       `json:"incompleteReason,omitempty"`
}

// setRemovalCounts takes the summary's removal counts from the scan's
// durable records, not from what one attempt counted: a resumed scan's
// earlier attempts did removals too. RemovalsDone equals the scan's
// access.removed events.
func (s *Summary) setRemovalCounts(c app.ScanActionCounts) {
	s.RemovalsDone = c.Done
	s.RemovalsSkipped = c.AlreadyRemoved
	s.RemovalsFailed = c.Failed
}

// plannedCount is how many removals the scan plans over all its attempts:
// the fresh plan and what earlier attempts recorded (a membership an
// earlier attempt removed is no longer in a fresh inventory).
func (r *Runner) plannedCount(ctx context.Context, tenantID, scanID string, fresh []app.ScanAction) (int, error) {
	recorded, err := r.Store.ScanActions(ctx, tenantID, scanID, "")
	if err != nil {
		return 0, err
	}
	keys := map[[2]string]bool{}
	for _, a := range slices.Concat(fresh, recorded) {
		keys[[2]string{a.AccountID, a.GroupID}] = true
	}
	return len(keys), nil
}

// errCancelled stops a scan that was cancelled (by an admin, or because its
// tenant was disabled or uninstalled), at a safe point: between two
// accounts' evaluation batches or two removals.
var errCancelled = store.ErrScanCancelled

// checkCancelled returns errCancelled when the scan has been cancelled.
func (r *Runner) checkCancelled(ctx context.Context, tenantID, scanID string) error {
	cancelled, err := r.Store.ScanCancelled(ctx, tenantID, scanID)
	switch {
	case err != nil:
		return err
	case cancelled:
		return errCancelled
	}
	return nil
}

func (r *Runner) now() time.Time {
	if r.NowFunc != nil {
		return r.NowFunc()
	}
	return time.Now()
}

func (r *Runner) log() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// Run runs a scan of one tenant: the queued scan scanID, or a new one when
// scanID is "". A scan found running (its worker died) resumes: the
// intents it left are reconciled first. An approved scan (a held run an
// admin approved) carries out the removals of its stored snapshot.
func (r *Runner) Run(ctx context.Context, tenantID, scanID string, trigger app.ScanTrigger) (*app.ScanRun, error) {
	t, conn, err := r.tenantAndConnection(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	run, pol, err := r.begin(ctx, t, scanID, trigger)
	if err != nil {
		return run, err
	}
	start := r.now()
	var sum Summary
	var status app.ScanStatus
	var runErr error
	client, err := r.Client(ctx, t, conn)
	if err != nil {
		status, runErr = app.ScanFailed, err
		// What earlier attempts spent still belongs in the summary.
		if sum.API, err = r.Store.AddScanUsage(ctx, tenantID, run.ID, app.APIUsage{}); err != nil {
			return run, err
		}
	} else {
		m := r.meter(tenantID, run.ID, client)
		stop := m.flushEvery(ctx, usageFlushInterval)
		if run.Status == app.ScanApproved {
			sum, status, runErr = r.executeApproved(ctx, t, client, run, m)
		} else {
			sum, status, runErr = r.execute(ctx, t, conn, client, pol, run, m)
		}
		stop()
		// Flushed even when the attempt is cut short, on a context that is
		// not: an interrupted attempt's requests count for the scan.
		sum.API, err = m.flush(context.WithoutCancel(ctx))
		if err != nil {
			return run, err
		}
	}
	sum.DurationMillis = r.now().Sub(start).Milliseconds()
	if errors.Is(runErr, errCancelled) {
		status, runErr = app.ScanCancelled, nil
	}
	if ctx.Err() != nil {
		// Shutdown or job timeout: the scan stays running, and the next
		// worker to pick the job up resumes it from its records instead of
		// the trail showing a failure that was only a restart.
		return run, ctx.Err()
	}
	errText := ""
	if runErr != nil {
		errText = runErr.Error()
		r.log().WarnContext(ctx, "scan stopped", "tenant_id", tenantID, "scan_id", run.ID, "status", status, "err", runErr)
	}
	counts, err := r.Store.ScanActionCounts(ctx, tenantID, run.ID)
	if err != nil {
		return run, err
	}
	sum.setRemovalCounts(counts)
	finished, err := r.Store.FinishScan(context.WithoutCancel(ctx), tenantID, run.ID, status, sum, errText)
	if err != nil {
		return nil, err
	}
	if finished.Status == app.ScanCancelled {
		// Cancelled while it ran: a removal stopped by a budget or network
		// error may have left its intent open; settle it without writing.
		if err := r.Settle(ctx, tenantID, run.ID); err != nil {
			return finished, err
		}
		return r.Store.Scan(ctx, tenantID, run.ID)
	}
	return finished, runErr
}

// Settle completes the open intents of a cancelled scan by reading each
// membership back, never by writing: a membership that is gone was removed
// by the scan before it stopped (done, audited as access.removed); one that
// is still there is marked cancelled. The scheduler calls it when a job of a
// cancelled scan is delivered (a worker that died, a deferred scan), so no
// removal of a cancelled scan goes unrecorded.
//
// Its summary's removal counts and API usage are then brought up to date
// from the records, so that they agree with the audit log however the scan
// ended (a cancelled scan whose worker died never wrote its own summary).
func (r *Runner) Settle(ctx context.Context, tenantID, scanID string) error {
	open, err := r.Store.ScanActions(ctx, tenantID, scanID, app.ActionIntent)
	if err != nil {
		return err
	}
	var usage app.APIUsage
	if len(open) > 0 {
		client, err := r.tenantClient(ctx, tenantID)
		if err != nil {
			return err
		}
		m := r.meter(tenantID, scanID, client)
		err = r.settleOpen(ctx, tenantID, scanID, client, open)
		if usage, err = flushAfter(ctx, m, err); err != nil {
			return err
		}
	} else if usage, err = r.Store.AddScanUsage(ctx, tenantID, scanID, app.APIUsage{}); err != nil {
		return err
	}
	return r.refreshSummary(ctx, tenantID, scanID, usage)
}

// flushAfter flushes m's usage after a step that returned err, and returns
// the scan's usage and the step's error (or the flush's).
func flushAfter(ctx context.Context, m *meter, err error) (app.APIUsage, error) {
	usage, ferr := m.flush(context.WithoutCancel(ctx))
	return usage, cmp.Or(err, ferr)
}

// refreshSummary rewrites a finished scan's removal counts and API usage
// from its records.
func (r *Runner) refreshSummary(ctx context.Context, tenantID, scanID string, usage app.APIUsage) error {
	run, err := r.Store.Scan(ctx, tenantID, scanID)
	if err != nil {
		return err
	}
	var sum Summary
	_ = json.Unmarshal(run.Summary, &sum)
	counts, err := r.Store.ScanActionCounts(ctx, tenantID, scanID)
	if err != nil {
		return err
	}
	sum.setRemovalCounts(counts)
	sum.API = usage
	return r.Store.UpdateScanSummary(ctx, tenantID, scanID, sum)
}

// settleOpen reads back each open intent of a cancelled scan and records
// its outcome.
func (r *Runner) settleOpen(ctx context.Context, tenantID, scanID string, client *adminapi.Client, open []app.ScanAction) error {
	decisions, err := r.snapshotRemovals(ctx, tenantID, scanID)
	if err != nil {
		return err
	}
	for _, a := range open {
		member, err := client.IsMember(ctx, a.GroupID, a.AccountID)
		switch {
		case errors.Is(err, adminapi.ErrUserNotFound):
			a.State, a.Outcome = app.ActionFailed, err.Error()
			err = r.Store.CompleteAction(ctx, tenantID, a, nil)
		case err != nil:
			return err
		case member:
			a.State, a.Outcome = app.ActionCancelled, "scan cancelled; still a member, not removed"
			err = r.Store.CompleteAction(ctx, tenantID, a, nil)
		default:
			a.State, a.Outcome = app.ActionDone, app.ActionOutcomeRemovedBeforeCancel
			ev := app.RemovalEvidenceOf(a, false, true, decisions[a.AccountID])
			err = r.Store.CompleteAction(ctx, tenantID, a, &ev)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// tenantAndConnection loads the tenant and its organization connection.
func (r *Runner) tenantAndConnection(ctx context.Context, tenantID string) (*app.Tenant, *app.OrgConnection, error) {
	t, err := r.Store.FindTenantByID(ctx, tenantID)
	if err != nil {
		return nil, nil, err
	}
	conn, err := r.Store.OrgConnection(ctx, tenantID)
	return t, conn, err
}

// tenantClient builds the Admin API client of the tenant's organization.
func (r *Runner) tenantClient(ctx context.Context, tenantID string) (*adminapi.Client, error) {
	t, conn, err := r.tenantAndConnection(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	return r.Client(ctx, t, conn)
}

// snapshotRemovals returns the scan's remove decisions by account, from its
// stored snapshot.
func (r *Runner) snapshotRemovals(ctx context.Context, tenantID, scanID string) (map[string][]app.Decision, error) {
	var ds []app.Decision
	err := r.Store.ScanAccounts(ctx, tenantID, scanID, func(a app.ScanAccount) error {
		ds = append(ds, a.Decisions...)
		return nil
	})
	return decisionsByAccount(ds), err
}

// begin starts the scan, or picks up one that a dead worker left running
// or an admin approved, with the policy version it runs under.
func (r *Runner) begin(ctx context.Context, t *app.Tenant, scanID string, trigger app.ScanTrigger) (*app.ScanRun, *app.Policy, error) {
	tenantID, products := t.ID, t.Product.PolicyProducts()
	if scanID != "" {
		existing, err := r.Store.Scan(ctx, tenantID, scanID)
		if err != nil {
			return nil, nil, err
		}
		if existing.Status == app.ScanRunning || existing.Status == app.ScanApproved {
			pol, err := r.Store.PolicyVersion(ctx, tenantID, existing.PolicyVersion)
			if app.ErrorCode(err) == app.ENOTFOUND && existing.PolicyVersion == 0 {
				pol, err = r.Store.Policy(ctx, tenantID, products)
			}
			return existing, pol, err
		}
	}
	pol, err := r.Store.Policy(ctx, tenantID, products)
	if err != nil {
		return nil, nil, err
	}
	run, err := r.Store.StartScan(ctx, tenantID, scanID, trigger, pol)
	return run, pol, err
}

// executeApproved carries out an approved scan from its stored snapshot:
// the decisions the admin approved, not a fresh reading.
func (r *Runner) executeApproved(ctx context.Context, t *app.Tenant, client *adminapi.Client, run *app.ScanRun, m *meter) (Summary, app.ScanStatus, error) {
	var sum Summary
	if err := json.Unmarshal(run.Summary, &sum); err != nil {
		return sum, app.ScanFailed, err
	}
	var decisions []app.Decision
	err := r.Store.ScanAccounts(ctx, t.ID, run.ID, func(a app.ScanAccount) error {
		decisions = append(decisions, a.Decisions...)
		return nil
	})
	if err != nil {
		return sum, app.ScanFailed, err
	}
	if err := r.act(ctx, t.ID, client, plannedRemovals(run.ID, decisions), decisions, m); err != nil {
		return sum, statusOf(err), err
	}
	return sum, app.ScanCompleted, nil
}

func (r *Runner) execute(ctx context.Context, t *app.Tenant, conn *app.OrgConnection, client *adminapi.Client, pol *app.Policy, run *app.ScanRun, m *meter) (Summary, app.ScanStatus, error) {
	var sum Summary
	plan, err := inventory.Prepare(ctx, client, inventory.Options{CloudID: t.CloudID, SiteURL: t.BaseURL, Family: string(t.Product), ActivitySource: conn.ActivitySource})
	if err != nil {
		return sum, statusOf(err), err
	}
	sum.ActivitySource = plan.ActivitySource
	warn := r.QueueWarnings && pol.Mode == app.ModeEnforce && pol.WarningDays > 0
	decisions, notices, err := r.evaluate(ctx, t, run.ID, plan, pol, warn, &sum, m)
	if err != nil {
		return sum, statusOf(err), err
	}
	if sum.WarningsQueued, err = r.Store.QueueWarnings(ctx, t.ID, run.ID, notices); err != nil {
		return sum, app.ScanFailed, err
	}
	sum.Decisions = policy.Summarize(decisions)
	brake := policy.CheckBrake(*pol, decisions, usersPerProduct(decisions))
	sum.Brake = &brake
	removals := plannedRemovals(run.ID, decisions)
	if sum.RemovalsPlanned, err = r.plannedCount(ctx, t.ID, run.ID, removals); err != nil {
		return sum, app.ScanFailed, err
	}
	handoff := handoffList(decisions)
	sum.HandoffAccounts = len(handoff)
	if err := r.Store.RecordHandoff(ctx, t.ID, run.ID, handoff); err != nil {
		return sum, app.ScanFailed, err
	}
	// A dry run removes nothing, so it is never held: its summary shows
	// whether the brake would have held an enforced run.
	if pol.Mode != app.ModeEnforce {
		return sum, app.ScanCompleted, nil
	}
	if brake.Held {
		return sum, app.ScanHeld, nil
	}
	if err := r.act(ctx, t.ID, client, removals, decisions, m); err != nil {
		return sum, statusOf(err), err
	}
	return sum, app.ScanCompleted, nil
}

// evaluate streams the inventory, evaluates every account and stores the
// snapshot in batches; it returns the decisions (small: a few per account)
// and, when warn is set, a warning notice for each pending decision of an
// account with an e-mail address.
func (r *Runner) evaluate(ctx context.Context, t *app.Tenant, scanID string, plan *inventory.Plan, pol *app.Policy, warn bool, sum *Summary, m *meter) ([]app.Decision, []app.WarningNotice, error) {
	var all []app.Decision
	var notices []app.WarningNotice
	batch := make([]app.ScanAccount, 0, 200)
	flush := func() error {
		err := r.Store.SaveScanAccounts(ctx, t.ID, scanID, batch)
		batch = batch[:0]
		if err != nil {
			return err
		}
		if _, err := m.flush(ctx); err != nil {
			return err
		}
		return r.checkCancelled(ctx, t.ID, scanID)
	}
	now := r.now()
	for acc, err := range plan.Accounts(ctx) {
		if err != nil {
			return nil, nil, err
		}
		facts := acc.Facts()
		ds := policy.Evaluate(*pol, facts, now)
		all = append(all, ds...)
		if warn {
			notices = append(notices, warningNotices(t, facts, ds)...)
		}
		batch = append(batch, app.ScanAccount{Facts: facts, Decisions: ds})
		sum.Accounts++
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return nil, nil, err
			}
		}
	}
	return all, notices, flush()
}

// warningNotices are the e-mails owed to one account: one per product it
// is pending removal from, when it has an address to write to.
func warningNotices(t *app.Tenant, facts app.AccountFacts, ds []app.Decision) []app.WarningNotice {
	if facts.Email == "" {
		return nil
	}
	var out []app.WarningNotice
	for _, d := range ds {
		if d.Outcome != app.OutcomePending || d.RemovalDue == nil {
			continue
		}
		out = append(out, app.WarningNotice{
			AccountID: d.AccountID, Product: d.Product, RemovalDue: *d.RemovalDue, LastActive: d.LastActive,
			Email: facts.Email, DisplayName: facts.Name, SiteURL: t.BaseURL,
		})
	}
	return out
}

// handoffList lists the inactive accounts whose access comes only through
// IdP-synced groups, with those groups: Lapse cannot edit them.
func handoffList(ds []app.Decision) []app.HandoffAccount {
	var out []app.HandoffAccount
	for _, d := range ds {
		if d.Outcome != app.OutcomeHandoff {
			continue
		}
		var groups []string
		for _, g := range d.HandoffGroups {
			groups = append(groups, g.GroupName)
		}
		out = append(out, app.HandoffAccount{AccountID: d.AccountID, Product: d.Product, Groups: groups,
			LastActive: d.LastActive, DaysInactive: d.DaysInactive, Rule: d.Rule})
	}
	return out
}

func usersPerProduct(ds []app.Decision) map[string]int {
	out := map[string]int{}
	for _, d := range ds {
		out[d.Product]++
	}
	return out
}

// plannedRemovals lists one action per (account, group) to remove, in a
// stable order; a group granting two products is removed once.
func plannedRemovals(scanID string, ds []app.Decision) []app.ScanAction {
	seen := map[[2]string]bool{}
	var out []app.ScanAction
	for _, d := range ds {
		if d.Outcome != app.OutcomeRemove {
			continue
		}
		for _, g := range d.RemoveGroups {
			k := [2]string{d.AccountID, g.GroupID}
			if !seen[k] {
				seen[k] = true
				out = append(out, app.ScanAction{ScanID: scanID, AccountID: d.AccountID, GroupID: g.GroupID, Product: d.Product})
			}
		}
	}
	slices.SortFunc(out, func(a, b app.ScanAction) int {
		return cmp.Or(cmp.Compare(a.AccountID, b.AccountID), cmp.Compare(a.GroupID, b.GroupID))
	})
	return out
}

// act performs the removals: intent recorded, call made, outcome and audit
// event recorded together. Actions already settled (a resumed scan) are
// skipped; intents left by a dead run are completed by the same call,
// which reads the membership back before it writes. After each removal the
// attempt's API usage is added to the scan's.
func (r *Runner) act(ctx context.Context, tenantID string, client *adminapi.Client, removals []app.ScanAction, ds []app.Decision, m *meter) error {
	if len(removals) == 0 {
		return nil
	}
	recorded, err := r.Store.ScanActions(ctx, tenantID, removals[0].ScanID, "")
	if err != nil {
		return err
	}
	settled := map[[2]string]bool{}
	for _, a := range recorded {
		if a.State != app.ActionIntent {
			settled[[2]string{a.AccountID, a.GroupID}] = true
		}
	}
	// Intents a dead run left that the fresh plan no longer lists (the
	// removal happened, so the account dropped out of the inventory) are
	// completed first: RemoveMembership reads the membership back and
	// reports it already removed, and the audit event is written then.
	planned := map[[2]string]bool{}
	for _, a := range removals {
		planned[[2]string{a.AccountID, a.GroupID}] = true
	}
	for _, a := range recorded {
		if a.State == app.ActionIntent && !planned[[2]string{a.AccountID, a.GroupID}] {
			removals = append(removals, a)
		}
	}
	byAccount := decisionsByAccount(ds)
	for _, a := range removals {
		if settled[[2]string{a.AccountID, a.GroupID}] {
			continue
		}
		// removeOne's RecordIntent refuses a cancelled scan (errCancelled)
		// under the lock that cancelling takes: the check before each removal.
		err := r.removeOne(ctx, tenantID, client, a, byAccount[a.AccountID])
		if _, ferr := m.flush(ctx); err == nil {
			err = ferr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func decisionsByAccount(ds []app.Decision) map[string][]app.Decision {
	out := map[string][]app.Decision{}
	for _, d := range ds {
		if d.Outcome == app.OutcomeRemove {
			out[d.AccountID] = append(out[d.AccountID], d)
		}
	}
	return out
}

func (r *Runner) removeOne(ctx context.Context, tenantID string, client *adminapi.Client, a app.ScanAction, ds []app.Decision) error {
	if err := r.Store.RecordIntent(ctx, tenantID, a); err != nil {
		return err
	}
	res, err := r.removeWithRetry(ctx, client, a)
	switch {
	case errors.Is(err, adminapi.ErrSyncedGroup), errors.Is(err, adminapi.ErrGroupNotFound), errors.Is(err, adminapi.ErrUserNotFound):
		a.State, a.Outcome = app.ActionFailed, err.Error()
		return r.Store.CompleteAction(ctx, tenantID, a, nil)
	case err != nil:
		// Budget, rate limit, network: the intent stays, and a later run
		// completes it after reading the state back.
		return err
	}
	a.State, a.Outcome = app.ActionDone, app.ActionOutcomeRemoved
	if res.AlreadyRemoved {
		a.Outcome = app.ActionOutcomeAlreadyRemoved
	}
	ev := app.RemovalEvidenceOf(a, res.AlreadyRemoved, res.ReadBack, ds)
	return r.Store.CompleteAction(ctx, tenantID, a, &ev)
}

// removeAttempts bounds how often one removal is tried within a scan when
// its outcome stays unknown (answer lost, then the read-back failed too).
const removeAttempts = 4

// removeWithRetry calls RemoveMembership again while the outcome is
// unknown for a transient reason. Repeating is safe: the client reads the
// membership back (a 404 "not a member" after a lost answer is reported as
// already removed), so a change is never made twice. Budget and rate-limit
// stops and permanent refusals return at once.
func (r *Runner) removeWithRetry(ctx context.Context, client *adminapi.Client, a app.ScanAction) (adminapi.MembershipResult, error) {
	var res adminapi.MembershipResult
	var err error
	for attempt := 1; attempt <= removeAttempts; attempt++ {
		res, err = client.RemoveMembership(ctx, a.GroupID, a.AccountID)
		if err == nil || !transient(err) || attempt == removeAttempts {
			return res, err
		}
		r.log().WarnContext(ctx, "removal outcome unknown; trying again", "account_id", a.AccountID, "group_id", a.GroupID, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(time.Duration(attempt) * time.Second):
		}
	}
	return res, err
}

// transient reports an error worth another attempt now: not a refusal,
// not a budget or rate-limit stop (those end the scan, to be resumed when
// the budget allows), not a cancellation.
func transient(err error) bool {
	if errors.Is(err, adminapi.ErrSyncedGroup) || errors.Is(err, adminapi.ErrGroupNotFound) || errors.Is(err, adminapi.ErrUserNotFound) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	_, stop := ResumeAt(err)
	return !stop
}

// statusOf maps a stop to a scan status: out of budget defers the scan,
// anything else fails it.
func statusOf(err error) app.ScanStatus {
	if _, ok := ResumeAt(err); ok {
		return app.ScanDeferred
	}
	return app.ScanFailed
}

// ResumeAt reports whether a scan that stopped with err may continue later
// by itself — it ran out of API budget or was rate-limited, by Atlassian or
// by Lapse's own shared budget, whether while reading the inventory or while
// removing — and when. It is the one rule for it: the runner defers such a
// scan, and the scheduler snoozes its job until then.
func ResumeAt(err error) (time.Time, bool) {
	var ie *inventory.IncompleteError
	if errors.As(err, &ie) && !ie.RetryAt.IsZero() {
		return ie.RetryAt, true
	}
	return atlassian.RetryAt(err)
}
