package load

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// runClosed runs the closed loop: Threads goroutines, each waiting for its
// proposal before sending the next.
func runClosed(ctx context.Context, s Spec, w window, propose ProposeFunc, m *mix, clk clock, ops *opContexts) *Result {
	var limiter *rate.Limiter
	if s.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(s.Rate), 1)
	}
	recs := make([]*recorder, s.Threads)
	readRecs := make([]*recorder, s.Threads)
	hists := newIntervalHists(w.buckets())
	var wg sync.WaitGroup
	for i := range recs {
		t := &thread{id: uint64(i), pay: newPayloads(i, s.sizes()), rec: newRecorder(hists), reads: newRecorder(m.hists)}
		recs[i], readRecs[i] = t.rec, t.reads
		wg.Go(func() { t.loop(ctx, w, propose, m, limiter, clk, ops) })
	}
	wg.Wait()
	r := merge(recs, s, w)
	if s.ReadRatio > 0 {
		r.Reads = m.result(readRecs, s)
	}
	return r
}

// thread is one closed-loop client's private state: no locks on the hot
// path.
type thread struct {
	id    uint64
	seq   uint64 // operations sent, reads included
	pay   payloads
	rec   *recorder
	reads *recorder
}

func (t *thread) loop(ctx context.Context, w window, propose ProposeFunc, m *mix, limiter *rate.Limiter, clk clock, ops *opContexts) {
	for ctx.Err() == nil {
		if limiter != nil && !throttle(ctx, limiter, w, clk) {
			return
		}
		start := clk.Now()
		if !start.Before(w.end) {
			return
		}
		read := m.isRead(t.id, t.seq)
		rec := t.rec
		if read {
			rec = t.reads
		}
		if w.contains(start) {
			rec.issued++
		}
		var err error
		var done time.Time
		if read {
			floor := m.acked.Load()
			var applied uint64
			applied, err = m.read(ops.get(start), m.mode)
			done = clk.Now()
			if ctx.Err() != nil {
				return
			}
			err = m.check(rec, start, start, done, floor, applied, err)
		} else {
			var pos uint64
			pos, err = propose(ops.get(start), t.pay.make(t.seq))
			done = clk.Now()
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				m.acknowledged(pos)
			}
			rec.complete(w, start, done, err)
		}
		t.seq++
		if err != nil {
			pause(ctx, pauseAfterError)
		}
	}
}

// throttle takes a token from the shared bucket, sleeping on the run's
// clock until it is due. It reports false, taking nothing, when the token
// would come at or after the end of the window: waiting for it is pointless.
func throttle(ctx context.Context, limiter *rate.Limiter, w window, clk clock) bool {
	now := clk.Now()
	r := limiter.ReserveN(now, 1)
	at := now.Add(r.DelayFrom(now))
	if !at.Before(w.end) {
		r.CancelAt(now)
		return false
	}
	return clk.Sleep(ctx, at) == nil
}
