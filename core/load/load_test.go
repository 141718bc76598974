package load

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock advances only when a proposal "takes time" (the test's proposer
// calls advance) or when the run sleeps on it, which jumps it to the time
// slept until: with one sleeper at a time, it drives a run exactly. Its
// Pace overshoots by paceLate, as a real wake-up can.
type fakeClock struct {
	mu       sync.Mutex
	t        time.Time
	paceLate time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	if until.After(c.t) {
		c.t = until
	}
	c.mu.Unlock()
	return nil
}

func (c *fakeClock) Pace(ctx context.Context, until time.Time) error {
	return c.Sleep(ctx, until.Add(c.paceLate))
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type notLeader struct{}

func (notLeader) Error() string     { return "not leader" }
func (notLeader) ErrorKind() string { return "not_leader" }

// checkSeries checks that the time series adds up to the whole window and
// that the histogram holds one latency per op.
func checkSeries(t *testing.T, r *Result, interval time.Duration) {
	t.Helper()
	var ops, errs uint64
	for i, iv := range r.Intervals {
		ops += iv.Ops
		errs += iv.Errors
		if iv.Start != time.Duration(i)*interval {
			t.Errorf("interval %d starts at %v", i, iv.Start)
		}
	}
	if ops != r.Ops || errs != r.ErrorCount() {
		t.Errorf("series sums to %d ops, %d errors; window has %d, %d", ops, errs, r.Ops, r.ErrorCount())
	}
	if got := uint64(r.Latency.TotalCount()); got != r.Ops {
		t.Errorf("histogram holds %d latencies, want one per op (%d)", got, r.Ops)
	}
	// The intervals' histograms add up to the window's, bucket for bucket,
	// and each holds its interval's ops.
	sum := NewLatencyHistogram()
	for i, iv := range r.Intervals {
		if iv.Histogram == nil {
			t.Fatalf("interval %d has no histogram", i)
		}
		if got := uint64(iv.Histogram.TotalCount()); got != iv.Ops {
			t.Errorf("interval %d: histogram holds %d latencies, want %d", i, got, iv.Ops)
		}
		if iv.Ops > 0 && (iv.P50Micros != iv.Histogram.ValueAtPercentile(50) || iv.P99Micros != iv.Histogram.ValueAtPercentile(99)) {
			t.Errorf("interval %d: p50/p99 %d/%d are not its histogram's", i, iv.P50Micros, iv.P99Micros)
		}
		iv.Histogram.MergeInto(sum)
	}
	if !sum.Equals(r.Latency) {
		t.Errorf("the intervals' histograms add up to %d latencies, max %d; the window's holds %d, max %d",
			sum.TotalCount(), sum.Max(), r.Latency.TotalCount(), r.Latency.Max())
	}
}

func TestRunAccounting(t *testing.T) {
	tests := []struct {
		name       string
		rate       float64
		warmup     time.Duration
		duration   time.Duration
		interval   time.Duration
		latency    time.Duration
		failEvery  int // every n-th proposal fails with notLeader; 0 = never
		wantOps    uint64
		wantAcked  uint64
		wantErrors uint64
		wantIssued uint64
		wantSeries []uint64
	}{
		{
			name: "warm-up excluded", warmup: 10 * time.Millisecond, duration: 100 * time.Millisecond,
			interval: 25 * time.Millisecond, latency: time.Millisecond,
			// completions at 1..110 ms; 10..109 are inside the window; the
			// one issued at 109 ms completes at 110 ms, after it. Sends at
			// 10..109 ms are inside the window.
			wantOps: 100, wantAcked: 110, wantIssued: 100, wantSeries: []uint64{25, 25, 25, 25},
		},
		{
			name: "no warm-up, partial last bucket", duration: 35 * time.Millisecond,
			interval: 10 * time.Millisecond, latency: 5 * time.Millisecond,
			// completions at 5, 10, ... 30 ms are inside [0, 35); the one
			// issued at 30 ms completes at 35 ms, just outside.
			wantOps: 6, wantAcked: 7, wantIssued: 7, wantSeries: []uint64{1, 2, 2, 1},
		},
		{
			name: "errors counted by kind, not as ops", duration: 100 * time.Millisecond,
			interval: 50 * time.Millisecond, latency: time.Millisecond, failEvery: 4,
			// call n completes at n ms (pauses after errors take real time,
			// not clock time): calls 1..99 land in [0, 100), 24 of them
			// failed; call 100 is acknowledged after the window.
			wantOps: 75, wantAcked: 75, wantErrors: 24, wantIssued: 100, wantSeries: []uint64{49, 50},
		},
		{
			name: "throttled on the run's clock", rate: 1000, duration: 99500 * time.Microsecond,
			interval: 25 * time.Millisecond, latency: 100 * time.Microsecond,
			// one token a millisecond: sends at 0..99 ms complete 0.1 ms
			// later; the token at 100 ms is past the window.
			wantOps: 100, wantAcked: 100, wantIssued: 100, wantSeries: []uint64{25, 25, 25, 25},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			calls := 0
			propose := func(ctx context.Context, p []byte) error {
				calls++
				clk.advance(tc.latency)
				if tc.failEvery > 0 && calls%tc.failEvery == 0 {
					return notLeader{}
				}
				return nil
			}
			spec := Spec{Threads: 1, Rate: tc.rate, PayloadBytes: 64, Warmup: tc.warmup, Duration: tc.duration, Interval: tc.interval}
			r, err := run(context.Background(), spec, Client{Propose: unpositioned(propose)}, clk)
			if err != nil {
				t.Fatal(err)
			}
			if r.Ops != tc.wantOps || r.Acked != tc.wantAcked || r.ErrorCount() != tc.wantErrors {
				t.Errorf("ops/acked/errors = %d/%d/%d, want %d/%d/%d", r.Ops, r.Acked, r.ErrorCount(), tc.wantOps, tc.wantAcked, tc.wantErrors)
			}
			if r.Loop != LoopClosed || r.Issued != tc.wantIssued || r.Queued != 0 || r.QueuedTime != 0 || r.Unsent != 0 {
				t.Errorf("loop %q issued %d queued %d/%v unsent %d, want closed %d 0/0s 0", r.Loop, r.Issued, r.Queued, r.QueuedTime, r.Unsent, tc.wantIssued)
			}
			if tc.wantErrors > 0 && r.Errors["not_leader"] != tc.wantErrors {
				t.Errorf("errors by kind = %v, want not_leader=%d", r.Errors, tc.wantErrors)
			}
			if r.Measured != tc.duration {
				t.Errorf("measured = %v, want exactly %v", r.Measured, tc.duration)
			}
			checkSeries(t, r, tc.interval)
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
			}
		})
	}
}

