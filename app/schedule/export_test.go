package schedule

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/riverqueue/river"

	"github.com/lapsehq/lapse/app"
)

// Test hooks into unexported parts of the package.

// ErrPlanned is errPlanned.
var ErrPlanned = errPlanned

// QueueDue queues tenantID's scheduled scan of day as the planner does,
// without the planner's check that the tenant is due.
func (s *Scheduler) QueueDue(ctx context.Context, tenantID, day string) error {
	return s.queueDue(ctx, tenantID, day, app.TriggerSchedule, schedulerActor)
}

// InsertScanTx inserts a scan job in tx.
func (s *Scheduler) InsertScanTx(ctx context.Context, tx *sql.Tx, args ScanArgs) error {
	return s.insertTx(ctx, tx, args)
}

// ScanJob is a scan job as River stores it.
type ScanJob struct {
	Args    ScanArgs
	State   string
	Attempt int
	Errors  int
}

// ScanJobs lists every scan job River holds.
func (s *Scheduler) ScanJobs(ctx context.Context) ([]ScanJob, error) {
	res, err := s.client.JobList(ctx, river.NewJobListParams().Kinds(ScanArgs{}.Kind()).First(10000))
	if err != nil {
		return nil, err
	}
	out := make([]ScanJob, 0, len(res.Jobs))
	for _, j := range res.Jobs {
		var a ScanArgs
		if err := json.Unmarshal(j.EncodedArgs, &a); err != nil {
			return nil, err
		}
		out = append(out, ScanJob{Args: a, State: string(j.State), Attempt: j.Attempt, Errors: len(j.Errors)})
	}
	return out, nil
}
