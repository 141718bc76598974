//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/faults/cgroup"
	"github.com/raftcmp/raftcmp/reports"
)

// interruptCase interrupts a real `raftcmp run` at one moment of its life.
type interruptCase struct {
	name    string
	threads string
	// fault is the --fault flag, "" for the baseline; cgroups says it needs
	// cgroups (and so root).
	fault   string
	cgroups bool
	// moment waits until the run is where the case wants to interrupt it
	// and says what it saw.
	moment func(r *interruptedRun) string
	// sig is the first signal (SIGINT unless set); twice sends a second
	// SIGINT once raftcmp has acknowledged the first.
	sig   syscall.Signal
	twice bool
	// group sends the signals to raftcmp's whole process group, plugins
	// included, as Ctrl-C at a terminal does; otherwise to raftcmp's pid
	// only, as kill(1) does.
	group bool
	// cutMayFinish: the second signal may arrive when the point's work is
	// already done (it only tears down), so the point may be recorded ok
	// rather than failed "interrupted".
	cutMayFinish bool
}

const (
	cpuSlowFault  = "cpu-slow:follower,quota=20%,period=100ms"
	netDelayFault = "net-delay:follower,delay=5ms"
	// loadBytes: a fresh hashicorp cluster on disk holds about 48 KiB per
	// node once it is ready (bolt's initial file with the bootstrap
	// configuration and the leader's first entry); only proposals, that
	// is the load (its warm-up included), grow the data past this.
	loadBytes = 512 << 10
	// momentTimeout bounds the wait for a moment; exitTimeout bounds the
	// wait for raftcmp to exit once interrupted. Both only catch hangs.
	momentTimeout = 60 * time.Second
	exitTimeout   = 60 * time.Second
	pollEvery     = 5 * time.Millisecond
)

// TestInterruptLeavesNothing interrupts `raftcmp run` at varied moments
// (a plugin process starting, a cluster starting, the load, a cgroup fault,
// a network fault, teardown, between points; once, or twice to cut the
// point short) and checks that, once it has exited, it left nothing behind:
// no process, no cgroup, no data directory; and that results.csv holds
// exactly the points it reported finished, and report.md exists.
func TestInterruptLeavesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real clusters; skipped in -short")
	}
	dir := pluginDir(t)
	plugin := filepath.Join(dir, cluster.PluginPrefix+"hashicorp")

	// Every plugin process is started with Pdeathsig=SIGKILL, so the kernel
	// kills any node raftcmp leaves running when it exits: looking for
	// plugin processes after the exit would find nothing even if raftcmp
	// never stopped its nodes. As a child subreaper, this test process
	// inherits raftcmp's orphans instead of init, and they stay here as
	// zombies until reaped, so a node that was still running (or not
	// reaped) when raftcmp exited is still visible afterwards.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Logf("cannot become a child subreaper (%v): a node raftcmp left running at exit would be killed by its Pdeathsig and go unnoticed", err)
	} else {
		defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	}

	cases := []interruptCase{
		{
			// Before the first point: raftcmp's first plugin process is
			// normally the one it starts to ask the backend's description
			// (if this test misses that short-lived process, it is the
			// first node of point 1).
			name: "first plugin process", threads: "1,2,3",
			moment: func(r *interruptedRun) string { return r.firstPlugin() },
		},
		{
			name: "cluster start-up, Ctrl-C", threads: "1,2,3", group: true,
			moment: func(r *interruptedRun) string { return r.nodeLaunched(1) },
		},
		{
			name: "cluster start-up, twice", threads: "1,2,3", twice: true,
			moment: func(r *interruptedRun) string { return r.nodeLaunched(1) },
		},
		{
			name: "load, Ctrl-C", threads: "1,2,3", group: true,
			moment: func(r *interruptedRun) string { return r.loadRunning(1, 300*time.Millisecond) },
		},
		{
			name: "load, SIGTERM", threads: "1,2,3", sig: syscall.SIGTERM,
			moment: func(r *interruptedRun) string { return r.loadRunning(1, 300*time.Millisecond) },
		},
		{
			name: "load, twice", threads: "1,2,3", twice: true,
			moment: func(r *interruptedRun) string { return r.loadRunning(1, 300*time.Millisecond) },
		},
		{
			name: "cpu-slow fault", threads: "1,2,3", fault: cpuSlowFault, cgroups: true,
			moment: func(r *interruptedRun) string { return r.cgroupFaultApplied(1) },
		},
		{
			name: "cpu-slow fault, twice", threads: "1,2,3", fault: cpuSlowFault, cgroups: true, twice: true,
			moment: func(r *interruptedRun) string { return r.cgroupFaultApplied(1) },
		},
		{
			// A network fault cannot be seen from outside raftcmp (its
			// proxies live in its process): it is injected after the
			// warm-up (500 ms into the load) and lasts to the load's end
			// (2 s later). The load is seen 0.1-0.2 s after it starts, so
			// a fixed 900 ms after that lands inside the fault (as long as
			// seeing it takes less than 1.6 s).
			name: "net-delay fault, Ctrl-C", threads: "1,2,3", fault: netDelayFault, group: true,
			moment: func(r *interruptedRun) string { return r.loadRunning(1, 900*time.Millisecond) },
		},
		{
			name: "net-delay fault, twice", threads: "1,2,3", fault: netDelayFault, twice: true,
			moment: func(r *interruptedRun) string { return r.loadRunning(1, 900*time.Millisecond) },
		},
		{
			name: "teardown", threads: "1,2,3", fault: netDelayFault,
			moment: func(r *interruptedRun) string { return r.teardown(1) },
		},
		{
			name: "teardown, twice", threads: "1,2,3", twice: true, cutMayFinish: true,
			moment: func(r *interruptedRun) string { return r.teardown(1) },
		},
		{
			name: "right after a point finished", threads: "1,2,3",
			moment: func(r *interruptedRun) string { return r.pointFinished(1) },
		},
		{
			// The point cut short is the run's last one.
			name: "last point's load, twice", threads: "1", twice: true,
			moment: func(r *interruptedRun) string { return r.loadRunning(1, 300*time.Millisecond) },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cgroups {
				if os.Geteuid() != 0 {
					t.Skipf("fault %s needs cgroups, which need root (running as uid %d)", tc.fault, os.Geteuid())
				}
				if err := cgroup.Available(); err != nil {
					t.Skipf("fault %s needs cgroups: %v", tc.fault, err)
				}
			}
			testInterrupt(t, tc, dir, plugin)
		})
	}
}

