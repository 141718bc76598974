package preflight

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/procfs"
)

const (
	// busyShare is the share of one CPU a process outside raftcmp must use
	// over the sample to be named.
	busyShare = 0.10
	// badMachineShare is the share of the machine's CPUs that processes
	// outside raftcmp may use together before a run is invalid: the
	// nodes would then get a share of the machine that varies with someone
	// else's work, point by point.
	badMachineShare = 0.25
	// stealShare is the share of the machine's CPU time stolen by the
	// hypervisor above which the finding warns.
	stealShare = 0.05
	// namedAtMost bounds the processes a finding names.
	namedAtMost = 5
)

// procSample is one process's state at a sampling instant.
type procSample struct {
	comm  string
	ppid  int
	start uint64  // when it started (clock ticks after boot): a reused pid starts anew
	cpu   float64 // user+system CPU seconds since it started
}

// sample is the machine at one instant: every process, and the CPU time
// the hypervisor stole from all CPUs (seconds).
type sample struct {
	procs map[int]procSample
	steal float64
	at    time.Time
}

func readSample(fs procfs.FS) (sample, error) {
	s := sample{procs: map[int]procSample{}, at: time.Now()}
	procs, err := fs.AllProcs()
	if err != nil {
		return s, fmt.Errorf("list processes: %w", err)
	}
	for _, p := range procs {
		st, err := p.Stat()
		if err != nil {
			continue // exited since the listing
		}
		s.procs[p.PID] = procSample{comm: st.Comm, ppid: st.PPID, start: st.Starttime, cpu: st.CPUTime()}
	}
	if st, err := fs.Stat(); err == nil {
		s.steal = st.CPUTotal.Steal
	}
	return s, nil
}

func checkBusy(ctx context.Context, o Options) Finding {
	fs, err := procfs.NewFS(o.ProcRoot)
	if err != nil {
		return notReadable("other processes' CPU use ("+o.ProcRoot+")", "raftcmp cannot tell whether something else is busy on this machine")
	}
	before, err := readSample(fs)
	if err != nil {
		return notReadable("other processes' CPU use ("+err.Error()+")", "raftcmp cannot tell whether something else is busy on this machine")
	}
	t := time.NewTimer(o.Sample)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return Finding{Severity: sevWarn, Found: "other processes not sampled: " + ctx.Err().Error(),
			Means: "raftcmp cannot tell whether something else is busy on this machine"}
	case <-t.C:
	}
	after, err := readSample(fs)
	if err != nil {
		return notReadable("other processes' CPU use ("+err.Error()+")", "raftcmp cannot tell whether something else is busy on this machine")
	}
	return busyFinding(before, after, o.CPUs, o.Self)
}

// busy is a process outside raftcmp and the share of one CPU it used.
type busy struct {
	pid   int
	comm  string
	share float64
}

// busyFinding judges the CPU that processes other than self and its
// descendants used between two samples, and the hypervisor's steal, on a
// machine of cpus CPUs.
func busyFinding(before, after sample, cpus, self int) Finding {
	elapsed := after.at.Sub(before.at).Seconds()
	if elapsed <= 0 {
		elapsed = 1e-9
	}
	own := descendants(after, self)
	var (
		outside float64 // CPUs used by processes outside raftcmp
		named   []busy
	)
	for pid, a := range after.procs {
		if own[pid] {
			continue
		}
		share := (a.cpu - before.procs[pid].cpu) / elapsed // a process new since before: all its CPU
		if b, ok := before.procs[pid]; ok && b.start != a.start {
			share = a.cpu / elapsed // the pid was reused (a kernel worker renames itself: its name says nothing)
		}
		if share <= 0 {
			continue
		}
		outside += share
		if share >= busyShare {
			named = append(named, busy{pid, a.comm, share})
		}
	}
	slices.SortFunc(named, func(a, b busy) int {
		return cmp.Or(cmp.Compare(b.share, a.share), cmp.Compare(a.pid, b.pid))
	})
	steal := (after.steal - before.steal) / elapsed / float64(cpus)
	found := fmt.Sprintf("outside raftcmp, processes used %.2f of %d CPUs over %s", outside, cpus, time.Duration(elapsed*float64(time.Second)).Round(time.Millisecond))
	if len(named) > 0 {
		var parts []string
		for i, b := range named {
			if i == namedAtMost {
				parts = append(parts, fmt.Sprintf("%d more", len(named)-i))
				break
			}
			parts = append(parts, fmt.Sprintf("%s (pid %d) %.0f%%", b.comm, b.pid, b.share*100))
		}
		found += ": " + strings.Join(parts, ", ")
	}
	found += fmt.Sprintf("; steal %.1f%%", steal*100)
	const change = "run when the machine is otherwise idle (stop the processes named), or on a machine of its own; " +
		"results.csv's per-point host columns then show whether a point was disturbed"
	switch {
	case outside >= badMachineShare*float64(cpus):
		return Finding{Severity: sevBad, Found: found,
			Means: fmt.Sprintf("other work takes at least %.0f%% of the machine: the nodes get a share of the CPUs that varies with it, "+
				"point by point, so differences between points or backends may be that work's", badMachineShare*100),
			Change: change}
	case len(named) > 0 || steal >= stealShare:
		return Finding{Severity: sevWarn, Found: found,
			Means:  "other work (or the hypervisor, as steal) takes CPU time the nodes would have had: points run while it lasts are slowed by it",
			Change: change}
	}
	return Finding{Severity: sevOK, Found: found, Means: "nothing else was busy while sampled"}
}

// descendants is self and every process of s descending from it.
func descendants(s sample, self int) map[int]bool {
	children := map[int][]int{}
	for pid, p := range s.procs {
		children[p.ppid] = append(children[p.ppid], pid)
	}
	own := map[int]bool{self: true}
	queue := []int{self}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children[pid] {
			if !own[c] {
				own[c] = true
				queue = append(queue, c)
			}
		}
	}
	return own
}
