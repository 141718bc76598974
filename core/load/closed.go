package load

import (
	"context"
	"sync"

	"golang.org/x/time/rate"
)

// runClosed runs the closed loop: Threads goroutines, each waiting for its
// proposal before sending the next.
func runClosed(ctx context.Context, s Spec, w window, propose ProposeFunc, clk clock, ops *opContexts) *Result {
	var limiter *rate.Limiter
	if s.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(s.Rate), 1)
	}
	recs := make([]*recorder, s.Threads)
	hists := newIntervalHists(w.buckets())
	var wg sync.WaitGroup
	for i := range recs {
		t := &thread{pay: newPayloads(i, s.sizes()), rec: newRecorder(hists)}
		recs[i] = t.rec
		wg.Go(func() { t.loop(ctx, w, propose, limiter, clk, ops) })
	}
	wg.Wait()
	return merge(recs, s, w)
}

// thread is one closed-loop client's private state: no locks on the hot
// path.
type thread struct {
	seq uint64
	pay payloads
	rec *recorder
}

func (t *thread) loop(ctx context.Context, w window, propose ProposeFunc, limiter *rate.Limiter, clk clock, ops *opContexts) {
	for ctx.Err() == nil {
		if limiter != nil && !throttle(ctx, limiter, w, clk) {
			return
		}
		start := clk.Now()
		if !start.Before(w.end) {
			return
		}
		if w.contains(start) {
			t.rec.issued++
		}
		_, err := propose(ops.get(start), t.pay.make(t.seq))
		t.seq++
		done := clk.Now()
		if ctx.Err() != nil {
			return
		}
		t.rec.complete(w, start, done, err)
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