// queueModel works out by hand (Lindley's recursion for one server, first
// come first served) what the open loop with MaxInFlight 1 must record:
// request k is due at k·gap; if its predecessor completes after that, it is
// sent then, unless the window is over; otherwise the worker waits for it,
// waking paceLate late, and sends it. It returns the latencies, from the due
// time, of the requests that complete inside the window, in request order.
func queueModel(gap, paceLate, warmup, duration time.Duration, service func(k int) time.Duration) []time.Duration {
	end := warmup + duration
	var lats []time.Duration
	var free time.Duration // when the single slot is next free
	for k := 0; time.Duration(k)*gap < end; k++ {
		due := time.Duration(k) * gap
		sent := due
		switch {
		case free > due:
			if sent = free; sent >= end {
				return lats
			}
		case free < due:
			sent = due + paceLate
		}
		free = sent + service(k)
		if free >= warmup && free < end {
			lats = append(lats, free-due)
		}
	}
	return lats
}

func TestOpenLoopIntendedTime(t *testing.T) {
	const ms = time.Millisecond
	constant := func(d time.Duration) func(int) time.Duration { return func(int) time.Duration { return d } }
	stallAt10 := func(k int) time.Duration {
		if k == 10 {
			return 100 * ms
		}
		return 100 * time.Microsecond
	}
	tests := []struct {
		name               string
		gap                time.Duration // 1/Rate
		paceLate           time.Duration // how late the worker wakes for a request
		warmup, duration   time.Duration
		service            func(k int) time.Duration
		failEvery          int
		wantOps, wantAcked uint64
		wantErrors         uint64
		wantIssued         uint64
		wantQueued         uint64
		wantQueuedTime     time.Duration
		wantUnsent         uint64
		wantP50, wantMax   time.Duration
	}{
		{
			name: "keeps up: no queueing", gap: ms, warmup: 10 * ms, duration: 100 * ms, service: constant(ms / 2),
			// request k is sent at k ms and completes at k+0.5 ms; 10..109
			// complete inside [10, 110) ms, 0..9 in the warm-up.
			wantOps: 100, wantAcked: 110, wantIssued: 100,
			wantP50: ms / 2, wantMax: ms / 2,
		},
		{
			name: "slow node: waits grow linearly", gap: ms, duration: 100 * ms, service: constant(10 * ms),
			// request k is sent at 10k ms, having waited 9k ms, and
			// completes at 10k+10 ms: latency 9k+10 ms. Requests 0..8
			// complete inside the window (10..82 ms, median 46); 9 after
			// it; 1..9 waited 9·(1+...+9) = 405 ms in all; 10..99 were
			// still waiting when the window ended.
			wantOps: 9, wantAcked: 10, wantIssued: 100, wantQueued: 9, wantQueuedTime: 405 * ms, wantUnsent: 90,
			wantP50: 46 * ms, wantMax: 82 * ms,
		},
		{
			name: "only window requests count as queued", gap: ms, warmup: 10 * ms, duration: 20 * ms, service: constant(2 * ms),
			// request k is sent at 2k ms and completes at 2k+2: latency
			// k+2 ms. The window's requests are 10..29; 10..14 were sent
			// (at 20..28 ms), having waited k ms each, 60 ms in all; 15..29
			// were still waiting at 30 ms. Requests 4..13 complete inside
			// [10, 30) ms: latencies 6..15 ms.
			wantOps: 10, wantAcked: 15, wantIssued: 20, wantQueued: 5, wantQueuedTime: 60 * ms, wantUnsent: 15,
			wantP50: 10 * ms, wantMax: 15 * ms,
		},
		{
			name: "one stall charges every request scheduled during it", gap: ms, duration: 200 * ms, service: stallAt10,
			// request 10 takes 100 ms, completing at 110 ms. Requests
			// 11..120 are sent back to back from 110 ms, each 0.1 ms after
			// the last, having waited 108.9-0.9k ms: 5494.5 ms in all;
			// request 121 is sent at 121 ms, on time again. 111 of the 200
			// latencies are a millisecond or more (request 10's 100 ms and
			// 99.1, 98.2, ... 1 ms): the median is the 11th smallest of
			// those, request 110's 10 ms.
			wantOps: 200, wantAcked: 200, wantIssued: 200, wantQueued: 110, wantQueuedTime: 5494500 * time.Microsecond,
			wantP50: 10 * ms, wantMax: 100 * ms,
		},
		{
			name: "the generator's lag is charged but not queued", gap: ms, paceLate: 3 * ms / 2, duration: 10 * ms,
			service: constant(ms / 10),
			// request 0 is sent at 0; 1 is waited for, sent at 2.5 ms (1.5
			// late) and completes at 2.6; 2, due at 2 ms, is then sent at
			// once: late, but because the worker was late, not because it
			// was busy since before 2 ms. And so on in pairs: latencies 0.1,
			// then 1.6 and 0.7 ms four times. Request 9 is waited for and
			// sent at 10.5 ms, after the window, as it was taken in time.
			wantOps: 9, wantAcked: 10, wantIssued: 10,
			wantP50: 7 * ms / 10, wantMax: 16 * ms / 10,
		},
		{
			name: "errors counted by kind, not as ops", gap: ms, duration: 100 * ms, service: constant(ms / 2), failEvery: 4,
			// no back-off in the open loop: request k is sent at k ms
			// whatever happened before; every 4th fails.
			wantOps: 75, wantAcked: 75, wantErrors: 25, wantIssued: 100,
			wantP50: ms / 2, wantMax: ms / 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			clk.paceLate = tc.paceLate
			calls := 0
			propose := func(ctx context.Context, p []byte) error {
				k := calls
				calls++
				clk.advance(tc.service(k))
				if tc.failEvery > 0 && calls%tc.failEvery == 0 {
					return notLeader{}
				}
				return nil
			}
			const interval = 10 * time.Millisecond
			spec := Spec{
				Loop: LoopOpen, Threads: 1, MaxInFlight: 1, Rate: float64(time.Second / tc.gap),
				PayloadBytes: 64, Warmup: tc.warmup, Duration: tc.duration, Interval: interval,
			}
			r, err := run(context.Background(), spec, Client{Propose: unpositioned(propose)}, clk)
			if err != nil {
				t.Fatal(err)
			}
			if r.Loop != LoopOpen {
				t.Errorf("loop = %q, want open", r.Loop)
			}
			if r.Ops != tc.wantOps || r.Acked != tc.wantAcked || r.ErrorCount() != tc.wantErrors {
				t.Errorf("ops/acked/errors = %d/%d/%d, want %d/%d/%d", r.Ops, r.Acked, r.ErrorCount(), tc.wantOps, tc.wantAcked, tc.wantErrors)
			}
			if r.Issued != tc.wantIssued || r.Queued != tc.wantQueued || r.QueuedTime != tc.wantQueuedTime || r.Unsent != tc.wantUnsent {
				t.Errorf("issued/queued/queued time/unsent = %d/%d/%v/%d, want %d/%d/%v/%d",
					r.Issued, r.Queued, r.QueuedTime, r.Unsent, tc.wantIssued, tc.wantQueued, tc.wantQueuedTime, tc.wantUnsent)
			}
			checkSeries(t, r, interval)
			if tc.failEvery > 0 {
				return
			}
			if got := r.Latency.ValueAtQuantile(50); !r.Latency.ValuesAreEquivalent(got, tc.wantP50.Microseconds()) {
				t.Errorf("p50 = %d µs, want %d", got, tc.wantP50.Microseconds())
			}
			if got := r.Latency.Max(); !r.Latency.ValuesAreEquivalent(got, tc.wantMax.Microseconds()) {
				t.Errorf("max = %d µs, want %d", got, tc.wantMax.Microseconds())
			}
			// Every latency, not just the percentiles, is the model's.
			lats := queueModel(tc.gap, tc.paceLate, tc.warmup, tc.duration, tc.service)
			want := NewLatencyHistogram()
			for _, l := range lats {
				_ = want.RecordValue(l.Microseconds())
			}
			if !r.Latency.Equals(want) {
				t.Errorf("latencies differ from the queue model's %v", lats)
			}
		})
	}
}

