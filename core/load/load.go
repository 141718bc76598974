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
// Run starts the load at t0. The warm-up is [t0, t0+Warmup); the measured
// window is W = [t0+Warmup, t0+Warmup+Duration). A proposal is counted in
// the figures if and only if it completes inside W: its latency goes into
// the histogram and its outcome into Ops or Errors, and into the time-series
// bucket of its completion. Proposals that complete during the warm-up, or
// after W ends (the ones in flight at the end), are acknowledged (Acked) but
// not measured. No proposal is scheduled at or after the end of W.
// Throughput is Ops / Duration, so the denominator is exactly the measured
// window. Issued is the load offered in W, to compare with Ops. Both loop
// models keep these books; they differ in when proposals are sent and where
// a latency starts.
//
// # Closed loop
//
// With Loop "closed" (the default), each of Threads goroutines sends a
// proposal, waits for it to be applied, then sends the next. With Rate > 0
// all threads draw from one token bucket of Rate tokens per second (burst
// 1), so Rate is a ceiling on the offered load shared by the threads, as in
// the original experiment. A latency runs from the send to the completion.
// After a failed proposal a thread pauses a millisecond.
//
// The offered load depends on the system: when it stalls, the threads stop
// sending, and the stall shows up as one slow proposal per thread however
// long it lasts. That is coordinated omission (Gil Tene): the generator
// coordinates with the system it measures and omits the requests a real
// client would have sent meanwhile, so high percentiles look better than a
// user would see them.
//
// # Open loop
//
// With Loop "open", requests are sent on a fixed schedule regardless of
// completions: request k (k = 0, 1, ...) has the intended start
// t0 + k/Rate. The arrival process is constant-rate, as in wrk2, rather than
// Poisson: every run of every library is offered exactly the same schedule,
// so side-by-side figures differ only by the systems, the schedule is
// reproducible and testable exactly, and any burstiness in the results comes
// from the system rather than from the generator's dice. Requests are
// scheduled while their intended start is before the end of W; Issued counts
// those of W (Rate × Duration, give or take one), sent or not.
//
// A latency runs from the request's intended start to its completion, not
// from the moment it was actually sent. If the system stalls for a second,
// every request scheduled during the stall is charged the time it waited
// for the system, which corrects coordinated omission. There is no back-off
// after an error: the schedule is the offered load.
//
// At most MaxInFlight requests are outstanding. The default, 16 × Threads,
// is ample for a system that keeps up (by Little's law it allows a latency
// of 16·Threads/Rate before the cap is reached) while bounding the
// goroutines a stalled node can pile up; set it higher for high rates to
// slow systems. A request whose intended start comes while MaxInFlight
// requests are outstanding waits, first come first served, for one of them
// to complete; it is then sent at once, and its latency, from its intended
// start, includes the wait. The requests of W that had to wait are counted
// in Queued and their waits summed in QueuedTime. A request still waiting
// when W ends is never sent (sending the backlog could only complete after
// W, and could take longer than the run) and is counted in Unsent, as is
// every later request of W. So Issued is the sum of the requests sent on
// time, Queued and Unsent, and Queued or Unsent above zero means the system
// could not keep up with the offered load at that cap: itself a finding.
//
// # Open-loop workers
//
// The open loop runs MaxInFlight worker goroutines, one per in-flight slot,
// so the cap needs no semaphore. Requests are numbered by one atomic
// counter. A worker that finds the next request already due takes it and
// sends it at once: when the generator or the system is behind schedule, a
// request costs one compare-and-swap, the proposal and the recording, with
// no sleeping, parking or handoff. A worker that finds the next request
// still to come goes idle; of the idle workers, the one holding the lead
// takes the next request, sleeps until its intended start, passes the lead
// on and sends it. So one goroutine at a time sleeps on the schedule,
// whatever the rate and cap. A central scheduler handing requests to a pool
// over a channel would put a handoff and a wake-up on every request, and a
// goroutine per request a spawn; a pool of only Threads workers would not
// do, as ProposeFunc is synchronous and the pool would cap the requests in
// flight at Threads. Statistics and payload ids are sharded over Threads
// shards, so memory does not grow with MaxInFlight.
//
// Queued counts a request that found no idle worker at its intended start
// while the worker that took it had been busy since before then. A request
// taken late while a worker was idle (the leader woke late, or the lead was
// slow to pass) was delayed by the generator, not by a full cap: that lag is
// charged to its latency, like any delay, but it is not counted as queued.
//
// # Open-loop pacing
//
// The generator's lag is kept small. Runtime timers fire up to a millisecond
// or two late on an idle process, so the leader sleeps on one only until
// 2 ms before its request's time and sleeps the rest in the kernel (on
// Linux, a nanosleep with a timer slack of 1 ns), waking tens of
// microseconds late. Each wake-up costs CPU, which an embedded client takes
// from the node it measures, so wake-ups are at least 200 µs apart: when
// requests are due closer together than that, they are sent in batches, up
// to 200 µs late. On a machine too busy to run the generator on time, its
// lag becomes a backlog, counted in Queued and Unsent like the system's;
// BenchmarkOpenLoopNoop shows where that starts and what pacing costs.
// Compare open-loop latencies with each other, and read the closed loop
// for a system's best case.
//
// # Reads
//
// With Spec.ReadRatio above 0 (RunClient), each operation is a read or a
// proposal: a hash of the client and its operation number (in the open
// loop, of the request number) against the ratio, so a spec makes the same
// mix every run. Reads are booked apart, in Result.Reads, with the same
// window rules, latency rules and time series as writes, and the offered
// load too: Issued, Queued, QueuedTime and Unsent count each kind's own
// requests (in the open loop, the kind of request k is a hash of k, so the
// schedule's reads are known exactly). Every
// acknowledged write reports its position (ProposeFunc); the generator
// keeps the highest position acknowledged so far, takes it as the floor
// before each read is sent, and counts a read that answers inside the
// window with fewer payloads applied than its floor as stale: it missed a
// write acknowledged before it began (Result.Reads.Stale, and the first
// few as StaleExamples).
package load

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latency histograms record microseconds from 1 µs to one hour, with 3
// significant digits: the whole window's and each interval's alike, so that
// the intervals add up to the window exactly (see recorder).
const (
	histMaxMicros         = int64(time.Hour / time.Microsecond)
	histSigFigs           = 3
	defaultInterval       = time.Second
	defaultOpTimeout      = 10 * time.Second
	defaultInFlightFactor = 16
	pauseAfterError       = time.Millisecond
	payloadHeaderBytes    = 16
	payloadTemplateBytes  = 4096
)

