package faults

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
)

// reconfigure replaces its target follower under load, through each
// library's own membership API (adapter.Reconfigurer): the leader removes
// it, its process is stopped, a fresh node (the next id, an empty data
// directory, a new address) starts to join, and the leader adds it. The
// fault is complete once the new node has applied everything that was
// committed when its addition committed. It runs to completion whatever
// the load does: Revert waits for it (up to reconfigureTimeout), so the
// point's safety check always sees a settled membership.
//
// Effect (docs/faults.md): removed, added; remove_s (from the removal's
// request until it committed, the node was stopped and the others' address
// books updated), add_s (from then, the new process's launch, until the
// addition committed), catch_up_s (from the addition's commit until the
// new node applied everything committed then), total_s (from the removal's
// request to the catch-up); and the throughput the fault sampled itself
// from the leader's count of applied payloads every sampleEvery:
// baseline_ops_s over the baseline before the removal, during_ops_s over
// the whole change, min_ops_s the lowest sample during the change and
// dip_ratio = min_ops_s / baseline_ops_s; added_snapshot_installs, the
// snapshots the new node had installed when caught up (0: it caught up from
// the log alone); change_at_s is when the removal
// was requested, from the fault's start (timeseries.csv ts = at +
// change_at_s).
type reconfigure struct {
	c        *cluster.Cluster
	target   *cluster.Member
	baseline time.Duration

	mu     sync.Mutex
	effect Effect
	err    error
	done   chan struct{} // closed when the change has ended
	cancel context.CancelFunc
}

const (
	// sampleEvery is the throughput sampling interval of reconfigure.
	sampleEvery = 100 * time.Millisecond
	// reconfigureTimeout bounds the whole change, catch-up included.
	reconfigureTimeout = 3 * time.Minute
)

func init() {
	register("reconfigure", mechanism{membership: true, new: func(b Binding) (Fault, error) {
		if b.Env != nil && (b.Env.Mesh() != nil || b.Env.netHosts != nil) {
			return nil, fmt.Errorf("reconfigure: %w", cluster.ErrProxiedMembership)
		}
		if caps := b.Cluster.Description().Capabilities; !caps.Membership {
			return nil, fmt.Errorf("reconfigure: membership change: %w (the backend does not declare Membership)", adapter.ErrUnsupported)
		}
		d, _ := time.ParseDuration(b.Spec.Param("baseline"))
		return &reconfigure{c: b.Cluster, target: b.Targets[0], baseline: d, effect: Effect{}}, nil
	}})
}

func (r *reconfigure) Inject(ctx context.Context) error {
	leader, err := r.c.Leader(ctx)
	if err != nil {
		return err
	}
	if leader.ID == r.target.ID {
		return fmt.Errorf("reconfigure: node %d is the leader; the fault replaces a follower", r.target.ID)
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reconfigureTimeout)
	r.cancel = cancel
	r.done = make(chan struct{})
	go r.run(wctx, leader)
	return nil
}

// appliedSample is the leader's applied payload count at a time.
type appliedSample struct {
	at    time.Time
	count uint64
}

// run makes the change and measures it.
func (r *reconfigure) run(ctx context.Context, leader *cluster.Member) {
	defer close(r.done)
	injected := time.Now()
	samples := make(chan []appliedSample, 1)
	sctx, stopSampling := context.WithCancel(ctx)
	go func() { samples <- sampleApplied(sctx, leader) }()
	finish := func(err error, end time.Time) {
		stopSampling()
		got := <-samples
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil {
			r.err = err
			return
		}
		start := injected.Add(r.baseline)
		b0, b1 := within(got, injected, start)
		base, okBase := rate(got, b0, b1)
		d0, d1 := covering(got, start, end)
		during, okDuring := rate(got, d0, d1)
		low, okLow := lowest(got, start, end)
		if okBase {
			r.effect["baseline_ops_s"] = strconv.FormatFloat(base, 'f', 0, 64)
		}
		if okDuring {
			r.effect["during_ops_s"] = strconv.FormatFloat(during, 'f', 0, 64)
		}
		if okLow {
			r.effect["min_ops_s"] = strconv.FormatFloat(low, 'f', 0, 64)
			if okBase && base > 0 {
				r.effect["dip_ratio"] = strconv.FormatFloat(low/base, 'f', 3, 64)
			}
		}
	}

	t := time.NewTimer(r.baseline)
	select {
	case <-ctx.Done():
		t.Stop()
		finish(fmt.Errorf("reconfigure: baseline: %w", ctx.Err()), time.Now())
		return
	case <-t.C:
	}
	begin := time.Now()
	r.set("change_at_s", seconds(begin.Sub(injected)))
	r.set("removed", strconv.FormatUint(r.target.ID, 10))
	if _, err := r.c.RemoveMember(ctx, r.target.ID); err != nil {
		finish(fmt.Errorf("reconfigure: %w", err), time.Now())
		return
	}
	removed := time.Now()
	r.set("remove_s", seconds(removed.Sub(begin)))
	m, err := r.c.AddMember(ctx, r.c.CPU(r.target.ID))
	if m != nil {
		r.set("added", strconv.FormatUint(m.ID, 10))
	}
	if err != nil {
		finish(fmt.Errorf("reconfigure: %w", err), time.Now())
		return
	}
	added := time.Now()
	r.set("add_s", seconds(added.Sub(removed)))
	st, err := catchUp(ctx, r.c, m.ID)
	if err != nil {
		finish(fmt.Errorf("reconfigure: %w", err), time.Now())
		return
	}
	end := time.Now()
	r.set("added_snapshot_installs", strconv.FormatUint(st.SnapshotInstalls, 10))
	r.set("catch_up_s", seconds(end.Sub(added)))
	r.set("total_s", seconds(end.Sub(begin)))
	finish(nil, end)
}