// The coordinated-omission demonstration: one 100 ms stall against a node
// otherwise taking 0.1 ms, at 1000 proposals a second. The closed loop stops
// sending while it waits, so it records a single slow proposal and its
// median and p99 stay at 0.1 ms; the open loop charges every request
// scheduled during the stall for its wait.
func TestCoordinatedOmission(t *testing.T) {
	const stallAt = 10
	runLoop := func(loop string) *Result {
		clk := newFakeClock()
		calls := 0
		propose := func(ctx context.Context, p []byte) error {
			if calls == stallAt {
				clk.advance(100 * time.Millisecond)
			} else {
				clk.advance(100 * time.Microsecond)
			}
			calls++
			return nil
		}
		spec := Spec{Loop: loop, Threads: 1, MaxInFlight: 1, Rate: 1000, PayloadBytes: 8, Duration: 200 * time.Millisecond}
		r, err := run(context.Background(), spec, Client{Propose: unpositioned(propose)}, clk)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	closed, open := runLoop(LoopClosed), runLoop(LoopOpen)
	tests := []struct {
		name      string
		r         *Result
		wantSlow  int64 // latencies of a millisecond or more
		wantP50us int64
		wantP99us int64
	}{
		// closed: sends at 0..10 ms, then at 110 ms (a token had
		// accumulated) and one a millisecond from 111 to 199 ms: 101
		// proposals, the 99 a client would have sent during the stall
		// omitted.
		{"closed", closed, 1, 100, 100},
		// open: see TestOpenLoopIntendedTime's stall case.
		{"open", open, 111, 10000, 98200},
	}
	for _, tc := range tests {
		slowCount := int64(0)
		for _, b := range tc.r.Latency.Distribution() {
			if b.From >= 1000 {
				slowCount += b.Count
			}
		}
		if slowCount != tc.wantSlow {
			t.Errorf("%s: %d latencies of 1 ms or more, want %d", tc.name, slowCount, tc.wantSlow)
		}
		if got := tc.r.Latency.ValueAtQuantile(50); !tc.r.Latency.ValuesAreEquivalent(got, tc.wantP50us) {
			t.Errorf("%s: p50 = %d µs, want %d", tc.name, got, tc.wantP50us)
		}
		if got := tc.r.Latency.ValueAtQuantile(99); !tc.r.Latency.ValuesAreEquivalent(got, tc.wantP99us) {
			t.Errorf("%s: p99 = %d µs, want %d", tc.name, got, tc.wantP99us)
		}
		if !tc.r.Latency.ValuesAreEquivalent(tc.r.Latency.Max(), 100000) {
			t.Errorf("%s: max = %d µs, want the stall's 100000", tc.name, tc.r.Latency.Max())
		}
	}
	if closed.Ops != 101 || open.Ops != 200 {
		t.Errorf("ops closed/open = %d/%d, want 101/200", closed.Ops, open.Ops)
	}
}

// With real time and many threads or workers the exact counts vary, but the
// books must balance: the series sums to the window, the histogram holds
// every op, every call is acknowledged, and every payload is distinct and of
// the asked size. The open loop's offered load is exact even so.
func TestRunBooksBalanceConcurrently(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
	}{
		{"closed, 8 threads", Spec{Threads: 8}},
		{"open, 4 threads, 8 in flight", Spec{Loop: LoopOpen, Threads: 4, MaxInFlight: 8, Rate: 20000}},
		{"open, default cap", Spec{Loop: LoopOpen, Threads: 2, Rate: 5000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			seen := map[string]bool{}
			var calls atomic.Uint64
			propose := func(ctx context.Context, p []byte) error {
				calls.Add(1)
				if len(p) != 100 {
					return errors.New("wrong payload size")
				}
				if _, ok := ctx.Deadline(); !ok {
					return errors.New("no deadline")
				}
				mu.Lock()
				defer mu.Unlock()
				if seen[string(p)] {
					return errors.New("duplicate payload")
				}
				seen[string(p)] = true
				return nil
			}
			spec := tc.spec
			spec.PayloadBytes, spec.Warmup, spec.Duration, spec.Interval = 100, 20*time.Millisecond, 200*time.Millisecond, 50*time.Millisecond
			r, err := Run(context.Background(), spec, unpositioned(propose))
			if err != nil {
				t.Fatal(err)
			}
			if r.ErrorCount() != 0 {
				t.Fatalf("errors: %v", r.Errors)
			}
			checkSeries(t, r, spec.Interval)
			if r.Ops == 0 || r.Acked < r.Ops || r.Acked != calls.Load() {
				t.Errorf("ops %d, acked %d, calls %d", r.Ops, r.Acked, calls.Load())
			}
			if spec.Loop == LoopOpen {
				if want := uint64(spec.Rate * spec.Duration.Seconds()); r.Issued != want {
					t.Errorf("issued %d, want rate × duration = %d", r.Issued, want)
				}
				if r.Queued+r.Unsent > r.Issued || (r.Queued == 0) != (r.QueuedTime == 0) {
					t.Errorf("issued %d, queued %d (%v), unsent %d: do not add up", r.Issued, r.Queued, r.QueuedTime, r.Unsent)
				}
			} else if th := uint64(spec.Threads); r.Ops > r.Issued+th || r.Issued > r.Ops+th {
				// Each thread can have one proposal straddling each edge
				// of the window.
				t.Errorf("issued %d, ops %d: more than %d apart", r.Issued, r.Ops, th)
			}
		})
	}
}