// Loop models, the values of Spec.Loop and Result.Loop.
const (
	// LoopClosed is the closed loop: each thread waits for its proposal to
	// be applied before sending the next. It is the default.
	LoopClosed = "closed"
	// LoopOpen is the open loop: requests are sent on a fixed schedule at
	// Rate regardless of completions, latency measured from the schedule.
	LoopOpen = "open"
)

// Error kinds used as keys of Result.Errors. An error reports its own kind by
// implementing interface{ ErrorKind() string } (adapter.NotLeaderError does).
const (
	ErrKindTimeout = "timeout"
	ErrKindOther   = "other"
)

// Spec describes one load: which loop, how many threads, how fast, how big,
// how long.
type Spec struct {
	// Threads is, in the closed loop, the number of client goroutines, each
	// a closed loop. In the open loop it is the number of client identities
	// (payload ids and statistics shards) the requests are spread over, and
	// it sets the default MaxInFlight.
	Threads int
	// Rate is the total target in proposals per second. In the closed loop
	// it is a ceiling shared by all threads, 0 meaning unthrottled; in the
	// open loop it is the schedule and must be positive.
	Rate float64
	// PayloadBytes is the size of each proposal, unless PayloadSizes is set.
	PayloadBytes int
	// PayloadSizes, if not empty, is a size distribution drawn per proposal
	// (ParsePayloadSizes: uniform:MIN:MAX or pareto:MIN:ALPHA[:MAX]),
	// seeded by thread and sequence number so runs are reproducible; it
	// replaces PayloadBytes.
	PayloadSizes string
	// Warmup runs before the measured window and is excluded from figures.
	Warmup time.Duration
	// Duration is the length of the measured window.
	Duration time.Duration
	// Interval is the time-series bucket width; 0 means one second.
	Interval time.Duration
	// OpTimeout bounds each proposal; 0 means ten seconds. Proposals that
	// start close together share one context, so a proposal's deadline may
	// come up to OpTimeout/1000 later than OpTimeout after its start, never
	// earlier.
	OpTimeout time.Duration
	// Loop is the loop model: LoopClosed (also when empty) or LoopOpen.
	Loop string
	// MaxInFlight caps the open loop's outstanding requests; 0 means
	// 16 × Threads. The closed loop ignores it: Threads is its cap.
	MaxInFlight int
	// ReadRatio is the share of operations that are reads (0 to 1; 0: a
	// write-only load). Which operations are reads is a hash of the client
	// and its operation number, so the same spec makes the same mix.
	ReadRatio float64
	// ReadMode is the read mode passed to Client.Read (adapter.ReadMode).
	ReadMode string
}

