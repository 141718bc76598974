// Package load is raftcmp's load generator: client threads that propose
// payloads to a Raft node and record how long each proposal took to be
// applied.
//
// The generator is deliberately ignorant of where it runs. The embedded
// client runs it inside the leader's plugin process against the local node
// (as the original experiment ran its client threads inside the leader); an
// external client runs it in the raftcmp process against a remote node. Both
// hand Run a ProposeFunc.
//
// # Accounting
//
// Run starts Spec.Threads goroutines at t0. The warm-up is [t0, t0+Warmup);
// the measured window is W = [t0+Warmup, t0+Warmup+Duration). A proposal is
// counted in the figures if and only if it completes inside W: its latency
// goes into the histogram and its outcome into Ops or Errors. Proposals that
// complete during the warm-up, or after W ends (the ones in flight at the
// end), are acknowledged (Acked) but not measured. No proposal is issued at
// or after the end of W. Throughput is Ops / Duration, so the denominator is
// exactly the measured window.
//
// # Loop model
//
// Each thread runs a closed loop: it issues a proposal, waits for it to be
// applied, then issues the next. With Rate > 0 all threads draw from one
// token bucket of Rate tokens per second (burst 1), so Rate is a ceiling on
// the offered load shared by the threads, as in the original experiment.
package load

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/time/rate"
)

// Latency histograms record microseconds from 1 µs to one hour. The whole
// window keeps 3 significant digits; per-interval histograms keep 2, which is
// enough for a time-series p50/p99 and keeps memory small with many threads.
const (
	histMaxMicros        = int64(time.Hour / time.Microsecond)
	histSigFigs          = 3
	intervalHistSigFigs  = 2
	defaultInterval      = time.Second
	defaultOpTimeout     = 10 * time.Second
	pauseAfterError      = time.Millisecond
	payloadHeaderBytes   = 16
	payloadTemplateBytes = 4096
)

// Error kinds used as keys of Result.Errors. An error reports its own kind by
// implementing interface{ ErrorKind() string } (adapter.NotLeaderError does).
const (
	ErrKindTimeout = "timeout"
	ErrKindOther   = "other"
)

// Spec describes one load: how many threads, how fast, how big, how long.
type Spec struct {
	// Threads is the number of client goroutines, each a closed loop.
	Threads int
	// Rate is the total target in proposals per second shared by all
	// threads; 0 means unthrottled.
	Rate float64
	// PayloadBytes is the size of each proposal.
	PayloadBytes int
	// Warmup runs before the measured window and is excluded from figures.
	Warmup time.Duration
	// Duration is the length of the measured window.
	Duration time.Duration
	// Interval is the time-series bucket width; 0 means one second.
	Interval time.Duration
	// OpTimeout bounds each proposal; 0 means ten seconds.
	OpTimeout time.Duration
}

// Validate reports the first field of s that cannot be run.
func (s Spec) Validate() error {
	switch {
	case s.Threads < 1:
		return fmt.Errorf("threads: %d, must be at least 1", s.Threads)
	case s.Rate < 0:
		return fmt.Errorf("rate: %v, must be 0 (unthrottled) or positive", s.Rate)
	case s.PayloadBytes < 1:
		return fmt.Errorf("payload: %d bytes, must be at least 1", s.PayloadBytes)
	case s.Warmup < 0:
		return fmt.Errorf("warmup: %v, must not be negative", s.Warmup)
	case s.Duration <= 0:
		return fmt.Errorf("duration: %v, must be positive", s.Duration)
	case s.Interval < 0:
		return fmt.Errorf("interval: %v, must not be negative", s.Interval)
	case s.OpTimeout < 0:
		return fmt.Errorf("op timeout: %v, must not be negative", s.OpTimeout)
	}
	return nil
}

// ProposeFunc proposes one payload and returns once it is applied, or with
// the reason it was not. It may retain payload; Run never reuses it.
type ProposeFunc func(ctx context.Context, payload []byte) error