// Rate is a ceiling shared by all threads: with a rate far below what the
// proposer can do, the count in the window is bounded by rate × window (plus
// the token bucket's single burst token).
func TestRunRateIsACeiling(t *testing.T) {
	propose := func(ctx context.Context, p []byte) error { return nil }
	spec := Spec{Threads: 4, Rate: 200, PayloadBytes: 8, Duration: 250 * time.Millisecond}
	r, err := Run(context.Background(), spec, unpositioned(propose))
	if err != nil {
		t.Fatal(err)
	}
	if limit := uint64(200*0.25) + 1; r.Ops > limit || r.Ops == 0 {
		t.Errorf("ops = %d, want 1..%d", r.Ops, limit)
	}
}

// An interrupted run returns ctx's error, whether its workers are busy
// proposing or asleep until requests due long after (open loop at one
// request a second: the workers holding requests 1.. must wake on ctx).
func TestRunInterrupted(t *testing.T) {
	tests := []struct {
		name     string
		spec     Spec
		cancelAt int64
	}{
		{"closed", Spec{Threads: 2}, 50},
		{"open, busy", Spec{Loop: LoopOpen, Threads: 2, Rate: 1e6}, 50},
		{"open, asleep", Spec{Loop: LoopOpen, Threads: 2, Rate: 1}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var n atomic.Int64
			propose := func(ctx context.Context, p []byte) error {
				if n.Add(1) == tc.cancelAt {
					cancel()
				}
				return nil
			}
			spec := tc.spec
			spec.PayloadBytes, spec.Duration = 8, time.Hour
			_, err := Run(ctx, spec, unpositioned(propose))
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
		})
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
		{"closed explicitly", func(s *Spec) { s.Loop = LoopClosed }, ""},
		{"open with a rate", func(s *Spec) { s.Loop, s.Rate = LoopOpen, 10 }, ""},
		{"open with a cap", func(s *Spec) { s.Loop, s.Rate, s.MaxInFlight = LoopOpen, 10, 3 }, ""},
		{"unknown loop", func(s *Spec) { s.Loop = "ajar" }, "loop"},
		{"zero threads", func(s *Spec) { s.Threads = 0 }, "threads"},
		{"negative rate", func(s *Spec) { s.Rate = -1 }, "rate"},
		{"open without a rate", func(s *Spec) { s.Loop = LoopOpen }, "rate: must be positive with loop open"},
		{"negative cap", func(s *Spec) { s.Loop, s.Rate, s.MaxInFlight = LoopOpen, 10, -1 }, "max in flight"},
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
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to start with %q", err, tc.want)
			}
		})
	}
}

