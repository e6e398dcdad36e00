package devsite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Defaults of FaultConfig.
const (
	DefaultSlowDelay   = 3 * time.Second
	DefaultTimeoutHold = 30 * time.Second
	DefaultRetryAfter  = 1 * time.Second
)

// rngStream is the PCG stream of the site's random source (server.go
// reset uses the same), so a fault seed replays like a reset with that seed.
const rngStream = 0x1a95e

// FaultConfig sets the faults the site injects into Admin, Jira, Confluence
// and privacy API requests (never into the control API, the key server or
// the JWKS). It is read and replaced with GET/PUT /_devsite/faults.
//
// Each request draws one random number from the site's seeded source, in
// arrival order, and the rates of its API pick at most one fault, so a run
// with the same seed and the same request order sees the same faults.
type FaultConfig struct {
	// All applies to every API that has no entry of its own.
	All *FaultRates `json:"all,omitempty"`
	// Per-API rates replace All for that API.
	Admin      *FaultRates `json:"admin,omitempty"`
	Jira       *FaultRates `json:"jira,omitempty"`
	Confluence *FaultRates `json:"confluence,omitempty"`
	Privacy    *FaultRates `json:"privacy,omitempty"`
	// SlowDelay is how long a Slow request waits before it is served
	// (default 3s).
	SlowDelay Duration `json:"slowDelay"`
	// TimeoutHold is how long a Timeout request is held, unless the client
	// gives up first, before the connection is closed (default 30s).
	TimeoutHold Duration `json:"timeoutHold"`
	// RetryAfter is the Retry-After of injected 429 and 503 answers
	// (default 1s, rounded up to whole seconds).
	RetryAfter Duration `json:"retryAfter"`
	// FixedLatency is added to every API request, faulted or not, to model
	// network and server time in benchmarks (default 0).
	FixedLatency Duration `json:"fixedLatency"`
	// Seed, when set in a PUT, reseeds the site's random source, so the
	// fault sequence restarts from a known point. GET shows the last seed
	// set this way.
	Seed *int64 `json:"seed,omitempty"`
}

// FaultRates are the probabilities (0..1) of each fault for one API. They
// are exclusive and tried in the order Drop, Timeout, Status429,
// Status500, Status503, LostWriteAnswer, Slow; their sum must not exceed 1.
type FaultRates struct {
	// Drop closes the connection without an answer before the handler runs.
	Drop float64 `json:"drop"`
	// Timeout holds the request (TimeoutHold) and then drops it, without
	// running the handler.
	Timeout float64 `json:"timeout"`
	// Status429 answers 429 with realistic rate-limit headers; it is not
	// charged to any quota.
	Status429 float64 `json:"status429"`
	// Status500 answers 500.
	Status500 float64 `json:"status500"`
	// Status503 answers 503 with Retry-After.
	Status503 float64 `json:"status503"`
	// LostWriteAnswer applies to writes only: the handler runs (the change
	// is made and in the ledger), then the connection is closed so the
	// client never learns the outcome.
	LostWriteAnswer float64 `json:"lostWriteAnswer"`
	// Slow waits SlowDelay, then serves the request normally.
	Slow float64 `json:"slow"`
}

// Fault kinds, as counted in GET /_devsite/stats.
const (
	faultNone      = ""
	faultDrop      = "drop"
	faultTimeout   = "timeout"
	fault429       = "status429"
	fault500       = "status500"
	fault503       = "status503"
	faultLostWrite = "lostWriteAnswer"
	faultSlow      = "slow"
)

// DefaultFaultConfig returns the fault settings of a fresh site: none.
func DefaultFaultConfig() FaultConfig { return FaultConfig{}.withDefaults() }

func (c FaultConfig) withDefaults() FaultConfig {
	def := func(d *Duration, v time.Duration) {
		if *d == 0 {
			*d = Duration(v)
		}
	}
	def(&c.SlowDelay, DefaultSlowDelay)
	def(&c.TimeoutHold, DefaultTimeoutHold)
	def(&c.RetryAfter, DefaultRetryAfter)
	return c
}

