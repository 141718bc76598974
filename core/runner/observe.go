package runner

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/procfs"

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
	before  map[uint64]cluster.Usage
	procs   map[uint64]cluster.Process
	netFrom map[uint64]uint64

	redirects uint64 // of the external client, set when its load ends

	mu      sync.Mutex
	changes []time.Duration
	stop    context.CancelFunc
	done    chan struct{}
}

// begin takes the window's starting samples and starts watching leaders.
func (o *observer) begin(ctx context.Context, c *cluster.Cluster) {
	o.c, o.start = c, time.Now()
	o.before, o.procs, o.netFrom = map[uint64]cluster.Usage{}, map[uint64]cluster.Process{}, map[uint64]uint64{}
	for _, m := range c.Live() {
		p := m.Process()
		o.procs[m.ID] = p
		if s, err := p.Usage(); err == nil {
			o.before[m.ID] = s
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
	for _, p := range o.procs {
		pids = append(pids, p.PID())
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
	if o.host != nil {
		o.host.end(time.Now(), row)
	}
	var cpu time.Duration
	var written, peak, net uint64
	var perNode []string
	for _, m := range o.c.Members() {
		b, ok := o.before[m.ID]
		if !ok {
			continue
		}
		a, err := o.procs[m.ID].Usage()
		if err != nil {
			continue // the node died in the window (a kill fault): not counted
		}
		d := a.CPU - b.CPU
		cpu += d
		written += a.WriteBytes - b.WriteBytes
		peak = max(peak, a.PeakRSS)
		perNode = append(perNode, fmt.Sprintf("%d=%.3f", m.ID, d.Seconds()))
		if m.ID == row.LeaderID && ops > 0 {
			row.LeaderCPUUsPerOp = float64(d.Microseconds()) / float64(ops)
		}
		if sent, ok := o.env.SentBytes(m.ID); ok {
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
}
