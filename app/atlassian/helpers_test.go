package atlassian_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app/atlassian"
	"github.com/lapsehq/lapse/app/internal/testclock"
)

// t0 is the fixed start of every fake clock: 20 minutes past a UTC hour, so
// hour windows reset at t0 + 40 min.
var t0 = time.Date(2026, 6, 1, 10, 20, 0, 0, time.UTC)

// syncBuffer collects log output from concurrent requests.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// reply is one canned answer of a fakeServer.
type reply struct {
	status int
	header map[string]string
	body   string
	drop   bool // close the connection without answering
	hang   bool // answer only after the client went away
}

// seenRequest is what the fake server received.
type seenRequest struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     string
}

// fakeServer plays a script per path: replies are used in order and the last
// one repeats. Paths without a script answer 200 {}.
type fakeServer struct {
	*httptest.Server
	mu     sync.Mutex
	script map[string][]reply
	seen   []seenRequest
}

func newFakeServer(t testing.TB, script map[string][]reply) *fakeServer {
	t.Helper()
	s := &fakeServer{script: script}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// script1 is a fakeServer scripting only /x.
func script1(t testing.TB, replies ...reply) *fakeServer {
	t.Helper()
	return newFakeServer(t, map[string][]reply{"/x": replies})
}

func (s *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.seen = append(s.seen, seenRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), string(body)})
	rep := reply{status: http.StatusOK, body: "{}"}
	if list := s.script[r.URL.Path]; len(list) > 0 {
		rep = list[0]
		if len(list) > 1 {
			s.script[r.URL.Path] = list[1:]
		}
	}
	s.mu.Unlock()

	switch {
	case rep.drop:
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close()
		}
		return
	case rep.hang:
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if rep.body != "" && w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

func (s *fakeServer) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.seen {
		if r.Path == path {
			n++
		}
	}
	return n
}

func (s *fakeServer) requests() []seenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seenRequest(nil), s.seen...)
}

// harness bundles the fakes a client test needs.
type harness struct {
	clock  *testclock.Clock // NowFunc and SleepFunc: sleeping advances the clock and is recorded
	logs   *syncBuffer
	budget *atlassian.MemoryBudget
}

func newHarness() *harness {
	return &harness{clock: testclock.New(t0), logs: &syncBuffer{}, budget: atlassian.NewMemoryBudget()}
}

// client builds a Client on baseURL with the harness's clock, logs and
// budget, and jitter fixed at 1.0 (Rand 0.5), so backoff is exactly
// BaseDelay·2^(n-1).
func (h *harness) client(t testing.TB, baseURL string, mod func(*atlassian.Config)) *atlassian.Client {
	t.Helper()
	// A transport of its own: http.DefaultTransport is shared by parallel
	// tests, and httptest.Server.Close of another test closes its idle
	// connections, which can break this test's request mid-flight (seen as
	// a spurious "connection broken" retry).
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	cfg := atlassian.Config{
		BaseURL:    baseURL,
		HTTPClient: &http.Client{Timeout: 5 * time.Second, Transport: tr},
		Budget:     h.budget,
		Logger:     slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		NowFunc:    h.clock.Now,
		SleepFunc:  h.clock.Sleep,
		Rand:       func() float64 { return 0.5 },
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := atlassian.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func boolPtr(b bool) *bool { return &b }

func seconds(ss ...float64) []time.Duration {
	out := make([]time.Duration, len(ss))
	for i, s := range ss {
		out[i] = time.Duration(s * float64(time.Second))
	}
	return out
}

// diff reports want/got in the (-want +got) shape when they differ.
func diff(want, got any) string {
	if reflect.DeepEqual(want, got) {
		return ""
	}
	return fmt.Sprintf("(-want +got)\n- %+v\n+ %+v", want, got)
}

func usage(t testing.TB, b atlassian.Budget, now time.Time, scope string) int64 {
	t.Helper()
	n, err := b.Usage(context.Background(), now, scope, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
