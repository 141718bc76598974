package runner

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/procfs"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/faults"
	"github.com/raftcmp/raftcmp/reports"
)

// observer measures a point's measured window from outside the load: each
// node's CPU time, disk writes and peak memory, the bytes between nodes
// (when proxied), leader changes with their times, and, when the nodes run
// on this machine, the host's interference (hostSampler).
type observer struct {
	env     *faults.Env // the bytes between nodes, when proxied
	local   bool        // the nodes run on this machine: measure its interference
	host    *hostSampler
	c       *cluster.Cluster
	start   time.Time
	procs   []trackedProcess // the node processes live when the window began
	atBegin map[uint64]bool  // node ids live when the window began
	netFrom map[uint64]uint64

	redirects uint64 // of the external client, set when its load ends

	mu      sync.Mutex
	changes []time.Duration
	snaps   map[uint64]*snapshotTally // by node id, from every Status polled
	stop    context.CancelFunc
	done    chan struct{}
}

// begin takes the window's starting samples and starts watching leaders.
func (o *observer) begin(ctx context.Context, c *cluster.Cluster) {
	o.c, o.start = c, time.Now()
	o.procs, o.atBegin, o.netFrom = nil, map[uint64]bool{}, map[uint64]uint64{}
	o.snaps = map[uint64]*snapshotTally{}
	for _, m := range c.Live() {
		p := m.Process()
		o.atBegin[m.ID] = true
		if s, err := p.Usage(); err == nil {
			o.procs = append(o.procs, trackedProcess{m: m, p: p, before: s})
		}
		if sent, ok := o.env.SentBytes(m.ID); ok {
			o.netFrom[m.ID] = sent
		}
	}
	if o.local {
		o.beginHost()
	}
	wctx, cancel := context.WithCancel(ctx)
	o.stop, o.done = cancel, make(chan struct{})
	go o.watchLeader(wctx)
}

// beginHost takes the host's first reading of the window. Without a
// readable /proc the point's interference columns stay empty.
func (o *observer) beginHost() {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return
	}
	var pids []int
	for _, t := range o.procs {
		pids = append(pids, t.p.PID())
	}
	o.host = &hostSampler{r: hostReader{fs: fs, self: os.Getpid(), nodes: pids}}
	o.host.begin(o.start)
}

// leaderPoll is how often the observer asks who leads: often enough to
// place a leader change within a time-series interval, rarely enough to
// cost the nodes nothing measurable.
const leaderPoll = 200 * time.Millisecond

