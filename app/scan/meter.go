package scan

import (
	"context"
	"sync"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/adminapi"
)

// usageFlushInterval bounds how long an attempt's API usage stays only in
// memory: a process killed outright loses at most the requests of its last
// interval (usage is also flushed after each removal and evaluation batch).
// A tick with nothing new writes nothing, so a scan paced to a few Admin API
// requests a second writes at most that often.
const usageFlushInterval = 200 * time.Millisecond

// meter adds what one attempt's client spends on Atlassian's APIs to the
// scan's durable total (store.AddScanUsage), a delta at a time, so the
// scan's count is right however many attempts it takes and however they
// end.
type meter struct {
	r        *Runner
	tenantID string
	scanID   string
	client   *adminapi.Client

	mu      sync.Mutex
	flushed app.APIUsage  // the part of the client's stats already added
	total   *app.APIUsage // the scan's total after the last flush
}

func (r *Runner) meter(tenantID, scanID string, client *adminapi.Client) *meter {
	return &meter{r: r, tenantID: tenantID, scanID: scanID, client: client}
}

// flush adds the client's usage since the last flush to the scan and
// returns the scan's total over all attempts.
func (m *meter) flush(ctx context.Context) (app.APIUsage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.client.Stats()
	now := app.APIUsage{Requests: st.Requests, RateLimited: st.RateLimited, Points: st.Points}
	if now == m.flushed && m.total != nil {
		return *m.total, nil
	}
	total, err := m.r.Store.AddScanUsage(ctx, m.tenantID, m.scanID, now.Sub(m.flushed))
	if err == nil {
		m.flushed, m.total = now, &total
	}
	return total, err
}

// flushEvery flushes every interval until the returned stop is called, so
// that long waits between removals (a paced inventory read, a budget wait)
// are counted too. A failed periodic flush is only logged: the next flush
// carries the same delta.
func (m *meter) flushEvery(ctx context.Context, interval time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if _, err := m.flush(ctx); err != nil && ctx.Err() == nil {
					m.r.log().WarnContext(ctx, "scan API usage not recorded yet", "scan_id", m.scanID, "err", err)
				}
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
