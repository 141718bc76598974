package load

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"
)

// The mix is reproducible and matches the ratio.
func TestIsRead(t *testing.T) {
	for _, ratio := range []float64{0, 0.1, 0.5, 0.9, 1} {
		m := &mix{ratio: ratio}
		const n = 200000
		reads := 0
		for seq := uint64(0); seq < n; seq++ {
			if m.isRead(seq%7, seq) {
				reads++
			}
			if m.isRead(seq%7, seq) != m.isRead(seq%7, seq) {
				t.Fatal("isRead is not a function of its arguments")
			}
		}
		if got := float64(reads) / n; math.Abs(got-ratio) > 0.01 {
			t.Errorf("ratio %v: %v of operations are reads", ratio, got)
		}
	}
}

// The staleness check: a read is stale if and only if it answered, inside
// the window, with fewer payloads than the floor taken before it began.
func TestStaleCheck(t *testing.T) {
	t0 := time.Unix(1000, 0)
	w := window{start: t0, end: t0.Add(10 * time.Second), interval: time.Second}
	in, after := t0.Add(time.Second), t0.Add(11*time.Second)
	for _, tc := range []struct {
		name           string
		floor, applied uint64
		done           time.Time
		err            error
		stale          uint64
	}{
		{"caught up", 10, 10, in, nil, 0},
		{"ahead", 10, 12, in, nil, 0},
		{"nothing acknowledged yet", 0, 0, in, nil, 0},
		{"one behind", 10, 9, in, nil, 1},
		{"far behind", 10, 0, in, nil, 1},
		{"behind but after the window", 10, 9, after, nil, 0},
		{"failed", 10, 0, in, errors.New("no leader"), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &mix{w: w, hists: newIntervalHists(w.buckets())}
			rec := newRecorder(m.hists)
			m.check(rec, in.Add(-time.Millisecond), in.Add(-time.Millisecond), tc.done, tc.floor, tc.applied, tc.err)
			if rec.stale != tc.stale {
				t.Fatalf("stale %d, want %d", rec.stale, tc.stale)
			}
			if tc.stale > 0 {
				ex := m.examples
				if len(ex) != 1 || ex[0].Acked != tc.floor || ex[0].Applied != tc.applied || ex[0].At != time.Second-time.Millisecond {
					t.Fatalf("examples %+v", ex)
				}
			}
		})
	}
}

// fakeNode is a leader whose writes apply at once, with a follower that
// lags a fixed number of payloads behind it.
type fakeNode struct {
	mu      sync.Mutex
	applied uint64
	lag     uint64
}

func (f *fakeNode) propose(context.Context, []byte) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied++
	return f.applied, nil
}

func (f *fakeNode) read(_ context.Context, mode string) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if mode == "stale" {
		return f.applied - min(f.lag, f.applied), nil
	}
	return f.applied, nil
}

// Mixed loads, closed and open: reads and writes are counted apart, a read
// of the leader's state is never stale and a lagging follower's is.
func TestMixedLoad(t *testing.T) {
	for _, loop := range []string{LoopClosed, LoopOpen} {
		for _, mode := range []string{"linearizable", "stale"} {
			t.Run(loop+"/"+mode, func(t *testing.T) {
				f := &fakeNode{lag: 5}
				spec := Spec{Threads: 2, PayloadBytes: 32, Duration: 100 * time.Millisecond, Loop: loop, ReadRatio: 0.5, ReadMode: mode}
				if loop == LoopOpen {
					spec.Rate = 2000
				}
				r, err := RunClient(context.Background(), spec, Client{Propose: f.propose, Read: f.read})
				if err != nil {
					t.Fatal(err)
				}
				rr := r.Reads
				if rr == nil || rr.Ops == 0 || r.Ops == 0 {
					t.Fatalf("writes %d, reads %+v", r.Ops, rr)
				}
				if r.Acked != f.applied {
					t.Errorf("%d writes acknowledged, %d applied", r.Acked, f.applied)
				}
				if rr.Latency.TotalCount() != int64(rr.Ops) || r.Latency.TotalCount() != int64(r.Ops) {
					t.Errorf("histograms hold %d reads and %d writes; %d and %d counted", rr.Latency.TotalCount(), r.Latency.TotalCount(), rr.Ops, r.Ops)
				}
				var ivReads uint64
				for _, iv := range rr.Intervals {
					ivReads += iv.Ops
				}
				if ivReads != rr.Ops {
					t.Errorf("read intervals add up to %d, not %d", ivReads, rr.Ops)
				}
				switch mode {
				case "linearizable":
					if rr.Stale != 0 || len(rr.StaleExamples) != 0 {
						t.Errorf("%d stale reads of the leader's own state: %+v", rr.Stale, rr.StaleExamples)
					}
				case "stale":
					if rr.Stale == 0 || rr.Stale > rr.Ops || len(rr.StaleExamples) == 0 || len(rr.StaleExamples) > MaxStaleExamples {
						t.Errorf("%d of %d reads stale, examples %+v", rr.Stale, rr.Ops, rr.StaleExamples)
					}
					for _, ex := range rr.StaleExamples {
						if ex.Applied >= ex.Acked {
							t.Errorf("example %+v is not stale", ex)
						}
					}
				}
			})
		}
	}
}

