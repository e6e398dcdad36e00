package store

import (
	"context"
	"fmt"
	"iter"
	"time"

	"gorm.io/gorm/clause"
)

// The audit trail of each tenant is a hash chain (auditHash): event n
// carries seq n and the hash of event n-1, and its own hash covers both.
// Editing an event breaks its hash; deleting one leaves a gap in seq;
// moving one breaks seq order. What a chain cannot show on its own is that
// its newest events were deleted, because what is left is still a valid
// chain. So every append also records the chain's head (last seq and hash)
// in audit_heads, in the same transaction, and verification compares the
// chain's end with it.
//
// Limits, for whoever relies on this: the hash has no secret key, so
// someone able to rewrite the database can rewrite a whole chain and its
// head consistently. The chain makes careless or partial edits evident; to
// make a complete rewrite evident too, keep a copy of the heads (or of
// exports, whose last hash is the head) outside the database, where the
// attacker cannot reach them.

type auditHeadRow struct {
	TenantID  string `gorm:"primaryKey"`
	Seq       int64
	Hash      string
	UpdatedAt time.Time
}

func (auditHeadRow) TableName() string { return "audit_heads" }

// auditLockClass namespaces the chain locks among PostgreSQL advisory
// locks ("laud"); the second key is the tenant id's hash. Two tenants whose
// ids hash alike merely share a lock.
const auditLockClass = 0x6c617564

// lockAuditChain serialises writers of one tenant's chain until the end of
// the current transaction, so the tip a writer reads stays the tip until it
// commits. PostgreSQL: a transaction-scoped advisory lock, which needs no
// row to exist (a new tenant has none). SQLite has one writer at a time; a
// no-op UPDATE makes this transaction that writer now, so a second process
// on the same file cannot slip in between reading the tip and appending.
func (s *Store) lockAuditChain(ctx context.Context, tenantID string) error {
	if s.dialect == Postgres {
		return s.db.WithContext(ctx).Exec("SELECT pg_advisory_xact_lock(?::integer, hashtext(?))", auditLockClass, tenantID).Error
	}
	return s.db.WithContext(ctx).Exec("UPDATE audit_heads SET seq = seq WHERE tenant_id = ?", tenantID).Error
}

func (s *Store) auditHead(ctx context.Context, tenantID string) (*auditHeadRow, error) {
	var rows []auditHeadRow
	if err := s.db.WithContext(ctx).Scopes(forTenant(tenantID)).Limit(1).Find(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

func (s *Store) setAuditHead(ctx context.Context, tenantID string, seq int64, hash string) error {
	head := auditHeadRow{TenantID: tenantID, Seq: seq, Hash: hash, UpdatedAt: s.nowUTC()}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "tenant_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"seq", "hash", "updated_at"}),
	}).Create(&head).Error
	if err != nil {
		return fmt.Errorf("audit: set head: %w", err)
	}
	return nil
}

// auditPage reads the next page of a chain after seq.
func (s *Store) auditPage(ctx context.Context, tenantID string, after int64) ([]auditRow, error) {
	var rows []auditRow
	err := s.db.WithContext(ctx).Scopes(forTenant(tenantID)).Where("seq > ?", after).Order("seq ASC").Limit(auditPageSize).Find(&rows).Error
	return rows, err
}

// chainTip is what the next event links to.
type chainTip struct {
	seq  int64
	hash string
	// headless is set when sealed rows have no head: the head was deleted.
	// Appends then leave the head missing rather than re-create it, so
	// verification keeps reporting the loss until an operator, having
	// looked into it, restores the head by hand.
	headless bool
}

