package load

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock advances only when a proposal "takes time", so the accounting
// can be checked exactly.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type notLeader struct{}

func (notLeader) Error() string     { return "not leader" }
func (notLeader) ErrorKind() string { return "not_leader" }

func TestRunAccounting(t *testing.T) {
	tests := []struct {
		name       string
		warmup     time.Duration
		duration   time.Duration
		interval   time.Duration
		latency    time.Duration
		failEvery  int // every n-th proposal fails with notLeader; 0 = never
		wantOps    uint64
		wantAcked  uint64
		wantErrors uint64
		wantSeries []uint64
	}{
		{
			name: "warm-up excluded", warmup: 10 * time.Millisecond, duration: 100 * time.Millisecond,
			interval: 25 * time.Millisecond, latency: time.Millisecond,
			// completions at 1..110 ms; 10..109 are inside the window; the
			// one issued at 109 ms completes at 110 ms, after it.
			wantOps: 100, wantAcked: 110, wantSeries: []uint64{25, 25, 25, 25},
		},
		{
			name: "no warm-up, partial last bucket", duration: 35 * time.Millisecond,
			interval: 10 * time.Millisecond, latency: 5 * time.Millisecond,
			// completions at 5, 10, ... 30 ms are inside [0, 35); the one
			// issued at 30 ms completes at 35 ms, just outside.
			wantOps: 6, wantAcked: 7, wantSeries: []uint64{1, 2, 2, 1},
		},
		{
			name: "errors counted by kind, not as ops", duration: 100 * time.Millisecond,
			interval: 50 * time.Millisecond, latency: time.Millisecond, failEvery: 4,
			// call n completes at n ms (pauses after errors take real time,
			// not clock time): calls 1..99 land in [0, 100), 24 of them
			// failed; call 100 is acknowledged after the window.
			wantOps: 75, wantAcked: 75, wantErrors: 24, wantSeries: []uint64{49, 50},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Unix(1000, 0)}
			calls := 0
			propose := func(ctx context.Context, p []byte) error {
				calls++
				clock.advance(tc.latency)
				if tc.failEvery > 0 && calls%tc.failEvery == 0 {
					return notLeader{}
				}
				return nil
			}
			spec := Spec{Threads: 1, PayloadBytes: 64, Warmup: tc.warmup, Duration: tc.duration, Interval: tc.interval}
			r, err := run(context.Background(), spec, propose, clock.now)
			if err != nil {
				t.Fatal(err)
			}
			if r.Ops != tc.wantOps || r.Acked != tc.wantAcked || r.ErrorCount() != tc.wantErrors {
				t.Errorf("ops/acked/errors = %d/%d/%d, want %d/%d/%d", r.Ops, r.Acked, r.ErrorCount(), tc.wantOps, tc.wantAcked, tc.wantErrors)
			}
			if tc.wantErrors > 0 && r.Errors["not_leader"] != tc.wantErrors {
				t.Errorf("errors by kind = %v, want not_leader=%d", r.Errors, tc.wantErrors)
			}
			if r.Measured != tc.duration {
				t.Errorf("measured = %v, want exactly %v", r.Measured, tc.duration)
			}
			if got := uint64(r.Latency.TotalCount()); got != r.Ops {
				t.Errorf("histogram holds %d latencies, want one per op (%d)", got, r.Ops)
			}
			want := tc.latency.Microseconds()
			if !r.Latency.ValuesAreEquivalent(r.Latency.Max(), want) || !r.Latency.ValuesAreEquivalent(r.Latency.Min(), want) {
				t.Errorf("latency min/max = %d/%d µs, want %d", r.Latency.Min(), r.Latency.Max(), want)
			}
			if len(r.Intervals) != len(tc.wantSeries) {
				t.Fatalf("%d intervals, want %d", len(r.Intervals), len(tc.wantSeries))
			}
			for i, iv := range r.Intervals {
				if iv.Ops+iv.Errors != tc.wantSeries[i] {
					t.Errorf("interval %d: ops+errors = %d, want %d", i, iv.Ops+iv.Errors, tc.wantSeries[i])
				}
				if iv.Start != time.Duration(i)*tc.interval {
					t.Errorf("interval %d starts at %v", i, iv.Start)
				}
			}
		})
	}
}