func testInterrupt(t *testing.T, tc interruptCase, pluginDir, plugin string) {
	out := filepath.Join(t.TempDir(), "res")
	data := t.TempDir()
	args := []string{"run", "--plugin-dir", pluginDir, "--impl", "hashicorp", "--threads", tc.threads,
		"--duration", "2s", "--warmup", "500ms", "--storage", "disk", "--rate", "0", "--out", out, "--data-dir", data}
	if tc.fault != "" {
		args = append(args, "--fault", tc.fault)
	}
	r := startRun(t, plugin, out, data, raftcmpCgroups(), args)

	saw := tc.moment(r)
	sig := tc.sig
	if sig == 0 {
		sig = syscall.SIGINT
	}
	r.signal(sig, tc.group)
	t.Logf("%s: sent %v: %s", r.since(), sig, saw)
	if tc.twice {
		// Signals of one kind do not queue: the second is sent once
		// raftcmp has taken the first.
		if r.waitLine("raftcmp to acknowledge the first interrupt", "raftcmp: interrupt: finishing the current point") {
			r.signal(syscall.SIGINT, tc.group)
			t.Logf("%s: sent the second SIGINT", r.since())
		}
	}
	code := r.wait()
	t.Logf("%s: raftcmp exited with status %d", r.since(), code)

	r.checkNothingLeft()
	r.checkResults(tc, code)
}

// interruptedRun is one `raftcmp run` child and what this test saw of it:
// its stderr lines and the processes it started.
type interruptedRun struct {
	t       *testing.T
	cmd     *exec.Cmd
	pid     int
	plugin  string
	out     string // --out
	data    string // --data-dir
	started time.Time
	// cgroupsBefore are the raftcmp-* cgroups there were before the run.
	cgroupsBefore map[string]bool

	exited     chan struct{} // closed once raftcmp has been reaped
	state      *os.ProcessState
	readerDone chan struct{} // closed at EOF of raftcmp's stderr

	mu    sync.Mutex
	lines []string
	procs map[int]*childProc // every process whose parent was raftcmp
}