// auditTip returns the tip of a chain. Call it with the chain locked. It is
// the later of the last row and the head: when the newest rows were
// deleted, the next event continues from the head, so the hole stays
// visible (as a gap) instead of being papered over.
func (s *Store) auditTip(ctx context.Context, tenantID string) (chainTip, error) {
	head, err := s.auditHead(ctx, tenantID)
	if err != nil {
		return chainTip{}, err
	}
	if head == nil {
		if head, err = s.sealLegacyAuditChain(ctx, tenantID); err != nil {
			return chainTip{}, err
		}
	}
	var last []auditRow
	if err := s.db.WithContext(ctx).Scopes(forTenant(tenantID)).Select("seq", "hash").Order("seq DESC").Limit(1).Find(&last).Error; err != nil {
		return chainTip{}, err
	}
	switch {
	case head != nil && (len(last) == 0 || head.Seq > last[0].Seq):
		return chainTip{seq: head.Seq, hash: head.Hash}, nil
	case len(last) == 0:
		return chainTip{}, nil
	case head == nil:
		// Appending goes on all the same: refusing would stop installs and
		// removals over a problem only an operator can settle.
		s.log.Warn("audit head missing; the chain's end cannot be vouched for", "tenant_id", tenantID)
		return chainTip{seq: last[0].Seq, hash: last[0].Hash, headless: true}, nil
	}
	return chainTip{seq: last[0].Seq, hash: last[0].Hash}, nil
}

// sealLegacyAuditChain hashes the events written before the chain existed:
// migration 00004 numbered them but could not hash them in SQL. It runs with
// the chain locked, only for a tenant with no head, and only while none of
// its rows is sealed, so it cannot be used to re-seal edited rows of a
// chain that was already sealed. It is deterministic: sealing the same rows
// twice gives the same hashes. It returns the new head, or nil.
func (s *Store) sealLegacyAuditChain(ctx context.Context, tenantID string) (*auditHeadRow, error) {
	var sealed []int64
	if err := s.db.WithContext(ctx).Model(&auditRow{}).Scopes(forTenant(tenantID)).Where("hash <> ''").Limit(1).Pluck("id", &sealed).Error; err != nil {
		return nil, err
	}
	if len(sealed) > 0 {
		return nil, nil
	}
	var after int64
	prev := ""
	for {
		rows, err := s.auditPage(ctx, tenantID, after)
		if err != nil {
			return nil, err
		}
		for i := range rows {
			r := &rows[i]
			r.PrevHash = prev
			r.Hash = auditHash(r)
			err := s.db.WithContext(ctx).Model(&auditRow{}).Where("id = ?", r.ID).
				Updates(map[string]any{"prev_hash": r.PrevHash, "hash": r.Hash}).Error
			if err != nil {
				return nil, fmt.Errorf("audit: seal event %d: %w", r.ID, err)
			}
			prev, after = r.Hash, r.Seq
		}
		if len(rows) < auditPageSize {
			break
		}
	}
	if after == 0 {
		return nil, nil
	}
	s.log.Info("audit chain sealed", "tenant_id", tenantID, "events", after)
	return &auditHeadRow{TenantID: tenantID, Seq: after, Hash: prev}, s.setAuditHead(ctx, tenantID, after, prev)
}

// Problems VerifyAuditChain reports. The first four come from the chain,
// the last three from comparing its end with the head.
const (
	AuditRowEdited     = "hash mismatch: row edited"
	AuditRowUnlinked   = "prev_hash does not link: row deleted or reordered"
	AuditSeqGap        = "sequence gap: row deleted"
	AuditSeqOutOfOrder = "sequence out of order"
	AuditTruncated     = "chain ends before its head: newest rows deleted"
	AuditHeadMismatch  = "head does not match the chain's end: head edited or rows added outside Lapse"
	AuditHeadMissing   = "head missing: the chain's end cannot be vouched for"
)

// AuditVerification is the result of checking one tenant's chain. When OK
// is false, BrokenAtSeq is the first event whose link is broken (for a
// deleted event, the one after the hole; for deleted newest events, the
// first missing seq, with BrokenEventID 0) and Problem says how.
type AuditVerification struct {
	TenantID      string
	Events        int
	OK            bool
	BrokenAtSeq   int64
	BrokenEventID int64
	Problem       string
	Detail        string // specifics for an operator, e.g. the expected seq
}