// Validate reports the first field of s that cannot be run.
func (s Spec) Validate() error {
	switch {
	case s.Loop != "" && s.Loop != LoopClosed && s.Loop != LoopOpen:
		return fmt.Errorf("loop: %q, must be %s or %s", s.Loop, LoopClosed, LoopOpen)
	case s.Threads < 1:
		return fmt.Errorf("threads: %d, must be at least 1", s.Threads)
	case s.Rate < 0 || math.IsNaN(s.Rate) || math.IsInf(s.Rate, 0):
		return fmt.Errorf("rate: %v, must be 0 (unthrottled) or positive", s.Rate)
	case s.Loop == LoopOpen && s.Rate == 0:
		return errors.New("rate: must be positive with loop open")
	case s.MaxInFlight < 0:
		return fmt.Errorf("max in flight: %d, must be 0 (default) or positive", s.MaxInFlight)
	case s.PayloadSizes == "" && s.PayloadBytes < 1:
		return fmt.Errorf("payload: %d bytes, must be at least 1", s.PayloadBytes)
	case s.PayloadSizes != "":
		if _, err := ParsePayloadSizes(s.PayloadSizes, math.MaxInt32); err != nil {
			return fmt.Errorf("payload sizes %q: %w", s.PayloadSizes, err)
		}
	case s.Warmup < 0:
		return fmt.Errorf("warmup: %v, must not be negative", s.Warmup)
	case s.Duration <= 0:
		return fmt.Errorf("duration: %v, must be positive", s.Duration)
	case s.Interval < 0:
		return fmt.Errorf("interval: %v, must not be negative", s.Interval)
	case s.OpTimeout < 0:
		return fmt.Errorf("op timeout: %v, must not be negative", s.OpTimeout)
	}
	return s.validateReads()
}

// ProposeFunc proposes one payload and returns once it is applied, or with
// the reason it was not; it returns the payload's position (adapter.Node.Propose).
// It may retain payload; Run never reuses it. It
// must not use ctx after it returns: the context may be shared with other
// proposals.
type ProposeFunc func(ctx context.Context, payload []byte) (uint64, error)

