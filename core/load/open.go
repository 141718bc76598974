package load

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// runOpen runs the open loop: requests on a constant-rate schedule, each
// sent by one of MaxInFlight workers (see the package doc).
func runOpen(ctx context.Context, s Spec, t0 time.Time, w window, propose ProposeFunc, m *mix, clk clock, ops *opContexts) *Result {
	o := &openLoop{
		rate: s.Rate, t0: t0, w: w, clk: clk, propose: propose, mix: m, ops: ops,
		first: firstAt(s.Warmup, s.Rate),
		end:   firstAt(s.Warmup+s.Duration, s.Rate),
		lead:  make(chan struct{}, 1),
	}
	o.lead <- struct{}{}
	// end >= 1 (request 0 starts at t0, inside warm-up or window), so there
	// is at least one worker; more workers than requests would idle.
	workers := int(min(uint64(s.MaxInFlight), o.end))
	shards := make([]*shard, min(s.Threads, workers))
	recs := make([]*recorder, len(shards))
	readRecs := make([]*recorder, len(shards))
	hists := newIntervalHists(w.buckets())
	for i := range shards {
		shards[i] = &shard{pay: newPayloads(i, s.sizes()), rec: newRecorder(hists), reads: newRecorder(m.hists)}
		recs[i], readRecs[i] = shards[i].rec, shards[i].reads
	}
	var wg sync.WaitGroup
	for i := range workers {
		sh := shards[i%len(shards)]
		wg.Go(func() { o.worker(ctx, sh) })
	}
	wg.Wait()

	r := merge(recs, s, w)
	// Each request's kind is a hash of its number (isRead), so the
	// schedule's reads and writes are counted apart exactly.
	var readsIssued, sent, readsSent uint64
	if s.ReadRatio > 0 {
		for k := o.first; k < o.end; k++ {
			if m.isRead(0, k) {
				readsIssued++
			}
		}
	}
	for _, sh := range shards {
		sent += sh.sent
		readsSent += sh.readsSent
	}
	r.Issued = o.end - o.first - readsIssued
	r.Unsent = r.Issued - sent
	if s.ReadRatio > 0 {
		r.Reads = m.result(readRecs, s)
		r.Reads.Issued, r.Reads.Unsent = readsIssued, readsIssued-readsSent
	}
	return r
}

// openLoop is the state the workers of an open-loop run share.
type openLoop struct {
	rate    float64
	t0      time.Time
	w       window
	clk     clock
	propose ProposeFunc
	mix     *mix
	ops     *opContexts
	// Requests [first, end) have their intended start inside the window;
	// requests from end on are never issued.
	first, end uint64
	next       atomic.Uint64 // the first request no worker has taken
	idle       atomic.Int64  // workers not busy with a request, the leader included until it sends
	lead       chan struct{} // the leader's token: whoever holds it waits for the next request
}

// shard is the figures and payload identity a group of workers shares.
type shard struct {
	mu        sync.Mutex
	sent      uint64 // write requests of the window sent
	readsSent uint64 // read requests of the window sent
	pay       payloads
	rec       *recorder
	reads     *recorder
}

// due is the intended start of request k.
func (o *openLoop) due(k uint64) time.Time { return o.t0.Add(offset(k, o.rate)) }

// worker is one in-flight slot. When the next request is already due, it
// takes it at once; otherwise it idles, and the idle worker holding the lead
// takes the next request, sleeps until it is due, hands the lead on and
// sends it. So one worker at a time sleeps, and requests are taken in number
// order, which makes the wait for a slot first come, first served.
func (o *openLoop) worker(ctx context.Context, sh *shard) {
	// busySince is when this worker last left idleness, zero before its
	// first request: it has been sending or waiting on requests since.
	var busySince time.Time
	for ctx.Err() == nil {
		k := o.next.Load()
		if k >= o.end {
			return
		}
		due, now := o.due(k), o.clk.Now()
		queued := false
		if !due.After(now) {
			if !o.next.CompareAndSwap(k, k+1) {
				continue // another worker took it
			}
			if due.Before(now) {
				// k found no free slot if this worker has been busy since
				// before k was due and no worker is idle; otherwise the
				// delay is the generator's own lag.
				queued = !busySince.IsZero() && !busySince.After(due) && o.idle.Load() == 0
				if !now.Before(o.w.end) {
					// The window is over: k and every later request stay
					// unsent, rather than sending a backlog that could only
					// complete after it.
					return
				}
			}
			if busySince.IsZero() {
				busySince = now
			}
		} else {
			var ok bool
			if k, due, now, ok = o.leadNext(ctx); !ok {
				return
			}
			busySince = now
		}
		// Request k's kind is a hash of k alone, so the schedule's mix does
		// not depend on which worker or shard takes it.
		read := o.mix.isRead(0, k)
		var pos, floor, applied uint64
		var err error
		if read {
			floor = o.mix.acked.Load()
			applied, err = o.mix.read(o.ops.get(now), o.mix.mode)
		} else {
			pos, err = o.propose(o.ops.get(now), sh.pay.make(k))
		}
		done := o.clk.Now()
		if ctx.Err() != nil {
			return
		}
		if !read && err == nil {
			o.mix.acknowledged(pos)
		}
		sh.mu.Lock()
		if k >= o.first {
			rec := sh.rec
			if read {
				rec = sh.reads
				sh.readsSent++
			} else {
				sh.sent++
			}
			if queued {
				rec.queued++
				rec.queuedTime += now.Sub(due)
			}
		}
		if read {
			_ = o.mix.check(sh.reads, now, due, done, floor, applied, err)
		} else {
			sh.rec.complete(o.w, due, done, err)
		}
		sh.mu.Unlock()
	}
}

// leadNext idles until the worker holds the lead, then takes the next
// request and sleeps until it is due. It reports the request, its intended
// start and the time it may be sent, or false if the worker is to stop.
func (o *openLoop) leadNext(ctx context.Context) (k uint64, due, now time.Time, ok bool) {
	o.idle.Add(1)
	defer o.idle.Add(-1)
	select {
	case <-o.lead:
	case <-ctx.Done():
		return 0, due, now, false
	}
	defer func() { o.lead <- struct{}{} }() // never blocks: only the holder sends
	k = o.next.Add(1) - 1
	if k >= o.end {
		return 0, due, now, false
	}
	due, now = o.due(k), o.clk.Now()
	if due.Before(now) {
		// Taken late, because the lead was slow to pass: the generator's
		// lag, not a wait for a slot. Past the window, it stays unsent.
		return k, due, now, now.Before(o.w.end)
	}
	if o.clk.Pace(ctx, due) != nil {
		return 0, due, now, false
	}
	// Taken before it was due, so sent even if the wake-up came after the
	// window, like a closed-loop proposal in flight at the end.
	return k, due, o.clk.Now(), true
}

// offset is the intended start of request k relative to t0: k/rate
// seconds, truncated to the nanosecond. It never decreases with k.
func offset(k uint64, rate float64) time.Duration {
	return time.Duration(float64(k) * float64(time.Second) / rate)
}

// firstAt returns the number of the first request whose offset is at least d.
func firstAt(d time.Duration, rate float64) uint64 {
	k := uint64(math.Max(0, math.Ceil(d.Seconds()*rate)))
	for k > 0 && offset(k-1, rate) >= d {
		k--
	}
	for offset(k, rate) < d {
		k++
	}
	return k
}