// VerifyAuditChain checks a tenant's whole audit chain, one page at a time,
// and reports its first broken link. A chain still holding events from
// before migration 00004 is sealed first (sealLegacyAuditChain).
func (s *Store) VerifyAuditChain(ctx context.Context, tenantID string) (AuditVerification, error) {
	if err := s.sealIfLegacy(ctx, tenantID); err != nil {
		return AuditVerification{}, fmt.Errorf("store: verify audit chain: %w", err)
	}
	v, err := s.verifyAuditChain(ctx, tenantID)
	if err != nil {
		return v, fmt.Errorf("store: verify audit chain: %w", err)
	}
	return v, nil
}

func (s *Store) sealIfLegacy(ctx context.Context, tenantID string) error {
	if head, err := s.auditHead(ctx, tenantID); err != nil || head != nil {
		return err
	}
	var unsealed []int64
	if err := s.db.WithContext(ctx).Model(&auditRow{}).Scopes(forTenant(tenantID)).Where("hash = ''").Limit(1).Pluck("id", &unsealed).Error; err != nil {
		return err
	}
	if len(unsealed) == 0 {
		return nil // no events, or a head was lost: nothing to seal, verification says which
	}
	return s.inTx(ctx, func(tx *Store) error {
		if err := tx.lockAuditChain(ctx, tenantID); err != nil {
			return err
		}
		if head, err := tx.auditHead(ctx, tenantID); err != nil || head != nil {
			return err // sealed by another writer meanwhile
		}
		_, err := tx.sealLegacyAuditChain(ctx, tenantID)
		return err
	})
}

// VerifyAllAuditChains checks every tenant's chain, in tenant id order,
// stopping at the first error. It is cross-tenant on purpose: it is the
// operator's integrity check (`lapse audit verify`), which must cover
// tenants no request would ever name, uninstalled ones included.
func (s *Store) VerifyAllAuditChains(ctx context.Context) iter.Seq2[AuditVerification, error] {
	return func(yield func(AuditVerification, error) bool) {
		after := ""
		for {
			var ids []string
			err := s.db.WithContext(ctx).Model(&tenantRow{}).Where("id > ?", after).Order("id ASC").Limit(auditPageSize).Pluck("id", &ids).Error
			if err != nil {
				yield(AuditVerification{}, fmt.Errorf("store: verify audit chains: %w", err))
				return
			}
			for _, id := range ids {
				v, err := s.VerifyAuditChain(ctx, id)
				if !yield(v, err) || err != nil {
					return
				}
			}
			if len(ids) < auditPageSize {
				return
			}
			after = ids[len(ids)-1]
		}
	}
}

// verifyAuditChain walks the chain in seq order and then compares its end
// with the head. It reads no more than a page at a time and holds no
// transaction, so it can run beside live appends: a row and its head
// commit together, so when the head read after the last page is ahead of
// it, either rows were appended meanwhile (the walk reads on) or the newest
// rows were deleted (reading on finds nothing).
func (s *Store) verifyAuditChain(ctx context.Context, tenantID string) (AuditVerification, error) {
	w := chainWalker{v: AuditVerification{TenantID: tenantID, OK: true}}
	var head *auditHeadRow
	after, checkedAt := int64(0), int64(-1)
	for {
		rows, err := s.auditPage(ctx, tenantID, after)
		if err != nil {
			return w.v, err
		}
		for i := range rows {
			w.push(&rows[i])
		}
		if len(rows) > 0 {
			after = rows[len(rows)-1].Seq
		}
		if len(rows) == auditPageSize {
			continue
		}
		if head, err = s.auditHead(ctx, tenantID); err != nil {
			return w.v, err
		}
		if head == nil || head.Seq <= after || after == checkedAt {
			break
		}
		checkedAt = after
	}
	w.finish()
	w.checkHead(head)
	if w.v.Problem == AuditHeadMismatch && w.v.BrokenEventID == 0 {
		// The first event the head does not vouch for was walked past;
		// name it, so the operator can look at it.
		var ids []int64
		err := s.db.WithContext(ctx).Model(&auditRow{}).Scopes(forTenant(tenantID)).Where("seq = ?", w.v.BrokenAtSeq).Limit(1).Pluck("id", &ids).Error
		if err != nil {
			return w.v, err
		}
		if len(ids) > 0 {
			w.v.BrokenEventID = ids[0]
		}
	}
	return w.v, nil
}