// Interval is one time-series bucket of the measured window.
type Interval struct {
	// Start is the bucket's offset from the start of the measured window.
	Start time.Duration
	// Ops and Errors count proposals that completed inside the bucket.
	Ops, Errors uint64
	// P50Micros and P99Micros are latency percentiles of those Ops.
	P50Micros, P99Micros int64
	// Histogram holds the latency in microseconds of those Ops, with the
	// geometry of Result.Latency (NewLatencyHistogram); the intervals'
	// histograms add up to Result.Latency exactly. It is sparse, as most of
	// an interval's buckets are empty. Nil in a result from a plugin built
	// before intervals carried their histograms.
	Histogram *hdrhistogram.PackedHistogram
}

// Result is what one load measured. See the package doc for accounting.
type Result struct {
	// Loop is the loop model that produced the figures, LoopClosed or
	// LoopOpen; empty means closed (results from before the field existed).
	Loop string
	// Ops is the number of proposals applied inside the measured window.
	Ops uint64
	// Acked is every proposal acknowledged as applied, warm-up and cool-down
	// included: the number the safety check compares with the nodes' logs.
	Acked uint64
	// Errors counts failed proposals inside the measured window by kind.
	Errors map[string]uint64
	// Measured is the length of the measured window.
	Measured time.Duration
	// Latency holds the latency in microseconds of each of the Ops: from the
	// send in the closed loop, from the intended start in the open loop.
	Latency *hdrhistogram.Histogram
	// Intervals is the time series of the measured window, one per Interval.
	Intervals []Interval
	// Issued is the load offered in the measured window: in the open loop,
	// the requests whose intended start fell inside it, sent or not; in the
	// closed loop, the proposals sent inside it. Compare it with Ops.
	Issued uint64
	// Queued counts the requests of Issued that the open loop sent late
	// because MaxInFlight requests were outstanding at their intended
	// start: they waited for a slot. Zero in the closed loop.
	Queued uint64
	// QueuedTime is the sum of those Queued requests' waits, from intended
	// start to send. Zero in the closed loop.
	QueuedTime time.Duration
	// Unsent counts the requests of Issued still waiting to be sent when
	// the window ended, so never sent: waiting for a slot, or for a
	// generator too busy to keep its schedule. Issued is the sum of the
	// requests sent on time (or late by the generator's lag), Queued and
	// Unsent. Zero in the closed loop.
	Unsent uint64
	// Reads is what the reads measured when Spec.ReadRatio is above 0,
	// nil otherwise; the figures above, Issued, Queued, QueuedTime and
	// Unsent included, are then the writes' alone, and Reads has the
	// reads'.
	Reads *ReadResult
}

// NewLatencyHistogram returns an empty histogram with the geometry Result
// uses, for callers that merge results.
func NewLatencyHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, histMaxMicros, histSigFigs)
}

// newIntervalHistogram returns an empty sparse histogram with the geometry
// of NewLatencyHistogram, for one interval.
func newIntervalHistogram() *hdrhistogram.PackedHistogram {
	return hdrhistogram.NewPacked(1, histMaxMicros, histSigFigs)
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
	return RunClient(ctx, s, Client{Propose: propose})
}

// RunClient is Run for a client that also reads: with s.ReadRatio above
// 0, each operation is a read or a proposal (see Spec.ReadRatio), and reads
// are measured apart, in Result.Reads, with the staleness check.
func RunClient(ctx context.Context, s Spec, c Client) (*Result, error) {
	return run(ctx, s, c, newRealClock())
}