// The schedule: request k is due k/rate seconds after t0, and firstAt finds
// the first request due at or after an offset, including for rates that do
// not divide a second.
func TestSchedule(t *testing.T) {
	tests := []struct {
		rate float64
		d    time.Duration
		want uint64
	}{
		{1000, 0, 0},
		{1000, time.Millisecond, 1},
		{1000, time.Millisecond + 1, 2},
		{1000, 100 * time.Millisecond, 100},
		{3, time.Second, 3},
		{3, time.Second + 1, 4},
		{7, 2 * time.Second, 14},
		{0.5, 3 * time.Second, 2},
		{1e6, 20 * time.Millisecond, 20000},
	}
	for _, tc := range tests {
		k := firstAt(tc.d, tc.rate)
		if k != tc.want {
			t.Errorf("firstAt(%v, %v) = %d, want %d", tc.d, tc.rate, k, tc.want)
		}
		if offset(k, tc.rate) < tc.d || (k > 0 && offset(k-1, tc.rate) >= tc.d) {
			t.Errorf("rate %v: offsets %v, %v around %v", tc.rate, offset(k-1, tc.rate), offset(k, tc.rate), tc.d)
		}
	}
	var offs []time.Duration
	for k := range uint64(10) {
		offs = append(offs, offset(k, 3))
	}
	if !slices.IsSorted(offs) || offs[3] != time.Second {
		t.Errorf("offsets at rate 3: %v", offs)
	}
}