// A write-only spec has no read figures; a ratio without a reader, or out
// of range, is refused.
func TestReadSpec(t *testing.T) {
	f := &fakeNode{}
	r, err := RunClient(context.Background(), Spec{Threads: 1, PayloadBytes: 8, Duration: 10 * time.Millisecond}, Client{Propose: f.propose})
	if err != nil || r.Reads != nil {
		t.Fatalf("write-only: %v, reads %+v", err, r.Reads)
	}
	for _, s := range []Spec{
		{Threads: 1, PayloadBytes: 8, Duration: time.Millisecond, ReadRatio: 1.5, ReadMode: "stale"},
		{Threads: 1, PayloadBytes: 8, Duration: time.Millisecond, ReadRatio: 0.5},
	} {
		if err := s.Validate(); err == nil {
			t.Errorf("%+v validated", s)
		}
	}
	if _, err := RunClient(context.Background(), Spec{Threads: 1, PayloadBytes: 8, Duration: time.Millisecond, ReadRatio: 0.5, ReadMode: "stale"}, Client{Propose: f.propose}); err == nil {
		t.Error("a read ratio without a reader ran")
	}
}

// The open loop books its offered load per kind: of a schedule of 100
// requests, 10 ms each at one in flight (the "slow node" case of
// TestOpenLoop), request 0 is sent on time, 1..9 wait for the slot and
// 10..99 are never sent, and each request's kind is isRead of its number.
// Writes' and reads' issued, queued and unsent are those of their own
// requests, and add up to the write-only figures.
func TestOpenLoopOfferedPerKind(t *testing.T) {
	const ms = time.Millisecond
	clk := newFakeClock()
	serve := func() { clk.advance(10 * ms) }
	spec := Spec{
		Loop: LoopOpen, Threads: 1, MaxInFlight: 1, Rate: 1000, PayloadBytes: 64,
		Duration: 100 * ms, Interval: 10 * ms, ReadRatio: 0.5, ReadMode: "stale",
	}
	var applied uint64
	c := Client{
		Propose: func(context.Context, []byte) (uint64, error) { serve(); applied++; return applied, nil },
		Read:    func(context.Context, string) (uint64, error) { serve(); return applied, nil },
	}
	r, err := run(context.Background(), spec, c, clk)
	if err != nil {
		t.Fatal(err)
	}
	m := &mix{ratio: spec.ReadRatio}
	type books struct {
		issued, queued, unsent uint64
		queuedTime             time.Duration
	}
	var want [2]books // writes, reads
	for k := uint64(0); k < 100; k++ {
		b := &want[boolInt(m.isRead(0, k))]
		b.issued++
		switch {
		case k >= 1 && k <= 9:
			b.queued++
			b.queuedTime += time.Duration(9*k) * ms // sent at 10k ms, due at k ms
		case k >= 10:
			b.unsent++
		}
	}
	if want[0].issued == 0 || want[1].issued == 0 || want[0].queued == 0 || want[1].queued == 0 {
		t.Fatalf("the schedule does not mix kinds: %+v", want)
	}
	rr := r.Reads
	got := [2]books{
		{r.Issued, r.Queued, r.Unsent, r.QueuedTime},
		{rr.Issued, rr.Queued, rr.Unsent, rr.QueuedTime},
	}
	for i, kind := range []string{"writes", "reads"} {
		if got[i] != want[i] {
			t.Errorf("%s: issued/queued/unsent/queued time %+v, want %+v", kind, got[i], want[i])
		}
	}
	if total := r.Issued + rr.Issued; total != 100 || r.Unsent+rr.Unsent != 90 || r.Queued+rr.Queued != 9 || r.QueuedTime+rr.QueuedTime != 405*ms {
		t.Errorf("together: issued %d, unsent %d, queued %d (%v); want 100, 90, 9 (405ms)", total, r.Unsent+rr.Unsent, r.Queued+rr.Queued, r.QueuedTime+rr.QueuedTime)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
