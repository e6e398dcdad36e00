package devsite

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func (e *mwEnv) setFaults(cfg map[string]any) {
	e.t.Helper()
	e.mustControl(http.MethodPut, "/_devsite/faults", cfg, nil)
}

func (e *mwEnv) ledgerLen() int {
	return len(e.s.Ledger())
}

// TestFaults_Kinds injects each fault at probability 1.
func TestFaults_Kinds(t *testing.T) {
	t.Parallel()
	t.Run("drop", func(t *testing.T) {
		t.Parallel()
		e := newMWEnv(t, Params{})
		e.setFaults(map[string]any{"jira": map[string]float64{"drop": 1}})
		jira := e.connect("acme", APIJira)
		if a := jira.read(1); a.err == nil {
			t.Fatalf("dropped read answered %d", a.status)
		}
		if a := jira.do(http.MethodPost, mwWrite); a.err == nil {
			t.Fatalf("dropped write answered %d", a.status)
		}
		// Dropped before the handler: no change, no points.
		st := e.stats()
		if e.ledgerLen() != 0 || st.Endpoints["POST "+mwWrite].Statuses[noAnswer] != 1 || st.Budget.Apps[mwAppKey].Used != 0 || st.Faults["drop"] != 2 {
			t.Fatalf("ledger %d, stats %+v", e.ledgerLen(), st)
		}
		// Other APIs keep working: the rates are per API.
		if a := e.admin(http.MethodGet, mwAdminRead); a.status != http.StatusOK {
			t.Fatalf("admin = %d", a.status)
		}
	})
	t.Run("lost_write_answer", func(t *testing.T) {
		t.Parallel()
		e := newMWEnv(t, Params{})
		e.setFaults(map[string]any{"all": map[string]float64{"lostWriteAnswer": 1}})
		jira := e.connect("acme", APIJira)
		if a := jira.do(http.MethodPost, mwWrite); a.err == nil {
			t.Fatalf("lost write answered %d", a.status)
		}
		// The change happened and is in the ledger; the write was charged.
		st := e.stats()
		if e.ledgerLen() != 1 || st.Endpoints["POST "+mwWrite].Statuses["No Content"] != 1 || st.Budget.Apps[mwAppKey].Used != 1 {
			t.Fatalf("ledger %d, stats %+v", e.ledgerLen(), st)
		}
		// Reads are not affected.
		if a := jira.read(1); a.status != http.StatusOK {
			t.Fatalf("read = %d %v", a.status, a.err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		e := newMWEnv(t, Params{})
		e.setFaults(map[string]any{"jira": map[string]float64{"timeout": 1}, "timeoutHold": "150ms"})
		jira := e.connect("acme", APIJira)
		a := jira.do(http.MethodPost, mwWrite)
		if a.err == nil || a.elapsed < 150*time.Millisecond {
			t.Fatalf("held write = %d %v after %v", a.status, a.err, a.elapsed)
		}
		if e.ledgerLen() != 0 {
			t.Fatal("a timed-out write changed the org")
		}
		// A client that gives up first is let go at once.
		e.setFaults(map[string]any{"jira": map[string]float64{"timeout": 1}, "timeoutHold": "10m"})
		e.client.Timeout = 100 * time.Millisecond
		if a := jira.read(0); a.err == nil || a.elapsed > 5*time.Second {
			t.Fatalf("client timeout: %v after %v", a.err, a.elapsed)
		}
	})
	t.Run("status429", func(t *testing.T) {
		t.Parallel()
		e := newMWEnv(t, Params{})
		e.setFaults(map[string]any{"all": map[string]float64{"status429": 1}, "retryAfter": "3s"})
		jira := e.connect("acme", APIJira)
		a := jira.read(5)
		if a.status != http.StatusTooManyRequests {
			t.Fatalf("jira = %d", a.status)
		}
		wantHeaders(t, "injected jira 429", a, map[string]string{
			"Retry-After":           "3",
			"RateLimit-Reason":      "jira-burst-based",
			"RateLimit-Policy":      `"global-app-quota";q=65000;w=3600, "jira-burst-based";q=100;w=1`,
			"RateLimit":             `"global-app-quota";t=1800, "jira-burst-based";r=0;t=3`,
			"X-RateLimit-Limit":     "100",
			"X-RateLimit-Remaining": "0",
			"X-RateLimit-Reset":     "2026-03-02T10:30:03Z",
		})
		a = e.admin(http.MethodGet, mwAdminRead)
		wantHeaders(t, "injected admin 429", a, map[string]string{
			"Retry-After": "3", "X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2026-03-02T10:30:03Z",
		})
		if a.status != http.StatusTooManyRequests || !strings.Contains(a.body, `"errors"`) {
			t.Fatalf("admin = %d %s", a.status, a.body)
		}
		// Not charged to any budget.
		if st := e.stats(); st.Budget.Apps[mwAppKey].Used != 0 || st.Endpoints["GET "+mwRead].Points != 0 {
			t.Fatalf("an injected 429 was charged: %+v", st)
		}
	})
	t.Run("status500", func(t *testing.T) {
		t.Parallel()
		e := newMWEnv(t, Params{})
		e.setFaults(map[string]any{"confluence": map[string]float64{"status500": 1}})
		wiki := e.connect("acme", APIConfluence)
		a := wiki.do(http.MethodGet, mwWiki)
		if a.status != http.StatusInternalServerError || !strings.Contains(a.body, `"statusCode":500`) {
			t.Fatalf("confluence = %d %s", a.status, a.body)
		}
		if a := e.connect("acme", APIJira).read(0); a.status != http.StatusOK {
			t.Fatalf("jira = %d", a.status)
		}
	})
	t.Run("status503", func(t *testing.T) {
		t.Parallel()
		e := newMWEnv(t, Params{})
		e.setFaults(map[string]any{"admin": map[string]float64{"status503": 1}})
		a := e.admin(http.MethodGet, mwAdminRead)
		if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") != "1" {
			t.Fatalf("admin = %d %v", a.status, a.header)
		}
	})
	t.Run("slow", func(t *testing.T) {
		t.Parallel()
		e := newMWEnv(t, Params{})
		e.setFaults(map[string]any{"jira": map[string]float64{"slow": 1}, "slowDelay": "120ms"})
		a := e.connect("acme", APIJira).read(0)
		if a.status != http.StatusOK || a.elapsed < 120*time.Millisecond {
			t.Fatalf("slow = %d after %v", a.status, a.elapsed)
		}
	})
	t.Run("fixed_latency", func(t *testing.T) {
		t.Parallel()
		e := newMWEnv(t, Params{})
		e.setFaults(map[string]any{"fixedLatency": "80ms"})
		if a := e.admin(http.MethodGet, mwAdminRead); a.status != http.StatusOK || a.elapsed < 80*time.Millisecond {
			t.Fatalf("latency = %d after %v", a.status, a.elapsed)
		}
	})
}

// TestFaults_NeverOnControlOrKeys: faults are for the product APIs only.
func TestFaults_NeverOnControlOrKeys(t *testing.T) {
	t.Parallel()
	e := newMWEnv(t, Params{})
	e.setFaults(map[string]any{"all": map[string]float64{"drop": 1}, "fixedLatency": "2s"})
	start := time.Now()
	e.stats()
	for _, path := range []string{KeysPath + "/" + e.s.Host().KID(), ForgeJWKSURI} {
		req, _ := http.NewRequest(http.MethodGet, e.url+path, nil)
		if a := e.send(req); a.status != http.StatusOK {
			t.Fatalf("%s = %d %v", path, a.status, a.err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("control and key routes were delayed %v", d)
	}
}

// outcomes runs n Jira reads and describes each answer.
func (e *mwEnv) outcomes(c mwCaller, n int) []string {
	var out []string
	for range n {
		a := c.read(0)
		if a.err != nil {
			out = append(out, "dropped")
			continue
		}
		out = append(out, fmt.Sprint(a.status))
	}
	return out
}

// TestFaults_Deterministic: the same seed replays the same fault sequence,
// whether set through the faults or through a reset.
func TestFaults_Deterministic(t *testing.T) {
	t.Parallel()
	rates := map[string]float64{"drop": 0.2, "status500": 0.2, "status503": 0.2}
	run := func(seed int64) []string {
		e := newMWEnv(t, Params{})
		e.setFaults(map[string]any{"jira": rates, "seed": seed})
		return e.outcomes(e.connect("acme", APIJira), 40)
	}
	a, b, c := run(42), run(42), run(43)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different faults:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Fatalf("different seeds, same faults: %v", a)
	}
	kinds := map[string]bool{}
	for _, o := range a {
		kinds[o] = true
	}
	if len(kinds) != 4 {
		t.Fatalf("outcomes %v do not mix all four kinds", a)
	}

	// Reseeding a running site restarts the sequence; so does a reset with
	// the same Params seed.
	e := newMWEnv(t, Params{Seed: 5})
	jira := e.connect("acme", APIJira)
	e.setFaults(map[string]any{"jira": rates})
	first := e.outcomes(jira, 20)
	e.mustControl(http.MethodPost, "/_devsite/reset", nil, nil)
	if again := e.outcomes(jira, 20); !slices.Equal(first, again) {
		t.Fatalf("after reset:\n%v\n%v", first, again)
	}
	e.setFaults(map[string]any{"jira": rates, "seed": 99})
	x := e.outcomes(jira, 20)
	e.mustControl(http.MethodPatch, "/_devsite/faults", map[string]any{"seed": 99}, nil)
	if y := e.outcomes(jira, 20); !slices.Equal(x, y) {
		t.Fatalf("after reseed:\n%v\n%v", x, y)
	}
}

func TestFaults_Pick(t *testing.T) {
	t.Parallel()
	r := &FaultRates{Drop: 0.1, Status500: 0.2, LostWriteAnswer: 0.3, Slow: 0.1}
	cases := []struct {
		u     float64
		write bool
		want  string
	}{
		{0.05, false, faultDrop},
		{0.15, false, fault500},
		{0.35, false, faultSlow}, // lostWriteAnswer is skipped for reads
		{0.35, true, faultLostWrite},
		{0.65, true, faultSlow},
		{0.75, true, faultNone},
		{0.45, false, faultNone},
	}
	for _, tc := range cases {
		if got := r.pick(tc.u, tc.write); got != tc.want {
			t.Errorf("pick(%v, write=%v) = %q, want %q", tc.u, tc.write, got, tc.want)
		}
	}
	if got := (*FaultRates)(nil).pick(0, true); got != faultNone {
		t.Errorf("nil rates picked %q", got)
	}
}