// childProc is a process whose parent was raftcmp.
type childProc struct {
	pid   int
	start string // starttime in /proc/<pid>/stat: tells a reused pid apart
	exe   string
	// afterLines is how many stderr lines raftcmp had written when this
	// test first saw the process.
	afterLines int
	gone       bool // exited (gone from /proc, or a zombie)
}

func startRun(t *testing.T, plugin, out, data string, cgroupsBefore map[string]bool, args []string) *interruptedRun {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r := &interruptedRun{t: t, plugin: plugin, out: out, data: data, cgroupsBefore: cgroupsBefore, exited: make(chan struct{}), readerDone: make(chan struct{}), procs: map[int]*childProc{}}
	r.cmd = exec.Command(raftcmpBin, args...)
	// A pipe of our own rather than StderrPipe, so that waiting for raftcmp
	// does not wait for the pipe's EOF (a process that kept it open is
	// reported instead).
	r.cmd.Stderr = pw
	// Its own process group, so that Ctrl-C can be sent to it alone; and
	// killed if this test dies.
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	r.started = time.Now()
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r.pid = r.cmd.Process.Pid
	go func() {
		defer close(r.readerDone)
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			r.mu.Lock()
			r.lines = append(r.lines, sc.Text())
			r.mu.Unlock()
		}
	}()
	go func() {
		r.cmd.Wait()
		r.state = r.cmd.ProcessState
		close(r.exited)
	}()
	go func() {
		for {
			r.track()
			select {
			case <-r.exited:
				return
			case <-time.After(pollEvery):
			}
		}
	}()
	t.Cleanup(func() {
		// A test that failed half-way must not leave raftcmp running, nor
		// what it left (already reported, if the test got that far).
		select {
		case <-r.exited:
		default:
			syscall.Kill(r.pid, syscall.SIGKILL)
			<-r.exited
		}
		r.reapLeftovers()
		if own, _, ok := r.ownCgroups(); ok {
			slices.Reverse(own)
			for _, g := range own {
				os.Remove(g)
			}
		}
	})
	return r
}

func (r *interruptedRun) since() string {
	return time.Since(r.started).Round(time.Millisecond).String()
}

// track records the processes whose parent is raftcmp and notes those
// that exited.
func (r *interruptedRun) track() {
	procs := scanProcs()
	r.mu.Lock()
	defer r.mu.Unlock()
	for pid, st := range procs {
		if st.ppid != r.pid {
			continue
		}
		p := r.procs[pid]
		if p == nil || p.start != st.start {
			p = &childProc{pid: pid, start: st.start, afterLines: len(r.lines)}
			r.procs[pid] = p
		}
		if p.exe != r.plugin {
			// Seen between fork and exec it is still raftcmp's binary.
			p.exe, _ = os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		}
	}
	for pid, p := range r.procs {
		st, ok := procs[pid]
		if !ok || st.start != p.start || st.state == 'Z' {
			p.gone = true
		}
	}
}

// waitFor polls cond (every few milliseconds: it only reads what this test
// has recorded, or a few files) until it holds. It fails the test if
// raftcmp exits or momentTimeout passes first.
func (r *interruptedRun) waitFor(what string, cond func() bool) {
	r.t.Helper()
	r.waitEvery(what, pollEvery, cond)
}

// waitEvery is waitFor polling every every (0: without pause).
func (r *interruptedRun) waitEvery(what string, every time.Duration, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(momentTimeout)
	for {
		if cond() {
			return
		}
		select {
		case <-r.exited:
			r.t.Fatalf("raftcmp exited (status %d) before %s\nstderr:\n%s", r.state.ExitCode(), what, r.stderr())
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("no %s within %v\nstderr:\n%s", what, momentTimeout, r.stderr())
		}
		time.Sleep(every)
	}
}

// waitLine waits for a stderr line containing s; it reports false (and
// fails the test) if raftcmp exits first.
func (r *interruptedRun) waitLine(what, s string) bool {
	r.t.Helper()
	deadline := time.Now().Add(momentTimeout)
	for {
		if r.findLine(func(l string) bool { return strings.Contains(l, s) }) >= 0 {
			return true
		}
		select {
		case <-r.exited:
			// Its last lines may still be in the pipe.
			<-r.readerDone
			if r.findLine(func(l string) bool { return strings.Contains(l, s) }) >= 0 {
				return true
			}
			r.t.Errorf("raftcmp exited (status %d) before %s\nstderr:\n%s", r.state.ExitCode(), what, r.stderr())
			return false
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("no %s within %v\nstderr:\n%s", what, momentTimeout, r.stderr())
		}
		time.Sleep(pollEvery)
	}
}