// Interval is one time-series bucket of the measured window.
type Interval struct {
	// Start is the bucket's offset from the start of the measured window.
	Start time.Duration
	// Ops and Errors count proposals that completed inside the bucket.
	Ops, Errors uint64
	// P50Micros and P99Micros are latency percentiles of those Ops.
	P50Micros, P99Micros int64
}

// Result is what one load measured. See the package doc for accounting.
type Result struct {
	// Ops is the number of proposals applied inside the measured window.
	Ops uint64
	// Acked is every proposal acknowledged as applied, warm-up and cool-down
	// included: the number the safety check compares with the nodes' logs.
	Acked uint64
	// Errors counts failed proposals inside the measured window by kind.
	Errors map[string]uint64
	// Measured is the length of the measured window.
	Measured time.Duration
	// Latency holds the latency in microseconds of each of the Ops.
	Latency *hdrhistogram.Histogram
	// Intervals is the time series of the measured window, one per Interval.
	Intervals []Interval
}

// NewLatencyHistogram returns an empty histogram with the geometry Result
// uses, for callers that merge results.
func NewLatencyHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, histMaxMicros, histSigFigs)
}

// ErrorCount is the total of r.Errors.
func (r *Result) ErrorCount() uint64 {
	var n uint64
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// Throughput is Ops per second of the measured window.
func (r *Result) Throughput() float64 {
	if r.Measured <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Measured.Seconds()
}

// Run drives propose with the load s describes and returns what it measured.
// It returns early with ctx's error if ctx ends before the measured window
// does; the partial result is then discarded, as it would be misleading.
func Run(ctx context.Context, s Spec, propose ProposeFunc) (*Result, error) {
	return run(ctx, s, propose, time.Now)
}

// run is Run with an injectable clock, so the accounting can be tested
// exactly. Throttling (Rate > 0) always uses the real clock.
func run(ctx context.Context, s Spec, propose ProposeFunc, now func() time.Time) (*Result, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if s.Interval == 0 {
		s.Interval = defaultInterval
	}
	if s.OpTimeout == 0 {
		s.OpTimeout = defaultOpTimeout
	}
	var limiter *rate.Limiter
	if s.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(s.Rate), 1)
	}
	t0 := now()
	w := window{start: t0.Add(s.Warmup), end: t0.Add(s.Warmup + s.Duration), interval: s.Interval}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	threads := make([]*thread, s.Threads)
	var wg sync.WaitGroup
	for i := range threads {
		t := newThread(i, s.PayloadBytes)
		threads[i] = t
		wg.Go(func() { t.loop(ctx, s, w, propose, limiter, now) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load interrupted: %w", err)
	}
	return merge(threads, s, w), nil
}

// window is the measured window and its time-series bucketing.
type window struct {
	start, end time.Time
	interval   time.Duration
}

// bucket returns the time-series bucket of an instant inside the window.
func (w window) bucket(t time.Time) int { return int(t.Sub(w.start) / w.interval) }

func (w window) buckets() int {
	return int((w.end.Sub(w.start) + w.interval - 1) / w.interval)
}

// thread is one client's private state: no locks on the hot path.
type thread struct {
	id       int
	seq      uint64
	template []byte
	size     int
	acked    uint64
	ops      uint64
	errors   map[string]uint64
	hist     *hdrhistogram.Histogram
	series   map[int]*bucketStats
}

type bucketStats struct {
	errors uint64
	hist   *hdrhistogram.Histogram
}

func newThread(id, size int) *thread {
	// Payload bytes are pseudo-random (a compressing transport must not get
	// an easy ride) but seeded per thread, so runs are reproducible.
	rng := rand.New(rand.NewPCG(uint64(id), 0x9e3779b97f4a7c15))
	tmpl := make([]byte, min(size, payloadTemplateBytes))
	for i := range tmpl {
		tmpl[i] = byte(rng.Uint32())
	}
	return &thread{
		id: id, template: tmpl, size: size,
		errors: map[string]uint64{},
		hist:   NewLatencyHistogram(),
		series: map[int]*bucketStats{},
	}
}

// payload returns a fresh buffer: the thread id and a sequence number
// followed by filler, so every proposal of a run is distinct.
func (t *thread) payload() []byte {
	p := make([]byte, t.size)
	for off := 0; off < len(p); off += len(t.template) {
		copy(p[off:], t.template)
	}
	var hdr [payloadHeaderBytes]byte
	binary.LittleEndian.PutUint64(hdr[0:], uint64(t.id))
	binary.LittleEndian.PutUint64(hdr[8:], t.seq)
	copy(p, hdr[:])
	t.seq++
	return p
}

func (t *thread) loop(ctx context.Context, s Spec, w window, propose ProposeFunc, limiter *rate.Limiter, now func() time.Time) {
	for ctx.Err() == nil {
		if limiter != nil {
			// Waiting past the end of the window is pointless: the deadline
			// makes Wait fail at once instead.
			wctx, cancel := context.WithDeadline(ctx, w.end)
			err := limiter.Wait(wctx)
			cancel()
			if err != nil {
				return
			}
		}
		start := now()
		if !start.Before(w.end) {
			return
		}
		opCtx, cancel := context.WithTimeout(ctx, s.OpTimeout)
		err := propose(opCtx, t.payload())
		cancel()
		done := now()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			t.acked++
		}
		if !done.Before(w.start) && done.Before(w.end) {
			t.record(w.bucket(done), done.Sub(start), err)
		}
		if err != nil {
			pause(ctx, pauseAfterError)
		}
	}
}