// run is RunClient with an injectable clock, so the accounting can be
// tested exactly. Only the pause after a failed closed-loop proposal and
// the proposals' deadlines always use real time.
func run(ctx context.Context, s Spec, c Client, clk clock) (*Result, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if s.ReadRatio > 0 && c.Read == nil {
		return nil, fmt.Errorf("read ratio %v: this client cannot read", s.ReadRatio)
	}
	if s.Loop == "" {
		s.Loop = LoopClosed
	}
	if s.Interval == 0 {
		s.Interval = defaultInterval
	}
	if s.OpTimeout == 0 {
		s.OpTimeout = defaultOpTimeout
	}
	if s.MaxInFlight == 0 {
		s.MaxInFlight = defaultInFlightFactor * s.Threads
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // also ends the shared proposal contexts
	_, realTime := clk.(*realClock)
	ops := newOpContexts(ctx, s.OpTimeout, realTime)

	t0 := clk.Now()
	w := window{start: t0.Add(s.Warmup), end: t0.Add(s.Warmup + s.Duration), interval: s.Interval}
	m := newMix(s, c, w)
	var r *Result
	if s.Loop == LoopOpen {
		r = runOpen(ctx, s, t0, w, c.Propose, m, clk, ops)
	} else {
		r = runClosed(ctx, s, w, c.Propose, m, clk, ops)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load interrupted: %w", err)
	}
	r.Loop = s.Loop
	return r, nil
}

// window is the measured window and its time-series bucketing.
type window struct {
	start, end time.Time
	interval   time.Duration
}

// contains reports whether t is inside the window.
func (w window) contains(t time.Time) bool { return !t.Before(w.start) && t.Before(w.end) }

// bucket returns the time-series bucket of an instant inside the window.
func (w window) bucket(t time.Time) int { return int(t.Sub(w.start) / w.interval) }

func (w window) buckets() int {
	return int((w.end.Sub(w.start) + w.interval - 1) / w.interval)
}

// recorder holds one client's (closed loop) or one shard's (open loop)
// figures; merge adds them up.
//
// Latencies are recorded into cur, a dense histogram of the interval
// bucket curBucket: a dense record is a few nanoseconds and takes no lock.
// When a completion falls in a later bucket, cur is moved into that
// bucket's sparse histogram in the run's intervalHists (a scan of cur's
// counts and a lock, once per recorder and interval, tens of microseconds)
// and reset. A completion that falls in an earlier bucket than cur's (in
// the open loop, workers sharing a shard can take its lock out of order
// around a bucket's end) is recorded straight into that bucket's sparse
// histogram, under the lock, rather than moving cur back and forth. So a
// run keeps one dense histogram per recorder, as before, plus one sparse
// histogram per interval whatever the thread count (a few KB each: only
// populated buckets are stored), instead of a dense histogram per
// recorder and interval.
type recorder struct {
	acked, ops, issued, queued uint64
	stale                      uint64 // reads only: see mix.check
	queuedTime                 time.Duration
	errors                     map[string]uint64
	bucketErrors               []uint64 // by bucket
	cur                        *hdrhistogram.Histogram
	curBucket                  int // -1 before the first completion in the window
	hists                      *intervalHists
}

// intervalHists is the run's latency histogram per interval bucket, shared
// by its recorders.
type intervalHists struct {
	mu    sync.Mutex
	byBkt []*hdrhistogram.PackedHistogram // allocated on first use
}

func newIntervalHists(buckets int) *intervalHists {
	return &intervalHists{byBkt: make([]*hdrhistogram.PackedHistogram, buckets)}
}

// at returns bucket i's histogram, making it if needed; h.mu must be held.
func (h *intervalHists) at(i int) *hdrhistogram.PackedHistogram {
	if h.byBkt[i] == nil {
		h.byBkt[i] = newIntervalHistogram()
	}
	return h.byBkt[i]
}

func newRecorder(hists *intervalHists) *recorder {
	return &recorder{
		errors:       map[string]uint64{},
		bucketErrors: make([]uint64, len(hists.byBkt)),
		cur:          NewLatencyHistogram(),
		curBucket:    -1,
		hists:        hists,
	}
}

// complete books a proposal that completed at done, inside the window or
// not, whose latency runs from start.
func (r *recorder) complete(w window, start, done time.Time, err error) {
	if err == nil {
		r.acked++
	}
	if !w.contains(done) {
		return
	}
	i := w.bucket(done)
	if err != nil {
		r.errors[Kind(err)]++
		r.bucketErrors[i]++
		return
	}
	// RecordValue fails only above the histogram's range (one hour), far
	// beyond any OpTimeout; such a value is clamped rather than lost.
	us := min(max(done.Sub(start).Microseconds(), 1), histMaxMicros)
	r.ops++
	switch {
	case i == r.curBucket:
	case i > r.curBucket:
		r.flush()
		r.curBucket = i
	default: // a late completion of an earlier bucket
		r.hists.mu.Lock()
		_ = r.hists.at(i).RecordValue(us)
		r.hists.mu.Unlock()
		return
	}
	_ = r.cur.RecordValue(us)
}

// flush moves cur into its bucket's histogram and empties it.
func (r *recorder) flush() {
	if r.curBucket < 0 || r.cur.TotalCount() == 0 {
		return
	}
	r.hists.mu.Lock()
	r.hists.at(r.curBucket).MergeFrom(r.cur)
	r.hists.mu.Unlock()
	r.cur.Reset()
}

// sizes is the payload sizes s asks for; Validate checked them.
func (s Spec) sizes() PayloadSizes {
	if s.PayloadSizes == "" {
		return FixedPayload(s.PayloadBytes)
	}
	p, _ := ParsePayloadSizes(s.PayloadSizes, math.MaxInt32)
	return p
}

// payloads makes one client's payloads: its id and a sequence number
// followed by filler, so every proposal of a run is distinct.
type payloads struct {
	id       uint64
	template []byte
	sizes    PayloadSizes
}

func newPayloads(id int, sizes PayloadSizes) payloads {
	// Payload bytes are pseudo-random (a compressing transport must not get
	// an easy ride) but seeded per client, so runs are reproducible.
	rng := rand.New(rand.NewPCG(uint64(id), 0x9e3779b97f4a7c15))
	tmpl := make([]byte, min(sizes.Max(), payloadTemplateBytes))
	for i := range tmpl {
		tmpl[i] = byte(rng.Uint32())
	}
	return payloads{id: uint64(id), template: tmpl, sizes: sizes}
}

// make returns a fresh buffer for sequence number seq.
func (p payloads) make(seq uint64) []byte {
	b := make([]byte, p.sizes.Size(p.id, seq))
	for off := 0; off < len(b); off += len(p.template) {
		copy(b[off:], p.template)
	}
	var hdr [payloadHeaderBytes]byte
	binary.LittleEndian.PutUint64(hdr[0:], p.id)
	binary.LittleEndian.PutUint64(hdr[8:], seq)
	copy(b, hdr[:])
	return b
}

// pause backs a closed-loop thread off briefly after a failed proposal, so
// that a node refusing everything (for example a deposed leader) is not
// spun on. It is client behaviour, not synchronisation, and takes real time.
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

// merge adds up the recorders of a run, once they have all stopped.
func merge(recs []*recorder, s Spec, w window) *Result {
	r := &Result{
		Errors:    map[string]uint64{},
		Measured:  s.Duration,
		Latency:   NewLatencyHistogram(),
		Intervals: make([]Interval, w.buckets()),
	}
	var hists *intervalHists
	for _, t := range recs {
		t.flush()
		hists = t.hists
		r.Ops += t.ops
		r.Acked += t.acked
		r.Issued += t.issued
		r.Queued += t.queued
		r.QueuedTime += t.queuedTime
		for k, n := range t.errors {
			r.Errors[k] += n
		}
		for i, n := range t.bucketErrors {
			r.Intervals[i].Errors += n
		}
	}
	for i := range r.Intervals {
		iv := &r.Intervals[i]
		iv.Start = time.Duration(i) * w.interval
		iv.Histogram = newIntervalHistogram()
		if hists != nil && hists.byBkt[i] != nil {
			iv.Histogram = hists.byBkt[i]
		}
		iv.Ops = uint64(iv.Histogram.TotalCount())
		iv.P50Micros = iv.Histogram.ValueAtPercentile(50)
		iv.P99Micros = iv.Histogram.ValueAtPercentile(99)
		iv.Histogram.MergeInto(r.Latency)
	}
	return r
}