// findLine returns the index of the first stderr line for which match
// holds, or -1.
func (r *interruptedRun) findLine(match func(string) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.IndexFunc(r.lines, match)
}

func (r *interruptedRun) stderr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

// startedLine waits for the progress line of point k starting and returns
// its index.
func (r *interruptedRun) startedLine(k int) int {
	r.t.Helper()
	return r.startedLineEvery(k, pollEvery)
}

func (r *interruptedRun) startedLineEvery(k int, every time.Duration) int {
	r.t.Helper()
	i := -1
	r.waitEvery(fmt.Sprintf("progress line of point %d starting", k), every, func() bool {
		i = r.findLine(func(l string) bool {
			m := startedRe.FindStringSubmatch(l)
			return m != nil && m[1] == strconv.Itoa(k)
		})
		return i >= 0
	})
	return i
}

// finishedLine returns the index of the line reporting point k finished,
// or -1.
func (r *interruptedRun) finishedLine(k int) int {
	return r.findLine(func(l string) bool {
		m := finishedRe.FindStringSubmatch(l)
		return m != nil && !startedRe.MatchString(l) && m[1] == strconv.Itoa(k)
	})
}

// nodeOf returns a process of point k (first seen after the line at index
// after, when point k had started) for which ok holds, or nil.
func (r *interruptedRun) nodeOf(after int, ok func(*childProc) bool) *childProc {
	r.mu.Lock()
	defer r.mu.Unlock()
	var found *childProc
	for _, p := range r.procs {
		if p.afterLines > after && p.exe == r.plugin && ok(p) && (found == nil || p.pid < found.pid) {
			found = p
		}
	}
	return found
}

