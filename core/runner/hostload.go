package runner

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/procfs"

	"github.com/raftcmp/raftcmp/faults"
	"github.com/raftcmp/raftcmp/reports"
)

// hostCounters is one reading of this machine's cumulative counters and
// of the experiment's processes on it, from /proc (read with procfs, a
// well-kept parser of its files). CPU figures are seconds summed over all
// CPUs since boot.
type hostCounters struct {
	at time.Time
	// From /proc/stat: time running tasks (user, nice, system), serving
	// interrupts (irq, softirq), stolen by a hypervisor, and in all.
	tasks, irq, steal, total float64
	// From /proc/pressure/cpu: seconds in which some runnable task waited
	// for a CPU; hasPressure is false without PSI.
	pressure    float64
	hasPressure bool
	// self is raftcmp's own CPU time, its reaped children's included
	// (cutime, cstime): node processes and hogs that ended in the window
	// are counted there once waited for.
	self float64
	// procs is the CPU time of each live process of the experiment other
	// than raftcmp: the node processes and the fault hogs.
	procs map[int]float64
}

// hostReader reads hostCounters from a /proc (procfs.NewFS; a fixed
// copy in tests) for raftcmp's process self and the node processes nodes.
type hostReader struct {
	fs    procfs.FS
	self  int
	nodes []int
}

// read takes one reading. Only /proc/stat and self's stat are required;
// an experiment process that ends while being read is skipped (its time
// is in self's reaped children once waited for).
func (h hostReader) read(at time.Time) (hostCounters, error) {
	st, err := h.fs.Stat()
	if err != nil {
		return hostCounters{}, fmt.Errorf("read the host's CPU counters: %w", err)
	}
	c := st.CPUTotal
	// Guest time is already inside user and nice: not added again.
	hc := hostCounters{at: at, tasks: c.User + c.Nice + c.System, irq: c.IRQ + c.SoftIRQ, steal: c.Steal, procs: map[int]float64{}}
	hc.total = hc.tasks + hc.irq + hc.steal + c.Idle + c.Iowait
	if psi, err := h.fs.PSIStatsForResource("cpu"); err == nil && psi.Some != nil {
		hc.pressure, hc.hasPressure = float64(psi.Some.Total)/1e6, true // µs
	}
	p, err := h.fs.Proc(h.self)
	if err != nil {
		return hostCounters{}, fmt.Errorf("read raftcmp's own CPU time: %w", err)
	}
	ps, err := p.Stat()
	if err != nil {
		return hostCounters{}, fmt.Errorf("read raftcmp's own CPU time: %w", err)
	}
	hc.self = ps.CPUTime() + float64(ps.CUTime+ps.CSTime)/clockTicks
	all, err := h.fs.AllProcs()
	if err != nil {
		return hostCounters{}, fmt.Errorf("list the host's processes: %w", err)
	}
	for _, p := range all {
		s, err := p.Stat()
		if err != nil {
			continue // ended since listed
		}
		if slices.Contains(h.nodes, p.PID) || (s.PPID == h.self && isHog(p)) {
			hc.procs[p.PID] = s.CPUTime()
		}
	}
	return hc, nil
}

// clockTicks is the kernel's USER_HZ, the unit of cutime and cstime in
// /proc/PID/stat: 100 on every Linux architecture Go supports (procfs
// assumes the same for utime and stime).
const clockTicks = 100

// isHog reports whether p is a fault's hog: a re-executed raftcmp with
// faults.HogEnv in its environment.
func isHog(p procfs.Proc) bool {
	env, err := p.Environ()
	return err == nil && slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, faults.HogEnv+"=") })
}

// hostLoad is the host's interference over a window, figured from the
// readings at its start and end and the runnable-task counts sampled in
// between.
type hostLoad struct {
	util, steal, outside float64
	pressure             *float64
	running              *float64
}

// interference figures the window between readings a and b. running is
// /proc/stat's procs_running sampled during the window (may be empty).
func interference(a, b hostCounters, running []uint64) hostLoad {
	var l hostLoad
	if total := b.total - a.total; total > 0 {
		l.util = (b.tasks + b.irq - a.tasks - a.irq) / total
		l.steal = (b.steal - a.steal) / total
	}
	// The experiment's CPU: raftcmp with its reaped children, plus each
	// live process's time in the window. A process alive at a and gone
	// at b was reaped into b.self with its whole life's time, so its time
	// before the window comes off.
	own := b.self - a.self
	for pid, cpu := range b.procs {
		own += cpu - a.procs[pid]
	}
	for pid, cpu := range a.procs {
		if _, alive := b.procs[pid]; !alive {
			own -= cpu
		}
	}
	secs := b.at.Sub(a.at).Seconds()
	if secs > 0 {
		// Interrupt time is left out: much of it is the experiment's own
		// loopback traffic, charged to no process. Tick-granular counters
		// read at slightly different instants can leave a small negative.
		l.outside = max(0, b.tasks-a.tasks-own) / secs
		if a.hasPressure && b.hasPressure {
			p := (b.pressure - a.pressure) / secs
			l.pressure = &p
		}
	}
	if len(running) > 0 {
		var sum uint64
		for _, r := range running {
			sum += r
		}
		m := float64(sum) / float64(len(running))
		l.running = &m
	}
	return l
}

// fill writes l into row's interference columns.
func (l hostLoad) fill(row *reports.Row) {
	row.HostCPUUtil, row.HostSteal, row.OutsideCPU = &l.util, &l.steal, &l.outside
	row.CPUPressure, row.ProcsRunning = l.pressure, l.running
}

// hostSampler follows this machine over a point's window: a reading at
// its start and end, and procs_running sampled in between.
type hostSampler struct {
	r       hostReader
	start   hostCounters
	ok      bool
	running []uint64
}

// begin takes the window's first reading; if /proc cannot be read the
// point's interference columns stay empty.
func (s *hostSampler) begin(now time.Time) {
	var err error
	s.start, err = s.r.read(now)
	s.ok = err == nil
}

// sample records the number of runnable tasks now.
func (s *hostSampler) sample() {
	if !s.ok {
		return
	}
	if st, err := s.r.fs.Stat(); err == nil {
		s.running = append(s.running, st.ProcessesRunning)
	}
}

// end takes the last reading and fills row; row is left alone if either
// reading failed.
func (s *hostSampler) end(now time.Time, row *reports.Row) {
	if !s.ok {
		return
	}
	b, err := s.r.read(now)
	if err != nil {
		return
	}
	interference(s.start, b, s.running).fill(row)
}
