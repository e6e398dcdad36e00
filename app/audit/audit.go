// Package audit writes a tenant's evidence out for auditors: the audit
// trail (CSV for spreadsheets, NDJSON for tools) and the access report of a
// scan (CSV, report.go). Encoders stream one row at a time, so an export of
// any length runs in constant memory.
//
// Every event carries its seq, prev_hash and hash, so a copy can be checked
// on its own: the hash encoding is documented on the store's auditHash, and
// the data column holds exactly the canonical JSON that the hash covers.
package audit

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"time"

	"github.com/lapsehq/lapse/app"
)

// Encoder is what an export writes through: CSVEncoder or NDJSONEncoder.
type Encoder interface {
	Encode(*app.AuditEvent) error
	Flush() error
}

var (
	_ Encoder = (*CSVEncoder)(nil)
	_ Encoder = (*NDJSONEncoder)(nil)
)

// CSVHeader names the CSV columns, in order.
var CSVHeader = []string{"seq", "occurred_at", "actor_type", "actor_id", "action", "target_account_id", "data", "prev_hash", "hash"}

// CSVEncoder writes events as CSV rows under a header row.
type CSVEncoder struct {
	w      *csv.Writer
	header bool
}

// NewCSVEncoder returns an encoder writing to w. Call Flush at the end.
func NewCSVEncoder(w io.Writer) *CSVEncoder {
	return &CSVEncoder{w: csv.NewWriter(w)}
}

// Encode writes one event. Times are UTC RFC 3339 with nanoseconds, as
// hashed. Cells are neutralised against formula injection (neutralise).
func (e *CSVEncoder) Encode(ev *app.AuditEvent) error {
	if err := e.writeHeader(); err != nil {
		return err
	}
	return e.w.Write([]string{
		strconv.FormatInt(ev.Seq, 10),
		ev.OccurredAt.UTC().Format(time.RFC3339Nano),
		neutralise(string(ev.Actor.Type)),
		neutralise(ev.Actor.ID),
		neutralise(ev.Action),
		neutralise(ev.TargetAccountID),
		neutralise(string(ev.Data)),
		neutralise(ev.PrevHash),
		neutralise(ev.Hash),
	})
}

// Flush writes buffered rows, and the header when no event was encoded, so
// an empty export is still a valid file with its columns.
func (e *CSVEncoder) Flush() error {
	if err := e.writeHeader(); err != nil {
		return err
	}
	e.w.Flush()
	return e.w.Error()
}

func (e *CSVEncoder) writeHeader() error {
	if e.header {
		return nil
	}
	e.header = true
	return e.w.Write(CSVHeader)
}

// neutralise defuses CSV formula injection (OWASP "CSV Injection"): a
// spreadsheet runs a cell that starts with =, +, -, @, tab or carriage
// return as a formula, and actor ids, actions and account ids can come
// from outside Lapse. Such a cell gets a leading single quote, which
// spreadsheets show as text. A cell that already starts with a quote gets
// one too, so the change is reversible without ambiguity: to recover a
// value, drop one leading quote if there is one. Only whole cells are
// neutralised: the data cell is JSON and starts with '{' (or '[', 'n'),
// and its contents stay as they are, since the hash covers them.
func neutralise(cell string) string {
	if cell == "" {
		return cell
	}
	switch cell[0] {
	case '=', '+', '-', '@', '\t', '\r', '\'':
		return "'" + cell
	}
	return cell
}

// NDJSONEncoder writes events as JSON, one per line (app.AuditEvent's
// JSON form).
type NDJSONEncoder struct {
	bw  *bufio.Writer
	enc *json.Encoder
}

// NewNDJSONEncoder returns an encoder writing to w. Call Flush at the end.
func NewNDJSONEncoder(w io.Writer) *NDJSONEncoder {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	// Keep <, > and & as they are: the data must stay byte for byte the
	// canonical JSON its hash covers.
	enc.SetEscapeHTML(false)
	return &NDJSONEncoder{bw: bw, enc: enc}
}

// Encode writes one event and a newline.
func (e *NDJSONEncoder) Encode(ev *app.AuditEvent) error { return e.enc.Encode(ev) }

// Flush writes buffered lines.
func (e *NDJSONEncoder) Flush() error { return e.bw.Flush() }