func (c FaultConfig) validate() error {
	for name, r := range map[string]*FaultRates{"all": c.All, "admin": c.Admin, "jira": c.Jira, "confluence": c.Confluence, "privacy": c.Privacy} {
		if r == nil {
			continue
		}
		sum := 0.0
		for _, p := range r.ordered() {
			if p.rate < 0 || p.rate > 1 {
				return fmt.Errorf("%s.%s: %v is not a probability between 0 and 1", name, p.kind, p.rate)
			}
			sum += p.rate
		}
		if sum > 1+1e-9 {
			return fmt.Errorf("%s: the probabilities add up to %v; faults are exclusive, so they must add up to at most 1", name, sum)
		}
	}
	for name, d := range map[string]Duration{"slowDelay": c.SlowDelay, "timeoutHold": c.TimeoutHold, "retryAfter": c.RetryAfter, "fixedLatency": c.FixedLatency} {
		if d < 0 || time.Duration(d) > 10*time.Minute {
			return fmt.Errorf("%s: %v is not between 0s and 10m", name, time.Duration(d))
		}
	}
	return nil
}

type faultRate struct {
	kind string
	rate float64
}

func (r *FaultRates) ordered() []faultRate {
	return []faultRate{
		{faultDrop, r.Drop}, {faultTimeout, r.Timeout}, {fault429, r.Status429}, {fault500, r.Status500},
		{fault503, r.Status503}, {faultLostWrite, r.LostWriteAnswer}, {faultSlow, r.Slow},
	}
}

func (c FaultConfig) ratesFor(api string) *FaultRates {
	var r *FaultRates
	switch api {
	case APIAdmin:
		r = c.Admin
	case APIJira:
		r = c.Jira
	case APIConfluence:
		r = c.Confluence
	case APIPrivacy:
		r = c.Privacy
	}
	if r == nil {
		r = c.All
	}
	return r
}

// pick chooses the fault for a draw u in [0,1).
func (r *FaultRates) pick(u float64, write bool) string {
	if r == nil {
		return faultNone
	}
	acc := 0.0
	for _, p := range r.ordered() {
		if p.kind == faultLostWrite && !write {
			continue
		}
		acc += p.rate
		if u < acc {
			return p.kind
		}
	}
	return faultNone
}

// drawFault takes the request's one draw and returns its fault and the
// settings to apply it with.
func (s *Server) drawFault(c *call) (string, FaultConfig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg := s.faults.withDefaults()
	kind := cfg.ratesFor(c.API).pick(s.rng.Float64(), c.Write)
	if kind != faultNone {
		s.limiter.faults[kind]++
	}
	return kind, cfg
}

// setFaults replaces the fault settings, reseeding the random source when
// cfg has a seed. The caller holds s.mu.
func (s *Server) setFaults(cfg FaultConfig) {
	if cfg.Seed != nil {
		s.rng = rand.New(rand.NewPCG(uint64(*cfg.Seed), rngStream))
	} else {
		cfg.Seed = s.faults.Seed
	}
	s.faults = cfg
}

// withFaults runs h, the endpoint's handler, unless the request's draw
// picks a fault that replaces it.
func (s *Server) withFaults(w http.ResponseWriter, r *http.Request, c *call, h func(http.ResponseWriter)) {
	kind, cfg := s.drawFault(c)
	if !wait(r.Context(), time.Duration(cfg.FixedLatency)) {
		dropConnection(w, r)
		return
	}
	switch kind {
	case faultNone:
		h(w)
	case faultSlow:
		if !wait(r.Context(), time.Duration(cfg.SlowDelay)) {
			dropConnection(w, r) // the client gave up; nothing to answer
			return
		}
		h(w)
	case faultDrop:
		dropConnection(w, r)
	case faultTimeout:
		wait(r.Context(), time.Duration(cfg.TimeoutHold))
		dropConnection(w, r)
	case fault429, fault503:
		s.writeInjected(w, c, kind, cfg)
	case fault500:
		writeAPIError(w, c, http.StatusInternalServerError, "internal-server-error", "Internal server error.")
	case faultLostWrite:
		buf := &discardWriter{header: http.Header{}, status: http.StatusOK}
		h(buf)
		if rec, ok := w.(*statusRecorder); ok {
			// Count what the site did; the client sees nothing.
			rec.status, rec.wrote = buf.status, true
		}
		dropConnection(w, r)
	}
}

