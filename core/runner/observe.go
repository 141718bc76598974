package runner

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/reports"
)

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in
// /proc/PID/stat. It is 100 on every Linux architecture Go supports (Go
// cannot ask sysconf without cgo); a tick is 10 ms, fine over windows of
// seconds.
const clockTicks = 100

// procSample is what the kernel says a process has used so far.
type procSample struct {
	cpu        time.Duration // user + system, every thread
	writeBytes uint64        // bytes sent to the storage layer
	peakRSS    uint64        // VmHWM
}

// sampleProc reads pid's counters from /proc.
func sampleProc(pid int) (procSample, error) {
	var s procSample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of the whole line, 12 and 13 after ")".
	i := strings.LastIndexByte(string(stat), ')')
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	s.cpu = time.Duration(ut+st) * time.Second / clockTicks
	if io, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid)); err == nil {
		for _, line := range strings.Split(string(io), "\n") {
			if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
				s.writeBytes, _ = strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			}
		}
	}
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				s.peakRSS = kb * 1024
			}
		}
	}
	return s, nil
}

// observer measures a point's measured window from outside the load: each
// node's CPU time, disk writes and peak memory, the bytes between nodes
// (when proxied), and leader changes with their times.
type observer struct {
	c       *cluster.Cluster
	start   time.Time
	before  map[uint64]procSample
	pids    map[uint64]int
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
	o.before, o.pids, o.netFrom = map[uint64]procSample{}, map[uint64]int{}, map[uint64]uint64{}
	for _, m := range c.Live() {
		o.pids[m.ID] = m.PID()
		if s, err := sampleProc(m.PID()); err == nil {
			o.before[m.ID] = s
		}
		if mesh := c.Mesh(); mesh != nil {
			if st, err := mesh.Stats(m.ID); err == nil {
				o.netFrom[m.ID] = st.Sent
			}
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	o.stop, o.done = cancel, make(chan struct{})
	go o.watchLeader(wctx)
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
	var cpu time.Duration
	var written, peak, net uint64
	var perNode []string
	for _, m := range o.c.Members() {
		b, ok := o.before[m.ID]
		if !ok {
			continue
		}
		a, err := sampleProc(o.pids[m.ID])
		if err != nil {
			continue // the node died in the window (a kill fault): not counted
		}
		d := a.cpu - b.cpu
		cpu += d
		written += a.writeBytes - b.writeBytes
		peak = max(peak, a.peakRSS)
		perNode = append(perNode, fmt.Sprintf("%d=%.3f", m.ID, d.Seconds()))
		if m.ID == row.LeaderID && ops > 0 {
			row.LeaderCPUUsPerOp = float64(d.Microseconds()) / float64(ops)
		}
		if mesh := o.c.Mesh(); mesh != nil {
			if st, err := mesh.Stats(m.ID); err == nil {
				net += st.Sent - o.netFrom[m.ID]
			}
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