// Proposals share contexts, but each one's deadline is at least OpTimeout
// and at most OpTimeout + OpTimeout/1000 after its start.
func TestOpContexts(t *testing.T) {
	const timeout = time.Second
	const slack = timeout / 1000
	o := newOpContexts(context.Background(), timeout, true)
	base := time.Now()
	var prev context.Context
	for _, tc := range []struct {
		at    time.Duration // start, after base
		fresh bool          // a new context is expected
	}{
		{0, true},
		{slack / 2, false},
		{slack, false},
		{slack + 1, true},
		{2 * slack, false},
		{3 * slack, true},
	} {
		start := base.Add(tc.at)
		ctx := o.get(start)
		d, ok := ctx.Deadline()
		if !ok || d.Before(start.Add(timeout)) || d.After(start.Add(timeout+slack)) {
			t.Errorf("start +%v: deadline +%v, want in [+%v, +%v]", tc.at, d.Sub(base), tc.at+timeout, tc.at+timeout+slack)
		}
		if fresh := ctx != prev; fresh != tc.fresh {
			t.Errorf("start +%v: new context %v, want %v", tc.at, fresh, tc.fresh)
		}
		prev = ctx
	}
}

// A proposal that outlives OpTimeout fails with the timeout kind, in both
// loops.
func TestRunOpTimeout(t *testing.T) {
	for _, loop := range []string{LoopClosed, LoopOpen} {
		t.Run(loop, func(t *testing.T) {
			propose := func(ctx context.Context, p []byte) error {
				<-ctx.Done()
				return ctx.Err()
			}
			spec := Spec{Loop: loop, Threads: 2, Rate: 500, PayloadBytes: 8, Duration: 50 * time.Millisecond, OpTimeout: time.Millisecond}
			r, err := Run(context.Background(), spec, unpositioned(propose))
			if err != nil {
				t.Fatal(err)
			}
			if r.Ops != 0 || r.Acked != 0 || r.ErrorCount() == 0 || r.Errors[ErrKindTimeout] != r.ErrorCount() {
				t.Errorf("ops %d, acked %d, errors %v: want only timeouts", r.Ops, r.Acked, r.Errors)
			}
		})
	}
}