// writeInjected answers an injected 429 or 503 with the headers each API
// sends with it.
func (s *Server) writeInjected(w http.ResponseWriter, c *call, kind string, cfg FaultConfig) {
	secs := ceilSeconds(time.Duration(cfg.RetryAfter))
	h := w.Header()
	h.Set("Retry-After", strconv.FormatInt(secs, 10))
	if kind == fault503 {
		writeAPIError(w, c, http.StatusServiceUnavailable, "service-unavailable", "Service temporarily unavailable; retry later.")
		return
	}
	now := s.now().UTC()
	reset := isoTime(now.Add(time.Duration(secs) * time.Second))
	s.mu.Lock()
	limits := s.limits.withDefaults()
	s.mu.Unlock()
	switch c.API {
	case APIJira:
		// Shaped like a burst refusal: the kind of 429 a healthy app meets.
		// The quota headers admit wrote stay; the burst entries join them.
		size := max(burstSize(limits, c), 1)
		h.Set("RateLimit-Reason", policyBurst)
		appendList(h, "RateLimit-Policy", fmt.Sprintf("%q;q=%d;w=1", policyBurst, size))
		appendList(h, "RateLimit", fmt.Sprintf("%q;r=0;t=%d", policyBurst, secs))
		h.Set("X-RateLimit-Limit", strconv.Itoa(size))
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Reset", reset)
		h.Del("X-RateLimit-NearLimit")
	case APIConfluence:
		// Confluence's burst protection has no documented reason value.
		h.Set("X-RateLimit-Limit", strconv.Itoa(max(limits.Burst["GET"], 1)))
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Reset", reset)
	case APIAdmin:
		h.Set("X-RateLimit-Limit", strconv.FormatInt(max(limits.AdminRequestsPerMinute, 1), 10))
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Reset", reset)
	}
	writeAPIError(w, c, http.StatusTooManyRequests, "rate-limited", "Rate limit exceeded.")
}

// appendList adds an entry to a structured-field list header.
func appendList(h http.Header, name, entry string) {
	if cur := h.Get(name); cur != "" {
		entry = cur + ", " + entry
	}
	h.Set(name, entry)
}

// writeAPIError writes an error in the shape of the request's API.
func writeAPIError(w http.ResponseWriter, c *call, status int, code, msg string) {
	switch c.API {
	case APIAdmin:
		writeAdminError(w, status, code, msg)
	case APIJira, APIConfluence:
		writeProductError(w, c.Product, status, msg)
	default:
		writeJSON(w, status, map[string]any{"code": status, "message": msg})
	}
}

// wait sleeps d, or until ctx ends; it reports whether d passed.
func wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// dropConnection closes the client's connection without an answer. The
// status recorded for the statistics is 0 ("no answer") unless the caller
// already recorded what the handler did. The connection is closed only once
// the request is over (net/http cancels its context after the handler
// returns), so a client that sees the drop also sees the request counted
// and charged. HTTP/2 connections, which cannot be hijacked, get their
// stream reset instead.
func dropConnection(w http.ResponseWriter, r *http.Request) {
	if rec, ok := w.(*statusRecorder); ok && !rec.wrote {
		rec.status, rec.wrote = 0, true
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	go func() {
		<-r.Context().Done()
		_ = conn.Close()
	}()
}

// discardWriter collects a handler's answer that is never sent.
type discardWriter struct {
	header http.Header
	status int
	wrote  bool
}

func (d *discardWriter) Header() http.Header { return d.header }

func (d *discardWriter) WriteHeader(code int) {
	if !d.wrote {
		d.status, d.wrote = code, true
	}
}

func (d *discardWriter) Write(b []byte) (int, error) {
	d.wrote = true
	return len(b), nil
}

// Duration is a time.Duration written in JSON as a Go duration string
// ("250ms", "2s", "1h").
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`a duration must be a string such as "250ms", "2s" or "1h"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"250ms\", \"2s\" or \"1h\"", s)
	}
	*d = Duration(v)
	return nil
}