// firstPlugin waits for the run's first child process.
func (r *interruptedRun) firstPlugin() string {
	var p *childProc
	r.waitFor("plugin process", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, q := range r.procs {
			p = q
			return true
		}
		return false
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprintf("process %d (%s) appeared after %d stderr lines", p.pid, p.exe, p.afterLines)
}

// nodeLaunched waits for the first node process of point k: the cluster is
// starting up (a hashicorp cluster takes over a second to elect a leader).
func (r *interruptedRun) nodeLaunched(k int) string {
	i := r.startedLineEvery(k, 0)
	// A process is taken as point k's if this test saw it after point k's
	// progress line, which raftcmp writes before it launches any node. The
	// nodes appear within milliseconds of that line: /proc is scanned
	// without pause, to interrupt as soon as the first one exists.
	//
	// It waits until all three node processes run the plugin binary: a
	// signal sent to raftcmp's process group in the microseconds between a
	// child's fork and its setpgid (which raftcmp asks for, so that nodes
	// have a process group of their own) still reaches that child, and the
	// kernel offers no way to close that window from Go. A terminal Ctrl-C
	// cannot aim at it; this test, scanning /proc without pause, could.
	var p *childProc
	r.waitEvery(fmt.Sprintf("node processes of point %d", k), 0, func() bool {
		r.track()
		p = r.nodeOf(i, func(*childProc) bool { return true })
		return p != nil && r.nodesOf(i) >= 3
	})
	return fmt.Sprintf("point %d: node process %d appeared (cluster starting)", k, p.pid)
}

// nodesOf counts the processes running the plugin seen after line index
// after.
func (r *interruptedRun) nodesOf(after int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range r.procs {
		if p.afterLines > after && p.exe == r.plugin {
			n++
		}
	}
	return n
}

// loadRunning waits until point k's load is running, seen as its data
// growing, then waits offset more: a fixed offset after an observed event,
// only to land further inside the load (or inside its fault).
func (r *interruptedRun) loadRunning(k int, offset time.Duration) string {
	r.startedLine(k)
	var n int64
	r.waitFor(fmt.Sprintf("load of point %d (its data growing past %d bytes)", k, loadBytes), func() bool {
		n = dirBytes(r.data)
		return n >= loadBytes && r.finishedLine(k) < 0
	})
	seen := r.since()
	time.Sleep(offset)
	return fmt.Sprintf("point %d: load seen at %s (data %d bytes), interrupting %v later", k, seen, n, offset)
}

// cgroupFaultApplied waits until a CPU quota is set on a cgroup of the
// run: point k's cpu-slow fault is in place.
func (r *interruptedRun) cgroupFaultApplied(k int) string {
	r.startedLine(k)
	var g string
	r.waitFor(fmt.Sprintf("CPU quota of point %d's fault on a raftcmp cgroup", k), func() bool {
		g = r.quotaCgroup()
		return g != "" && r.finishedLine(k) < 0
	})
	return fmt.Sprintf("point %d: fault in place (CPU quota set on %s)", k, g)
}

// teardown waits until a node process of point k has exited: raftcmp is
// tearing the cluster down (which it does before it reports the point).
func (r *interruptedRun) teardown(k int) string {
	i := r.startedLine(k)
	var p *childProc
	r.waitFor(fmt.Sprintf("node process of point %d exiting", k), func() bool {
		p = r.nodeOf(i, func(p *childProc) bool { return p.gone })
		return p != nil
	})
	reported := "not yet reported finished"
	if r.finishedLine(k) >= 0 {
		reported = "already reported finished"
	}
	return fmt.Sprintf("point %d: node process %d exited (teardown; point %s)", k, p.pid, reported)
}

// pointFinished waits for the line reporting point k finished: its cluster
// is torn down and the next point is about to start.
func (r *interruptedRun) pointFinished(k int) string {
	r.waitFor(fmt.Sprintf("point %d reported finished", k), func() bool { return r.finishedLine(k) >= 0 })
	return fmt.Sprintf("point %d reported finished", k)
}

func (r *interruptedRun) signal(sig syscall.Signal, group bool) {
	r.t.Helper()
	pid := r.pid
	if group {
		pid = -r.pid // raftcmp leads its process group
	}
	if err := syscall.Kill(pid, sig); err != nil {
		r.t.Fatalf("kill(%d, %v): %v", pid, sig, err)
	}
}

// wait waits for raftcmp to exit and returns its status. If it hangs, it
// gets SIGQUIT (for its goroutines on stderr) and then SIGKILL, and the
// test fails.
func (r *interruptedRun) wait() int {
	r.t.Helper()
	select {
	case <-r.exited:
		return r.state.ExitCode()
	case <-time.After(exitTimeout):
	}
	r.mu.Lock()
	var alive []string
	for _, p := range r.procs {
		if !p.gone {
			alive = append(alive, fmt.Sprintf("%d (%s)", p.pid, p.exe))
		}
	}
	r.mu.Unlock()
	syscall.Kill(r.pid, syscall.SIGQUIT)
	select {
	case <-r.exited:
	case <-time.After(3 * time.Second):
		syscall.Kill(r.pid, syscall.SIGKILL)
		<-r.exited
	}
	select {
	case <-r.readerDone:
	case <-time.After(2 * time.Second):
	}
	r.t.Fatalf("%s: raftcmp hung: still running %v after the interrupt (killed; its child processes then: %v)\nstderr (with goroutines):\n%s",
		r.since(), exitTimeout, alive, r.stderr())
	return -1
}

// checkNothingLeft checks, once raftcmp has exited, that none of its
// processes, cgroups or data directories remain.
func (r *interruptedRun) checkNothingLeft() {
	t := r.t
	t.Helper()
	select {
	case <-r.readerDone:
	case <-time.After(2 * time.Second):
		t.Errorf("raftcmp's stderr is still open 2s after it exited: a process it started still holds it")
	}

	// Processes: any that raftcmp started, still there (running, or a
	// zombie this test inherited: one raftcmp neither stopped nor reaped,
	// killed only by its Pdeathsig when raftcmp exited); and any process of
	// this test's plugin binary, or whose parent is still raftcmp's pid.
	procs := scanProcs()
	var left []string
	listed := map[int]bool{}
	r.mu.Lock()
	for pid, p := range r.procs {
		if st, ok := procs[pid]; ok && st.start == p.start {
			left = append(left, fmt.Sprintf("pid %d (%s, state %c, parent %d, started by raftcmp after %d stderr lines)", pid, p.exe, st.state, st.ppid, p.afterLines))
			listed[pid] = true
		}
	}
	r.mu.Unlock()
	for pid, st := range procs {
		if listed[pid] {
			continue
		}
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if exe == r.plugin || strings.HasPrefix(exe, r.plugin+" ") || st.ppid == r.pid {
			left = append(left, fmt.Sprintf("pid %d (%s, state %c, parent %d)", pid, exe, st.state, st.ppid))
		}
	}
	if len(left) > 0 {
		slices.Sort(left)
		t.Errorf("processes left after raftcmp (pid %d) exited (parent %d is this test, which inherits raftcmp's orphans: such a process was still "+
			"running, or not reaped, when raftcmp exited, and was then killed by the kernel through its Pdeathsig):\n  %s\nstderr:\n%s",
			r.pid, os.Getpid(), strings.Join(left, "\n  "), r.stderr())
		// So that the run's cgroups can be removed below.
		r.reapLeftovers()
	}
	// The link proxies are goroutines of raftcmp's own process: with it
	// gone (checked above), none of their ports can still be listening.

	// Cgroups: any of the run's still there.
	leftGroups, others, attributed := r.ownCgroups()
	if len(others) > 0 {
		runs := map[string]bool{}
		for _, g := range others {
			runs[strings.SplitN(strings.TrimPrefix(filepath.Base(g), cgroup.Prefix), "-", 2)[0]] = true
		}
		t.Logf("not checked: %d new cgroups of other raftcmp runs on this machine (run ids %v)", len(others), slices.Sorted(maps.Keys(runs)))
	}
	if len(leftGroups) > 0 {
		slices.Sort(leftGroups)
		t.Errorf("cgroups left after raftcmp exited:\n  %s", strings.Join(leftGroups, "\n  "))
		// This test's own cleanup, not the tool's: deepest first, retried
		// while killed processes leave them. (Not when the groups could be
		// another run's.)
		slices.Reverse(leftGroups)
		if !attributed {
			t.Logf("not removing them: without meta.json they may be another run's")
			leftGroups = nil
		}
		for deadline := time.Now().Add(2 * time.Second); len(leftGroups) > 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			leftGroups = slices.DeleteFunc(leftGroups, func(g string) bool { return os.Remove(g) == nil })
		}
		if len(leftGroups) > 0 {
			t.Logf("could not remove %v", leftGroups)
		}
	}

	// Data directories: --data-dir was empty before the run.
	entries, err := os.ReadDir(r.data)
	if err != nil {
		t.Errorf("read --data-dir: %v", err)
	}
	if len(entries) > 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("data directories left in --data-dir %s after raftcmp exited: %v", r.data, names)
	}
}