// A recorder books each latency in its completion's interval, whatever the
// order completions reach it in: in order, back to an earlier interval (a
// late completion, open loop), and on again; other recorders add to the
// same intervals.
func TestRecorderIntervals(t *testing.T) {
	t0 := time.Unix(1000, 0)
	w := window{start: t0, end: t0.Add(3 * time.Second), interval: time.Second}
	hists := newIntervalHists(w.buckets())
	a, b := newRecorder(hists), newRecorder(hists)
	type completion struct {
		rec     *recorder
		doneAt  time.Duration // from the window's start
		latency time.Duration
	}
	for _, c := range []completion{
		{a, 100 * time.Millisecond, 100 * time.Microsecond},
		{a, 1100 * time.Millisecond, 200 * time.Microsecond},
		{a, 900 * time.Millisecond, 300 * time.Microsecond}, // late: interval 0
		{b, 950 * time.Millisecond, 400 * time.Microsecond},
		{a, 1200 * time.Millisecond, 500 * time.Microsecond},
		{a, 2500 * time.Millisecond, 600 * time.Microsecond},
		{b, 3500 * time.Millisecond, 700 * time.Microsecond}, // after the window
	} {
		done := t0.Add(c.doneAt)
		c.rec.complete(w, done.Add(-c.latency), done, nil)
	}
	r := merge([]*recorder{a, b}, Spec{Duration: 3 * time.Second}, w)
	want := [][]int64{{100, 300, 400}, {200, 500}, {600}}
	for i, iv := range r.Intervals {
		var got []int64
		iv.Histogram.ForEachBucket(func(v, n int64) bool {
			for range n {
				got = append(got, v)
			}
			return true
		})
		if !slices.Equal(got, want[i]) {
			t.Errorf("interval %d holds %v µs, want %v", i, got, want[i])
		}
	}
	checkSeries(t, r, time.Second)
	if r.Ops != 6 || r.Acked != 7 || r.Latency.Max() != r.Latency.ValueAtPercentile(100) || r.Latency.Max() < 600 {
		t.Errorf("ops %d, acked %d, max %d; want 6, 7, 600", r.Ops, r.Acked, r.Latency.Max())
	}
}

// unpositioned makes a ProposeFunc of a test's proposer that reports no
// position (0), which the load generator does not need.
func unpositioned(f func(context.Context, []byte) error) ProposeFunc {
	return func(ctx context.Context, p []byte) (uint64, error) { return 0, f(ctx, p) }
}
