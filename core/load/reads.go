package load

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// ReadFunc serves one read in mode and returns how many payloads the state
// machine it read had applied (adapter.ReadState.AppliedPayloads), or why
// it failed. Like ProposeFunc it must not use ctx after it returns.
type ReadFunc func(ctx context.Context, mode string) (applied uint64, err error)

// Client is what a load drives: proposals, and reads when Spec.ReadRatio is
// above 0.
type Client struct {
	Propose ProposeFunc
	Read    ReadFunc
}

// ReadResult is what the reads of a mixed load measured, kept apart from
// the writes (Result's own figures), with the same accounting: a read is
// counted if and only if it completes inside the measured window.
type ReadResult struct {
	// Mode is the read mode (Spec.ReadMode).
	Mode string
	// Ops is the number of reads answered inside the measured window.
	Ops uint64
	// Errors counts failed reads inside the measured window by kind.
	Errors map[string]uint64
	// Latency holds the latency in microseconds of each of the Ops,
	// measured as a write's is.
	Latency *hdrhistogram.Histogram
	// Intervals is the reads' time series, bucketed as Result.Intervals.
	Intervals []Interval
	// Stale counts the Ops that saw fewer payloads applied than the
	// highest position acknowledged to this load before the read began:
	// reads that missed an acknowledged write.
	Stale uint64
	// StaleExamples are the first few of them (at most MaxStaleExamples),
	// in the order they were found.
	StaleExamples []StaleRead
	// Issued, Queued, QueuedTime and Unsent are Result's fields of the
	// same names for the reads alone: the reads offered in the window, and
	// in the open loop those that waited for an in-flight slot, their
	// total wait and those never sent. Result's own count the writes.
	Issued     uint64
	Queued     uint64
	QueuedTime time.Duration
	Unsent     uint64
}

// MaxStaleExamples bounds ReadResult.StaleExamples.
const MaxStaleExamples = 5

// StaleRead is one read that missed an acknowledged write.
type StaleRead struct {
	// At is when the read began, from the start of the measured window
	// (negative in the warm-up).
	At time.Duration
	// Acked is the highest position acknowledged before the read began;
	// Applied is how many payloads the read saw.
	Acked, Applied uint64
}

// ErrorCount is the total of r.Errors.
func (r *ReadResult) ErrorCount() uint64 {
	var n uint64
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// Throughput is Ops per second of a measured window of length d.
func (r *ReadResult) Throughput(d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(r.Ops) / d.Seconds()
}

// mix is the read side of a run that the clients share: which operations
// are reads, and the staleness check.
type mix struct {
	ratio float64
	mode  string
	read  ReadFunc
	w     window
	// acked is the highest position acknowledged so far.
	acked atomic.Uint64
	hists *intervalHists

	mu       sync.Mutex
	examples []StaleRead
}

func newMix(s Spec, c Client, w window) *mix {
	return &mix{ratio: s.ReadRatio, mode: s.ReadMode, read: c.Read, w: w, hists: newIntervalHists(w.buckets())}
}

// isRead decides whether operation seq of client id is a read: a hash of
// the two against the ratio, so a run's mix is reproducible and spread
// evenly over clients and time.
func (m *mix) isRead(id, seq uint64) bool {
	if m.ratio <= 0 {
		return false
	}
	x := id*0x9e3779b97f4a7c15 ^ seq
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11)/(1<<53) < m.ratio
}

// acknowledged records that a write at position pos was acknowledged.
func (m *mix) acknowledged(pos uint64) {
	for {
		old := m.acked.Load()
		if pos <= old || m.acked.CompareAndSwap(old, pos) {
			return
		}
	}
}

// check books a read on rec and, if it answered in the window with less
// than floor applied, counts it stale.
func (m *mix) check(rec *recorder, start, latencyFrom, done time.Time, floor, applied uint64, err error) error {
	rec.complete(m.w, latencyFrom, done, err)
	if err != nil || !m.w.contains(done) || applied >= floor {
		return err
	}
	rec.stale++
	m.mu.Lock()
	if len(m.examples) < MaxStaleExamples {
		m.examples = append(m.examples, StaleRead{At: start.Sub(m.w.start), Acked: floor, Applied: applied})
	}
	m.mu.Unlock()
	return nil
}

// result adds up the read recorders.
func (m *mix) result(recs []*recorder, s Spec) *ReadResult {
	r := merge(recs, s, m.w)
	rr := &ReadResult{Mode: m.mode, Ops: r.Ops, Errors: r.Errors, Latency: r.Latency, Intervals: r.Intervals, StaleExamples: m.examples,
		Issued: r.Issued, Queued: r.Queued, QueuedTime: r.QueuedTime}
	for _, rec := range recs {
		rr.Stale += rec.stale
	}
	return rr
}

// validateReads checks Spec's read fields.
func (s Spec) validateReads() error {
	switch {
	case math.IsNaN(s.ReadRatio) || s.ReadRatio < 0 || s.ReadRatio > 1:
		return fmt.Errorf("read ratio: %v, must be from 0 to 1", s.ReadRatio)
	case s.ReadRatio > 0 && s.ReadMode == "":
		return fmt.Errorf("read mode: must be set when read ratio is %v", s.ReadRatio)
	}
	return nil
}