func (o *observer) watchLeader(ctx context.Context) {
	defer close(o.done)
	t := time.NewTicker(leaderPoll)
	defer t.Stop()
	var last uint64
	for {
		st, errs := o.c.Statuses(ctx)
		o.tallySnapshots(st, errs)
		var leader uint64
		for i, s := range st {
			if errs[i] == nil && s.Leader != 0 {
				leader = s.Leader
				break
			}
		}
		if leader != 0 && last != 0 && leader != last {
			o.mu.Lock()
			o.changes = append(o.changes, time.Since(o.start))
			o.mu.Unlock()
		}
		if leader != 0 {
			last = leader
		}
		if o.host != nil {
			o.host.sample() // runnable tasks, at the same pace
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// end stops watching and fills row's resource columns, per operation of
// the window (ops > 0).
func (o *observer) end(row *reports.Row, ops uint64) {
	if o.stop == nil {
		return
	}
	o.stop()
	<-o.done
	// The window's last look at the snapshot counters.
	sctx, cancel := context.WithTimeout(context.Background(), endStatusTimeout)
	o.tallySnapshots(o.c.Statuses(sctx))
	cancel()
	if o.host != nil {
		o.host.end(time.Now(), row)
	}
	var cpu time.Duration
	var written, peak, net uint64
	var perNode []string
	nodeCPU := map[uint64]time.Duration{}
	for _, t := range o.windowProcesses() {
		a, ok := t.after()
		if !ok {
			continue // crashed in the window: its counters are gone
		}
		d := a.CPU - t.before.CPU
		cpu += d
		written += a.WriteBytes - t.before.WriteBytes
		peak = max(peak, a.PeakRSS)
		nodeCPU[t.m.ID] += d
	}
	for _, m := range o.c.Members() {
		d, ok := nodeCPU[m.ID]
		if !ok {
			continue
		}
		perNode = append(perNode, fmt.Sprintf("%d=%.3f", m.ID, d.Seconds()))
		if m.ID == row.LeaderID && ops > 0 {
			row.LeaderCPUUsPerOp = float64(d.Microseconds()) / float64(ops)
		}
		if sent, ok := o.env.SentBytes(m.ID); ok && o.atBegin[m.ID] {
			net += sent - o.netFrom[m.ID]
		}
	}
	row.NodeCPUS = strings.Join(perNode, ";")
	row.PeakRSSBytes = peak
	if ops > 0 {
		row.CPUUsPerOp = float64(cpu.Microseconds()) / float64(ops)
		row.WriteBytesPerOp = float64(written) / float64(ops)
		row.NetBytesPerOp = float64(net) / float64(ops)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	row.LeaderChanges = len(o.changes)
	var at []string
	for _, c := range o.changes {
		at = append(at, strconv.FormatFloat(c.Seconds(), 'f', 2, 64))
	}
	row.LeaderChangeS = strings.Join(at, ";")
	row.Redirects = o.redirects
	var snapTime time.Duration
	for _, t := range o.snaps {
		taken, installs, spent := t.total()
		row.Snapshots += taken
		row.SnapshotInstalls += installs
		snapTime += spent
	}
	row.SnapshotMs = float64(snapTime.Microseconds()) / 1000
}

// trackedProcess is one node process whose use the window counts, and its
// counters when the window began (zero for a process started in it).
type trackedProcess struct {
	m      *cluster.Member
	p      cluster.Process
	before cluster.Usage
}

// after is the process's counters at the window's end: read now if it
// runs, or as raftcmp read them just before stopping or killing it in the
// window (a kill, restart or reconfigure fault). A process that crashed
// on its own has none.
func (t trackedProcess) after() (cluster.Usage, bool) {
	if u, err := t.p.Usage(); err == nil {
		return u, true
	}
	return t.m.FinalUsage(t.p)
}

// windowProcesses is every node process the window saw: those live when
// it began, and those started in it (a restarted node's new process, a
// node added by a membership change), counted from their start.
func (o *observer) windowProcesses() []trackedProcess {
	procs := slices.Clone(o.procs)
	for _, m := range o.c.Members() {
		p := m.Process()
		if p == nil || slices.ContainsFunc(procs, func(t trackedProcess) bool { return t.p == p }) {
			continue
		}
		procs = append(procs, trackedProcess{m: m, p: p})
	}
	return procs
}

// endStatusTimeout bounds the observer's last Status round at the end of
// the window; a node that does not answer keeps the counts seen before.
const endStatusTimeout = 5 * time.Second

// tallySnapshots folds one round of statuses into the snapshot tallies.
func (o *observer) tallySnapshots(st []adapter.Status, errs []error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, s := range st {
		if errs[i] != nil {
			continue
		}
		t := o.snaps[s.ID]
		if t == nil {
			t = &snapshotTally{}
			// A node that joined in the window (reconfigure) counts from
			// its Start: all it took or installed belongs to the window.
			t.seen = !o.atBegin[s.ID]
			o.snaps[s.ID] = t
		}
		t.see(s)
	}
}

// snapshotTally is one node's snapshot counters over the window: their
// growth from the first Status seen (at the window's start, or when the
// node first answered) to the last. A node's counters start again at zero
// when it restarts; a counter seen going down marks a restart, and the
// growth before it is kept.
type snapshotTally struct {
	seen        bool
	base, last  adapter.Status
	taken, inst uint64
	spent       time.Duration
}

func (t *snapshotTally) see(s adapter.Status) {
	switch {
	case !t.seen:
		t.base, t.last, t.seen = s, s, true
		return
	case s.Snapshots < t.last.Snapshots || s.SnapshotInstalls < t.last.SnapshotInstalls || s.SnapshotTime < t.last.SnapshotTime:
		t.taken, t.inst, t.spent = t.total()
		t.base = adapter.Status{}
	}
	t.last = s
}

// total is the growth seen: snapshots taken, installed, time taken.
func (t *snapshotTally) total() (taken, installs uint64, spent time.Duration) {
	return t.taken + t.last.Snapshots - t.base.Snapshots,
		t.inst + t.last.SnapshotInstalls - t.base.SnapshotInstalls,
		t.spent + t.last.SnapshotTime - t.base.SnapshotTime
}