// reapLeftovers kills what raftcmp left (already reported) and reaps the
// zombies this test inherited as a subreaper.
func (r *interruptedRun) reapLeftovers() {
	r.mu.Lock()
	defer r.mu.Unlock()
	procs := scanProcs()
	for pid, p := range r.procs {
		st, ok := procs[pid]
		if !ok || st.start != p.start {
			continue
		}
		syscall.Kill(pid, syscall.SIGKILL)
		if st.ppid == os.Getpid() {
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, 0, nil)
		}
	}
}

// point is one point as raftcmp's progress lines report it.
type point struct {
	id         string // "" until reported finished
	startLine  int
	finishLine int // -1 until reported finished
	status     string
	err        string
}

var (
	// [1/3] hashicorp: fault none, threads 1, repeat 1 ...
	startedRe = regexp.MustCompile(`^\[(\d+)/(\d+)\] (\S+): fault \S+, threads \d+, repeat \d+ \.\.\.$`)
	// [1/3] hashicorp/none/t1/r1: 0.55 Kops/s, ...
	// [1/3] hashicorp/none/t1/r1: failed: reason
	finishedRe = regexp.MustCompile(`^\[(\d+)/(\d+)\] (\S+): (.*)$`)
)

// points reads the progress lines: every point raftcmp started, by index,
// and the number of points of the run.
func (r *interruptedRun) points() (map[int]*point, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pts := map[int]*point{}
	total := 0
	for i, l := range r.lines {
		if m := startedRe.FindStringSubmatch(l); m != nil {
			k, _ := strconv.Atoi(m[1])
			total, _ = strconv.Atoi(m[2])
			pts[k] = &point{startLine: i, finishLine: -1}
			continue
		}
		m := finishedRe.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		k, _ := strconv.Atoi(m[1])
		p := pts[k]
		if p == nil {
			p = &point{startLine: -1}
			pts[k] = p
		}
		p.id, p.finishLine = m[3], i
		switch rest := m[4]; {
		case strings.HasPrefix(rest, reports.StatusFailed+": "):
			p.status, p.err = reports.StatusFailed, strings.TrimPrefix(rest, reports.StatusFailed+": ")
		case strings.HasPrefix(rest, reports.StatusUnsupported+": "):
			p.status, p.err = reports.StatusUnsupported, strings.TrimPrefix(rest, reports.StatusUnsupported+": ")
		case strings.Contains(rest, " Kops/s"):
			p.status = reports.StatusOK
		default:
			p.status = "unparsed: " + rest
		}
	}
	if total == 0 {
		// No point started; the header line says how many there were.
		for _, l := range r.lines {
			if n, err := fmt.Sscanf(l, "raftcmp: %d points", &total); n == 1 && err == nil {
				break
			}
		}
	}
	return pts, total
}