// chainWalker checks rows in seq order. It holds each row back until the
// next one arrives, because telling a moved row from an edited one needs
// the row after it too.
type chainWalker struct {
	v        AuditVerification
	pending  *auditRow
	prevSeq  int64
	prevHash string
	prevID   int64
}

func (w *chainWalker) push(r *auditRow) {
	if w.pending != nil {
		w.check(w.pending, r)
	}
	w.pending = r
	w.v.Events++
}

func (w *chainWalker) finish() {
	if w.pending != nil {
		w.check(w.pending, nil)
		w.pending = nil
	}
}

func (w *chainWalker) check(r, next *auditRow) {
	if w.v.OK {
		if problem, detail := w.problem(r, next); problem != "" {
			w.fail(r.Seq, r.ID, problem, detail)
		}
	}
	w.prevSeq, w.prevHash, w.prevID = r.Seq, r.Hash, r.ID
}

func (w *chainWalker) fail(seq, id int64, problem, detail string) {
	w.v.OK, w.v.BrokenAtSeq, w.v.BrokenEventID, w.v.Problem, w.v.Detail = false, seq, id, problem, detail
}

// problem checks one link. Order matters, to name the cause and not a
// symptom: a deleted row also breaks the next row's prev_hash, but the gap
// in seq is what says "deleted". Event ids come from the database in write
// order and appends to a chain are serialised, so seq order and id order
// agree; a row whose id is out of line was moved, whereas an edited row
// keeps its place and only fails its hash.
func (w *chainWalker) problem(r, next *auditRow) (string, string) {
	want := w.prevSeq + 1
	switch {
	case r.Seq > want:
		return AuditSeqGap, fmt.Sprintf("expected seq %d, found %d", want, r.Seq)
	case r.Seq < want:
		return AuditSeqOutOfOrder, fmt.Sprintf("expected seq %d, found %d", want, r.Seq)
	case r.ID < w.prevID || next != nil && next.ID < r.ID:
		return AuditSeqOutOfOrder, fmt.Sprintf("event %d sits at seq %d, out of write order with its neighbours", r.ID, r.Seq)
	}
	if auditHash(r) != r.Hash {
		return AuditRowEdited, "the stored hash does not match the event"
	}
	if _, v := canonicalData([]byte(r.Data)); deref(r.TargetAccountID) != accountIDOf(v) {
		return AuditRowEdited, "target_account_id does not match data.accountId"
	}
	if r.PrevHash != w.prevHash {
		return AuditRowUnlinked, fmt.Sprintf("prev_hash is not the hash of seq %d", w.prevSeq)
	}
	return "", ""
}

// checkHead compares the chain's end with the head, unless the chain broke
// earlier: the first broken link is the one to report.
func (w *chainWalker) checkHead(head *auditHeadRow) {
	if !w.v.OK {
		return
	}
	switch {
	case head == nil && w.v.Events == 0:
	case head == nil:
		w.fail(w.prevSeq, w.prevID, AuditHeadMissing, "no audit_heads row for a sealed chain")
	case head.Seq > w.prevSeq:
		w.fail(w.prevSeq+1, 0, AuditTruncated, fmt.Sprintf("the head is at seq %d, the chain ends at %d", head.Seq, w.prevSeq))
	case head.Seq < w.prevSeq:
		w.fail(head.Seq+1, 0, AuditHeadMismatch, fmt.Sprintf("the head is at seq %d, the chain goes on to %d", head.Seq, w.prevSeq))
	case head.Hash != w.prevHash:
		w.fail(w.prevSeq, w.prevID, AuditHeadMismatch, "the head's hash is not the last event's")
	}
}
