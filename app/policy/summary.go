package policy

import "github.com/lapsehq/lapse/app"

// Summary counts a run's decisions for its scan record.
type Summary struct {
	Decisions int `json:"decisions"`
	// Accounts is the number of distinct accounts decided on.
	Accounts  int            `json:"accounts"`
	ByOutcome map[string]int `json:"byOutcome"`
	ByReason  map[string]int `json:"byReason"`
}

// Summarize counts decisions by outcome and by reason.
func Summarize(decisions []app.Decision) Summary {
	s := Summary{Decisions: len(decisions), ByOutcome: map[string]int{}, ByReason: map[string]int{}}
	accounts := map[string]bool{}
	for _, d := range decisions {
		accounts[d.AccountID] = true
		s.ByOutcome[d.Outcome]++
		s.ByReason[d.Reason]++
	}
	s.Accounts = len(accounts)
	return s
}