// With real time and many threads the exact counts vary, but the books must
// balance: the series sums to the window, the histogram holds every op, and
// every payload is distinct and of the asked size.
func TestRunBooksBalanceWithThreads(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	var calls atomic.Uint64
	propose := func(ctx context.Context, p []byte) error {
		calls.Add(1)
		if len(p) != 100 {
			return errors.New("wrong payload size")
		}
		mu.Lock()
		defer mu.Unlock()
		if seen[string(p)] {
			return errors.New("duplicate payload")
		}
		seen[string(p)] = true
		return nil
	}
	spec := Spec{Threads: 8, PayloadBytes: 100, Warmup: 20 * time.Millisecond, Duration: 200 * time.Millisecond, Interval: 50 * time.Millisecond}
	r, err := Run(context.Background(), spec, propose)
	if err != nil {
		t.Fatal(err)
	}
	if r.ErrorCount() != 0 {
		t.Fatalf("errors: %v", r.Errors)
	}
	var sum uint64
	for _, iv := range r.Intervals {
		sum += iv.Ops
	}
	if sum != r.Ops || uint64(r.Latency.TotalCount()) != r.Ops {
		t.Errorf("series sum %d, histogram %d, ops %d: must be equal", sum, r.Latency.TotalCount(), r.Ops)
	}
	if r.Ops == 0 || r.Acked < r.Ops || r.Acked != calls.Load() {
		t.Errorf("ops %d, acked %d, calls %d", r.Ops, r.Acked, calls.Load())
	}
}

// Rate is a ceiling shared by all threads: with a rate far below what the
// proposer can do, the count in the window is bounded by rate × window (plus
// the token bucket's single burst token).
func TestRunRateIsACeiling(t *testing.T) {
	propose := func(ctx context.Context, p []byte) error { return nil }
	spec := Spec{Threads: 4, Rate: 200, PayloadBytes: 8, Duration: 250 * time.Millisecond}
	r, err := Run(context.Background(), spec, propose)
	if err != nil {
		t.Fatal(err)
	}
	if limit := uint64(200*0.25) + 1; r.Ops > limit || r.Ops == 0 {
		t.Errorf("ops = %d, want 1..%d", r.Ops, limit)
	}
}

func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int64
	propose := func(ctx context.Context, p []byte) error {
		if n.Add(1) == 50 {
			cancel()
		}
		return nil
	}
	_, err := Run(ctx, Spec{Threads: 2, PayloadBytes: 8, Duration: time.Hour}, propose)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestSpecValidate(t *testing.T) {
	ok := Spec{Threads: 1, PayloadBytes: 1, Duration: time.Second}
	tests := []struct {
		name   string
		mutate func(*Spec)
		want   string // prefix naming the field; "" = valid
	}{
		{"valid", func(*Spec) {}, ""},
		{"zero threads", func(s *Spec) { s.Threads = 0 }, "threads"},
		{"negative rate", func(s *Spec) { s.Rate = -1 }, "rate"},
		{"zero payload", func(s *Spec) { s.PayloadBytes = 0 }, "payload"},
		{"zero duration", func(s *Spec) { s.Duration = 0 }, "duration"},
		{"negative warmup", func(s *Spec) { s.Warmup = -time.Second }, "warmup"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			tc.mutate(&s)
			err := s.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || len(err.Error()) < len(tc.want) || err.Error()[:len(tc.want)] != tc.want {
				t.Fatalf("err = %v, want it to start with %q", err, tc.want)
			}
		})
	}
}
