package policy_test

import (
	"reflect"
	"testing"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/policy"
)

func TestSummarize(t *testing.T) {
	t.Parallel()
	d := func(acc, outcome, reason string) app.Decision {
		return app.Decision{AccountID: acc, Outcome: outcome, Reason: reason}
	}
	cases := []struct {
		name      string
		decisions []app.Decision
		want      policy.Summary
	}{
		{name: "empty", want: policy.Summary{ByOutcome: map[string]int{}, ByReason: map[string]int{}}},
		{name: "mixed",
			decisions: []app.Decision{
				d("a", app.OutcomeRemove, policy.ReasonInactive),
				d("a", app.OutcomeRemove, policy.ReasonNeverUsed),
				d("b", app.OutcomeKeep, policy.ReasonActive),
				d("c", app.OutcomeExempt, policy.ReasonExemptAdmin),
				d("c", app.OutcomeExempt, policy.ReasonExemptAdmin),
				d("d", app.OutcomeReportOnly, policy.ReasonInactive),
			},
			want: policy.Summary{
				Decisions: 6, Accounts: 4,
				ByOutcome: map[string]int{app.OutcomeRemove: 2, app.OutcomeKeep: 1, app.OutcomeExempt: 2, app.OutcomeReportOnly: 1},
				ByReason: map[string]int{policy.ReasonInactive: 2, policy.ReasonNeverUsed: 1,
					policy.ReasonActive: 1, policy.ReasonExemptAdmin: 2},
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := policy.Summarize(tc.decisions); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Summarize (-want +got):\n-%+v\n+%+v", tc.want, got)
			}
		})
	}
}
