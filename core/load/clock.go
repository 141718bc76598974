package load

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// clock is a run's time source. Run uses the real one; tests inject a fake
// one that drives the accounting, the open loop's schedule and the closed
// loop's throttle exactly.
type clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep returns nil once the clock reads at least until (at once if it
	// already does), or ctx's error if ctx ends first.
	Sleep(ctx context.Context, until time.Time) error
	// Pace is Sleep for the open loop's schedule, as punctual as the clock
	// can afford to be; it may return later than until, never earlier. The
	// open loop has one pacing worker at a time, and Pace may rely on that.
	Pace(ctx context.Context, until time.Time) error
}

// realClock is the wall clock. Sleep waits on a runtime timer, as the token
// bucket did; Pace is made for the open loop's schedule: punctual, at a
// bounded cost.
//
// Punctual: runtime timers fire up to a millisecond or two late on an idle
// process (the runtime sleeps in the kernel with millisecond timeouts), and
// in the open loop that lateness is charged to the system's latency. So Pace
// waits on a runtime timer only until fineSpan before its time, and sleeps
// the rest in the kernel (preciseSleep: on Linux a nanosleep with the
// thread's timer slack cut to a nanosecond), waking tens of microseconds
// late rather than up to milliseconds. The kernel sleep holds an OS thread
// and ignores ctx, for at most fineSpan.
//
// Bounded cost: every wake-up costs CPU (25 to 50 µs on the 2-core VM this
// was measured on, kernel and runtime together), which an embedded client
// takes from the node it measures. So a Pace never ends less than
// minWakeGap after the end of the previous one, and at high rates the open
// loop sends the requests that came due meanwhile together. That caps
// pacing at 1/minWakeGap wake-ups a second, and adds up to minWakeGap to a
// latency only when requests are due less than minWakeGap apart.
type realClock struct {
	base     time.Time
	lastPace atomic.Int64 // the last Pace's end, in nanoseconds after base; 0 before the first
}

const (
	// fineSpan is how long before its time a Pace switches from the
	// runtime timer to the kernel: more than the runtime timer's lateness.
	fineSpan = 2 * time.Millisecond
	// minWakeGap is the least time between the ends of two Paces.
	minWakeGap = 200 * time.Microsecond
)

func newRealClock() *realClock { return &realClock{base: time.Now()} }

// timers recycles the sleeps' runtime timers.
var timers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

func (*realClock) Now() time.Time { return time.Now() }

func (*realClock) Sleep(ctx context.Context, until time.Time) error {
	return sleepTimer(ctx, time.Until(until))
}

func (c *realClock) Pace(ctx context.Context, until time.Time) error {
	if last := c.lastPace.Load(); last != 0 {
		if earliest := c.base.Add(time.Duration(last) + minWakeGap); until.Before(earliest) {
			until = earliest
		}
	}
	d := time.Until(until)
	if d <= 0 {
		return nil
	}
	if d > fineSpan {
		if err := sleepTimer(ctx, d-fineSpan); err != nil {
			return err
		}
		d = time.Until(until)
	}
	if d > 0 {
		preciseSleep(d)
	}
	c.lastPace.Store(int64(until.Sub(c.base)))
	return nil
}

// sleepTimer sleeps d on a runtime timer, or until ctx ends.
func sleepTimer(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := timers.Get().(*time.Timer)
	t.Reset(d)
	select {
	case <-t.C:
		timers.Put(t)
		return nil
	case <-ctx.Done():
		// Since Go 1.23 a stopped timer delivers no stale tick, so it can
		// be reused as is.
		t.Stop()
		timers.Put(t)
		return ctx.Err()
	}
}

// opContexts hands out the contexts that bound proposals by OpTimeout.
//
// A context.WithTimeout per proposal costs about a microsecond and, since
// every one registers with the same parent, serialises the threads on the
// parent's lock: it was 40% of the generator's CPU at a million proposals per
// second. Instead, proposals that start close together share one context,
// whose deadline is at least OpTimeout and at most OpTimeout + OpTimeout/1000
// after each one's start: a new context is made once the current one's
// deadline is nearer than OpTimeout, about a thousand per OpTimeout
// whatever the rate. A shared context ends by its deadline, or with the run.
type opContexts struct {
	parent         context.Context
	timeout, slack time.Duration
	realNow        bool // the run's clock is real time, so its readings serve
	cur            atomic.Pointer[sharedDeadline]
}

type sharedDeadline struct {
	ctx      context.Context
	cancel   context.CancelFunc // not called: the deadline or the parent ends it
	deadline time.Time
}

func newOpContexts(parent context.Context, timeout time.Duration, realNow bool) *opContexts {
	return &opContexts{parent: parent, timeout: timeout, slack: timeout / 1000, realNow: realNow}
}

// get returns a context for a proposal starting now, a reading of the run's
// clock. Deadlines are real time, so a fake clock's reading is not used.
func (o *opContexts) get(now time.Time) context.Context {
	if !o.realNow {
		now = time.Now()
	}
	need := now.Add(o.timeout)
	if c := o.cur.Load(); c != nil && !need.After(c.deadline) {
		return c.ctx
	}
	d := need.Add(o.slack)
	ctx, cancel := context.WithDeadline(o.parent, d)
	// Racing threads may each make one; any of them is valid for its maker.
	o.cur.Store(&sharedDeadline{ctx: ctx, cancel: cancel, deadline: d})
	return ctx
}