func (t *thread) record(bucket int, latency time.Duration, err error) {
	b := t.series[bucket]
	if b == nil {
		b = &bucketStats{hist: hdrhistogram.New(1, histMaxMicros, intervalHistSigFigs)}
		t.series[bucket] = b
	}
	if err != nil {
		t.errors[Kind(err)]++
		b.errors++
		return
	}
	us := max(latency.Microseconds(), 1)
	t.ops++
	// RecordValue fails only above the histogram's range (one hour), far
	// beyond any OpTimeout; such a value is clamped rather than lost.
	_ = t.hist.RecordValue(min(us, histMaxMicros))
	_ = b.hist.RecordValue(min(us, histMaxMicros))
}

// pause backs a thread off briefly after a failed proposal, so that a node
// refusing everything (for example a deposed leader) is not spun on. It is
// client behaviour, not synchronisation.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Kind classifies a proposal error for Result.Errors.
func Kind(err error) string {
	var k interface{ ErrorKind() string }
	switch {
	case errors.As(err, &k):
		return k.ErrorKind()
	case errors.Is(err, context.DeadlineExceeded):
		return ErrKindTimeout
	default:
		return ErrKindOther
	}
}

func merge(threads []*thread, s Spec, w window) *Result {
	r := &Result{
		Errors:    map[string]uint64{},
		Measured:  s.Duration,
		Latency:   NewLatencyHistogram(),
		Intervals: make([]Interval, w.buckets()),
	}
	hists := make([]*hdrhistogram.Histogram, len(r.Intervals))
	for i := range r.Intervals {
		r.Intervals[i].Start = time.Duration(i) * w.interval
		hists[i] = hdrhistogram.New(1, histMaxMicros, intervalHistSigFigs)
	}
	for _, t := range threads {
		r.Ops += t.ops
		r.Acked += t.acked
		for k, n := range t.errors {
			r.Errors[k] += n
		}
		r.Latency.Merge(t.hist)
		for i, b := range t.series {
			r.Intervals[i].Errors += b.errors
			hists[i].Merge(b.hist)
		}
	}
	for i, h := range hists {
		r.Intervals[i].Ops = uint64(h.TotalCount())
		r.Intervals[i].P50Micros = h.ValueAtQuantile(50)
		r.Intervals[i].P99Micros = h.ValueAtQuantile(99)
	}
	return r
}