// checkResults checks the exit status and that the results directory holds
// exactly the points raftcmp reported finished.
func (r *interruptedRun) checkResults(tc interruptCase, code int) {
	t := r.t
	t.Helper()
	out := r.out
	pts, total := r.points()
	cut := r.findLine(func(l string) bool { return strings.Contains(l, "raftcmp: interrupt: cutting the current point short") })
	if tc.twice && cut < 0 {
		t.Errorf("raftcmp never acknowledged the second interrupt\nstderr:\n%s", r.stderr())
	}
	// The point in progress when the second interrupt arrived, if any.
	var current *point
	if cut >= 0 {
		for _, p := range pts {
			if p.startLine >= 0 && p.startLine < cut && (p.finishLine < 0 || p.finishLine > cut) {
				current = p
			}
		}
		if current == nil {
			t.Logf("no point was in progress when the second interrupt arrived")
		}
	}

	finished, cutShort := 0, 0
	var done []string
	for k, p := range pts {
		if p.finishLine < 0 {
			t.Errorf("point %d started but was never reported finished\nstderr:\n%s", k, r.stderr())
			continue
		}
		finished++
		done = append(done, fmt.Sprintf("%s %s %s", p.id, p.status, p.err))
		interrupted := p.status == reports.StatusFailed && strings.Contains(p.err, "interrupted")
		switch {
		case p == current && interrupted:
			// Cut short by the second interrupt, as it should be.
			cutShort++
		case p == current && p.status == reports.StatusOK && tc.cutMayFinish:
			t.Logf("point %s was past its measurement when cut short (teardown only): recorded ok", p.id)
		case p == current:
			t.Errorf("point %s, cut short by the second interrupt, was reported %s %q; want failed, \"interrupted\"", p.id, p.status, p.err)
		case p.status != reports.StatusOK:
			// Only a second interrupt may cut a point short: the first lets
			// the current point finish. (These points do not fail
			// otherwise: TestRunEndToEnd runs the same.)
			hint := ""
			if strings.Contains(p.err, "signal: interrupt") {
				hint = "\nIts plugin processes died of SIGINT: they are in raftcmp's process group, so Ctrl-C at a terminal reaches them too, and a plugin just started has not yet installed go-plugin's handler that ignores it."
			}
			t.Errorf("point %s was reported %s %q; the interrupt should have let it finish%s\nstderr:\n%s", p.id, p.status, p.err, hint, r.stderr())
		}
	}
	slices.Sort(done)
	t.Logf("%d of %d points reported finished:\n  %s", finished, total, strings.Join(done, "\n  "))

	// Exit status: 130, or 0 if every point had finished, none cut short.
	switch {
	case code == exitInterrupted:
	case code == 0 && total > 0 && finished == total && cutShort == 0:
		t.Logf("the run finished all %d points before the interrupt stopped anything: exit 0", total)
	default:
		hint := ""
		if cutShort > 0 && finished == total {
			hint = "\nThe point cut short was the run's last: the run does not count as interrupted (it only looks for an interrupt before starting a point), so it exits as if the point had failed on its own, and meta.json says interrupted: false."
		}
		t.Errorf("exit status %d, want %d (interrupted); %d of %d points finished, %d of them cut short by the interrupt%s\nstderr:\n%s",
			code, exitInterrupted, finished, total, cutShort, hint, r.stderr())
	}

	// results.csv: every finished point exactly once, with its status, and
	// nothing else.
	rows, err := reports.ReadResults(filepath.Join(out, reports.ResultsFile))
	if err != nil {
		t.Errorf("results.csv: %v", err)
	}
	byID := map[string][]reports.Row{}
	for _, row := range rows {
		byID[row.Point] = append(byID[row.Point], row)
	}
	for _, p := range pts {
		if p.finishLine < 0 {
			continue
		}
		got := byID[p.id]
		switch {
		case len(got) != 1:
			t.Errorf("results.csv has %d rows of point %s, reported finished; want 1", len(got), p.id)
		case got[0].Status != p.status:
			t.Errorf("results.csv: point %s is %s, reported %s", p.id, got[0].Status, p.status)
		case p.status == reports.StatusFailed && !strings.Contains(got[0].Error, "interrupted") && strings.Contains(p.err, "interrupted"):
			t.Errorf("results.csv: point %s error %q lacks \"interrupted\"", p.id, got[0].Error)
		}
	}
	if len(rows) != finished {
		t.Errorf("results.csv has %d rows; raftcmp reported %d points finished", len(rows), finished)
	}
	if _, err := os.Stat(filepath.Join(out, reports.ReportFile)); err != nil {
		t.Errorf("report.md: %v\nstderr:\n%s", err, r.stderr())
	}
	if m, err := reports.ReadMeta(out); err != nil {
		t.Errorf("meta.json: %v", err)
	} else if m.Interrupted != (code == exitInterrupted) {
		t.Errorf("meta.json: interrupted is %v, exit status %d", m.Interrupted, code)
	}
}