// catchUp waits until node id has applied the leader's commit index as it
// was at the first poll: everything committed when the node was added. It
// returns the node's status then.
func catchUp(ctx context.Context, c *cluster.Cluster, id uint64) (adapter.Status, error) {
	var goal uint64
	var last adapter.Status
	err := cluster.Poll(ctx, fmt.Sprintf("new node %d to apply everything committed when it was added", id), func(ctx context.Context) (bool, string, error) {
		st, errs := c.Statuses(ctx)
		var mine *adapter.Status
		for i := range st {
			if errs[i] == nil && st[i].Role == adapter.RoleLeader && goal == 0 {
				goal = st[i].Commit
			}
			if st[i].ID == id && errs[i] == nil {
				mine = &st[i]
			}
		}
		if goal == 0 || mine == nil {
			return false, "waiting for the leader's commit index and the node's status", nil
		}
		last = *mine
		return mine.Applied >= goal, fmt.Sprintf("applied %d of %d", mine.Applied, goal), nil
	})
	return last, err
}

// sampleApplied records leader's applied payload count every sampleEvery
// until ctx ends; a status that fails is skipped.
func sampleApplied(ctx context.Context, leader *cluster.Member) []appliedSample {
	var out []appliedSample
	take := func() {
		sctx, cancel := context.WithTimeout(ctx, sampleEvery)
		defer cancel()
		if st, err := leader.Node().Status(sctx); err == nil {
			out = append(out, appliedSample{at: time.Now(), count: st.AppliedPayloads})
		}
	}
	take()
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			// One more, so that a sample follows the end of the change.
			ctx = context.WithoutCancel(ctx)
			take()
			return out
		case <-tick.C:
			take()
		}
	}
}

// within returns the indexes of the first and the last sample of s taken
// in [from, to], or -1, -1.
func within(s []appliedSample, from, to time.Time) (first, last int) {
	first, last = -1, -1
	for i, x := range s {
		if x.at.Before(from) || x.at.After(to) {
			continue
		}
		if first < 0 {
			first = i
		}
		last = i
	}
	return first, last
}

// covering returns the indexes of the last sample of s taken at or before
// from (else the first) and the first taken at or after to (else the last):
// the samples that bracket [from, to].
func covering(s []appliedSample, from, to time.Time) (first, last int) {
	if len(s) == 0 {
		return -1, -1
	}
	first, last = 0, len(s)-1
	for i, x := range s {
		if !x.at.After(from) {
			first = i
		}
	}
	for i := len(s) - 1; i >= 0; i-- {
		if !s[i].at.Before(to) {
			last = i
		}
	}
	return first, last
}

// rate is the applied payloads per second from sample first to sample last
// of s; ok is false unless last is after first.
func rate(s []appliedSample, first, last int) (float64, bool) {
	if first < 0 || last <= first {
		return 0, false
	}
	return float64(s[last].count-s[first].count) / s[last].at.Sub(s[first].at).Seconds(), true
}

// lowest is the lowest rate between consecutive samples of s over the
// intervals that overlap [from, to].
func lowest(s []appliedSample, from, to time.Time) (float64, bool) {
	low, ok := 0.0, false
	for i := 1; i < len(s); i++ {
		a, b := s[i-1], s[i]
		if !b.at.After(from) || !a.at.Before(to) {
			continue
		}
		r := float64(b.count-a.count) / b.at.Sub(a.at).Seconds()
		if !ok || r < low {
			low, ok = r, true
		}
	}
	return low, ok
}

func (r *reconfigure) set(name, value string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.effect[name] = value
}

// Revert waits for the change to end (it is not undone: the replaced node
// stays replaced) and returns its error, if any.
func (r *reconfigure) Revert(ctx context.Context) error {
	if r.done == nil {
		return nil
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		r.cancel()
		<-r.done
	}
	r.cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return fmt.Errorf("membership change did not complete: %w", r.err)
	}
	return nil
}

func (r *reconfigure) Effect() Effect {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := Effect{}
	for n, v := range r.effect {
		e[n] = v
	}
	return e
}