// procStat is what this test reads of a process's /proc/<pid>/stat.
type procStat struct {
	state byte
	ppid  int
	start string
}

// scanProcs reads every process's state, parent and start time.
func scanProcs() map[int]procStat {
	procs := map[int]procStat{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return procs
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... starttime (field 22); comm may hold
		// spaces and parentheses, so fields count from the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 > len(b) {
			continue
		}
		f := strings.Fields(string(b[i+2:]))
		if len(f) < 20 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		procs[pid] = procStat{state: f[0][0], ppid: ppid, start: f[19]}
	}
	return procs
}

// raftcmpCgroups returns every cgroup directory named raftcmp-* on the
// machine (in any hierarchy, at any depth).
func raftcmpCgroups() map[string]bool {
	groups := map[string]bool{}
	filepath.WalkDir(cgroup.DefaultRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), cgroup.Prefix) {
			groups[path] = true
		}
		return nil
	})
	return groups
}

// ownCgroups returns the raftcmp-* cgroups that were not there before the
// run: those of this run (named raftcmp-<runid>-p<point>-n<node>, runid
// being the UTC second the run started) and those of other raftcmp runs on
// the machine. The run id is taken from meta.json, written before the
// first point; without it (attributed false) every new group is taken as
// this run's.
func (r *interruptedRun) ownCgroups() (own, others []string, attributed bool) {
	prefixes := r.cgroupPrefixes()
	for g := range raftcmpCgroups() {
		if r.cgroupsBefore[g] {
			continue
		}
		name := filepath.Base(g)
		if prefixes == nil || slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
			own = append(own, g)
		} else {
			others = append(others, g)
		}
	}
	slices.Sort(own)
	slices.Sort(others)
	return own, others, prefixes != nil
}

// cgroupPrefixes returns the prefixes of this run's cgroup names,
// "raftcmp-<runid>-", or nil if meta.json cannot be read (yet).
func (r *interruptedRun) cgroupPrefixes() []string {
	m, err := reports.ReadMeta(r.out)
	if err != nil || m.Started.IsZero() {
		return nil
	}
	if m.RunID != "" {
		return []string{cgroup.Prefix + m.RunID + "-"}
	}
	// The run id is read from the clock just before Started.
	var prefixes []string
	for _, at := range []time.Time{m.Started, m.Started.Add(-time.Second)} {
		prefixes = append(prefixes, cgroup.Prefix+at.UTC().Format("20060102t150405")+"-")
	}
	return prefixes
}

// quotaCgroup returns a cgroup of this run with a CPU quota set, or "".
func (r *interruptedRun) quotaCgroup() string {
	if r.cgroupPrefixes() == nil {
		return ""
	}
	own, _, _ := r.ownCgroups()
	for _, g := range own {
		if b, err := os.ReadFile(filepath.Join(g, "cpu.cfs_quota_us")); err == nil && strings.TrimSpace(string(b)) != "-1" { // v1
			return g
		}
		if b, err := os.ReadFile(filepath.Join(g, "cpu.max")); err == nil && !strings.HasPrefix(string(b), "max") { // v2
			return g
		}
	}
	return ""
}

// dirBytes is the size of the files under dir.
func dirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
