package cgroup

// Tests against the machine's real cgroups: they need root and create
// groups named testPrefix+... (all removed again, checked after each test).
// They are written for cgroup v1 (hybrid) machines; file-content checks are
// skipped on v2, where the fake-filesystem tests in v2_test.go cover them.

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
)

func TestRealAvailable(t *testing.T) {
	realManager(t)
	if err := Available(); err != nil {
		t.Fatalf("Available: %v", err)
	}
}

// groupDirs lists the directories a v1 group occupies.
func groupDirs(m *Manager, name string) []string {
	var dirs []string
	for _, s := range m.v1.subsystems {
		dirs = append(dirs, m.v1.dir(s.Name(), name))
	}
	return dirs
}

func TestRealCreateDelete(t *testing.T) {
	m := realManager(t)
	if m.Mode() != ModeV1 {
		t.Skip("directory layout checks are for cgroup v1")
	}
	g := newGroup(t, m, "create")
	dirs := groupDirs(m, g.Name())
	if len(dirs) != len(v1Controllers) {
		t.Errorf("group spans %d controllers, want %d (%v)", len(dirs), len(v1Controllers), v1Controllers)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("group directory missing: %v", err)
		}
	}
	// The memory group is nested under this process's own memory cgroup.
	own := procCgroups(t, os.Getpid(), 0)["memory"]
	wantMem := filepath.Join(DefaultRoot, "memory", own, g.Name())
	if !slices.Contains(dirs, wantMem) {
		t.Errorf("memory group not at %s (dirs %v)", wantMem, dirs)
	}
	// cpuset.mems must be filled for processes to join.
	if mems := readTrim(t, filepath.Join(m.v1.dir(cgroup1.Cpuset, g.Name()), "cpuset.mems")); mems == "" {
		t.Error("cpuset.mems is empty")
	}
	if _, err := m.Create(g.Name()); err == nil {
		t.Error("Create of an existing group succeeded")
	}
	if err := g.Delete(); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s still there after Delete (%v)", d, err)
		}
	}
	if err := g.Delete(); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if err := g.SetCPUShares(100); err == nil {
		t.Error("SetCPUShares on a deleted group succeeded")
	}
}

// TestRealSetters checks what each setter writes to the v1 files.
func TestRealSetters(t *testing.T) {
	m := realManager(t)
	if m.Mode() != ModeV1 {
		t.Skip("file checks are for cgroup v1")
	}
	g := newGroup(t, m, "setters")
	major, minor, err := DeviceOf(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dev := strconv.FormatUint(major, 10) + ":" + strconv.FormatUint(minor, 10)
	cpu := m.v1.dir(cgroup1.Cpu, g.Name())
	cpuset := m.v1.dir(cgroup1.Cpuset, g.Name())
	mem := m.v1.dir(cgroup1.Memory, g.Name())
	blkio := m.v1.dir(cgroup1.Blkio, g.Name())
	const unlimited = "9223372036854771712"
	tests := []struct {
		name string
		set  func() error
		want map[string]string // file -> content (first line for oom_control)
	}{
		{"quota 50ms/1s", func() error { return g.SetCPUQuota(50*time.Millisecond, time.Second) },
			map[string]string{cpu + "/cpu.cfs_quota_us": "50000", cpu + "/cpu.cfs_period_us": "1000000"}},
		{"quota 5ms/100ms", func() error { return g.SetCPUQuota(5*time.Millisecond, 100*time.Millisecond) },
			map[string]string{cpu + "/cpu.cfs_quota_us": "5000", cpu + "/cpu.cfs_period_us": "100000"}},
		{"clear quota", g.ClearCPUQuota,
			map[string]string{cpu + "/cpu.cfs_quota_us": "-1", cpu + "/cpu.cfs_period_us": "100000"}},
		{"shares", func() error { return g.SetCPUShares(256) },
			map[string]string{cpu + "/cpu.shares": "256"}},
		{"cpus", func() error { return g.SetCPUs("1") },
			map[string]string{cpuset + "/cpuset.cpus": "1"}},
		{"memory limit", func() error { return g.SetMemoryLimit(64<<20, false) },
			map[string]string{mem + "/memory.limit_in_bytes": "67108864", mem + "/memory.oom_control": "oom_kill_disable 0"}},
		{"memory limit, no oom kill", func() error { return g.SetMemoryLimit(32<<20, true) },
			map[string]string{mem + "/memory.limit_in_bytes": "33554432", mem + "/memory.oom_control": "oom_kill_disable 1"}},
		{"memory limit raised", func() error { return g.SetMemoryLimit(128<<20, false) },
			map[string]string{mem + "/memory.limit_in_bytes": "134217728", mem + "/memory.oom_control": "oom_kill_disable 0"}},
		{"clear memory", g.ClearMemoryLimit,
			map[string]string{mem + "/memory.limit_in_bytes": unlimited, mem + "/memory.oom_control": "oom_kill_disable 0"}},
		{"io limit", func() error { return g.SetIOLimit(major, minor, 1<<20, 2<<20, 0, 50) },
			map[string]string{
				blkio + "/blkio.throttle.read_bps_device":   dev + " 1048576",
				blkio + "/blkio.throttle.write_bps_device":  dev + " 2097152",
				blkio + "/blkio.throttle.read_iops_device":  "",
				blkio + "/blkio.throttle.write_iops_device": dev + " 50",
			}},
		{"clear io", func() error { return g.ClearIOLimit(major, minor) },
			map[string]string{
				blkio + "/blkio.throttle.read_bps_device":   "",
				blkio + "/blkio.throttle.write_bps_device":  "",
				blkio + "/blkio.throttle.read_iops_device":  "",
				blkio + "/blkio.throttle.write_iops_device": "",
			}},
	}
	// Where swap is accounted, memory+swap follows the memory limit.
	memsw := mem + "/memory.memsw.limit_in_bytes"
	if _, err := os.Stat(memsw); err == nil {
		for _, tt := range tests {
			if l, ok := tt.want[mem+"/memory.limit_in_bytes"]; ok {
				tt.want[memsw] = l
			}
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.set(); err != nil {
				t.Fatal(err)
			}
			for file, want := range tt.want {
				got, _, _ := strings.Cut(readTrim(t, file), "\n")
				if got != want {
					t.Errorf("%s = %q, want %q", filepath.Base(file), got, want)
				}
			}
		})
	}
}

// TestRealAddProcess checks that every thread, including threads started
// after the move, is in the group in every controller.
func TestRealAddProcess(t *testing.T) {
	m := realManager(t)
	c, g := childInGroup(t, m, "threads", "threads", "RAFTCMP_CHILD_THREADS=4")
	c.waitLine(t, 10*time.Second, func(l string) bool { return l == "ready" })
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(c.pid) + "/task")
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) < 5 {
		t.Errorf("child has %d threads, want at least 5", len(tasks))
	}
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		got := procCgroups(t, c.pid, tid)
		switch m.Mode() {
		case ModeV1:
			for _, s := range m.v1.subsystems {
				want := filepath.Join(m.v1.own[s.Name()], g.Name())
				if got[string(s.Name())] != want {
					t.Errorf("thread %d: %s cgroup %q, want %q", tid, s.Name(), got[string(s.Name())], want)
				}
			}
		case ModeV2:
			if want := filepath.Join(m.v2.parent, g.Name()); got[""] != want {
				t.Errorf("thread %d: cgroup %q, want %q", tid, got[""], want)
			}
		}
	}
	if err := g.AddProcess(1 << 30); err == nil {
		t.Error("AddProcess of a nonexistent pid succeeded")
	}
}

// measureShare measures the CPU share (of one CPU) the group gets over n
// whole quota periods: it samples Stats until NrPeriods advances (a period
// boundary), then until it has advanced n more times, and divides the CPU
// time used in between by the wall time. Aligning to period boundaries
// makes the measurement exact even when a long period throttles in bursts.
func measureShare(t *testing.T, g *Group, n uint64, period time.Duration) (share float64, throttled uint64) {
	t.Helper()
	edge := func(after uint64) (Stats, time.Time) {
		deadline := time.Now().Add(time.Duration(n+3) * period)
		for {
			s := mustStats(t, g)
			now := time.Now()
			if s.NrPeriods >= after {
				return s, now
			}
			if now.After(deadline) {
				t.Fatalf("cpu.stat nr_periods stuck at %d (waiting for %d)", s.NrPeriods, after)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	s0 := mustStats(t, g)
	a, ta := edge(s0.NrPeriods + 1)
	b, tb := edge(a.NrPeriods + n)
	share = float64(b.CPUUsage-a.CPUUsage) / float64(tb.Sub(ta))
	t.Logf("CPU share over %d periods of %v: %.2f%% (%v CPU in %v; periods %d, throttled %d, throttled time %v)",
		b.NrPeriods-a.NrPeriods, period, 100*share, b.CPUUsage-a.CPUUsage, tb.Sub(ta).Round(time.Millisecond),
		b.NrPeriods-a.NrPeriods, b.NrThrottled-a.NrThrottled, b.ThrottledTime-a.ThrottledTime)
	return share, b.NrThrottled - a.NrThrottled
}

func TestRealCPUQuota(t *testing.T) {
	m := realManager(t)
	tests := []struct {
		name          string
		quota, period time.Duration
		periods       uint64
	}{
		{"5ms per 100ms", 5 * time.Millisecond, 100 * time.Millisecond, 30},
		{"50ms per 1s", 50 * time.Millisecond, time.Second, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, g := childInGroup(t, m, "quota", "busy")
			if err := g.SetCPUQuota(tt.quota, tt.period); err != nil {
				t.Fatal(err)
			}
			share, throttled := measureShare(t, g, tt.periods, tt.period)
			if share < 0.04 || share > 0.06 {
				t.Errorf("busy process got %.2f%% of a CPU under a %v/%v quota, want 4-6%%", 100*share, tt.quota, tt.period)
			}
			if throttled == 0 {
				t.Error("nr_throttled did not grow")
			}
			// Without the quota the busy process gets far more.
			if err := g.ClearCPUQuota(); err != nil {
				t.Fatal(err)
			}
			// Within 3s the quota would allow at most 4 bursts (200ms); ask
			// for 300ms, which needs only a 10% share on a loaded machine.
			before := mustStats(t, g)
			start := time.Now()
			for {
				used := mustStats(t, g).CPUUsage - before.CPUUsage
				if used >= 300*time.Millisecond {
					t.Logf("CPU share without quota: %.1f%%", 100*float64(used)/float64(time.Since(start)))
					break
				}
				if time.Since(start) > 3*time.Second {
					t.Fatalf("busy process used only %v CPU in 3s after ClearCPUQuota", used)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func TestRealFreezeThaw(t *testing.T) {
	m := realManager(t)
	c, g := childInGroup(t, m, "freeze", "busy")
	if err := g.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	if m.Mode() == ModeV1 {
		if s := readTrim(t, filepath.Join(m.v1.dir(cgroup1.Freezer, g.Name()), "freezer.state")); s != "FROZEN" {
			t.Errorf("freezer.state = %s after Freeze", s)
		}
	}
	if err := g.Freeze(); err != nil {
		t.Errorf("second Freeze: %v", err)
	}
	// Frozen: no CPU time at all over a window.
	u1 := mustStats(t, g).CPUUsage
	time.Sleep(300 * time.Millisecond)
	u2 := mustStats(t, g).CPUUsage
	if d := u2 - u1; d > time.Millisecond {
		t.Errorf("frozen process used %v CPU in 300ms", d)
	}
	t.Logf("CPU used while frozen for 300ms: %v", u2-u1)
	if err := g.Thaw(); err != nil {
		t.Fatalf("Thaw: %v", err)
	}
	// Thawed: it runs again.
	deadline := time.Now().Add(5 * time.Second)
	for mustStats(t, g).CPUUsage < u2+50*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatal("thawed process did not use 50ms of CPU within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := g.Thaw(); err != nil {
		t.Errorf("second Thaw: %v", err)
	}
	if c.waitExit(0) {
		t.Fatalf("child exited: %v", c.state)
	}
}

// TestRealDeleteFrozenWithProcess deletes a frozen group that still holds a
// process: the process must end up thawed in this process's own cgroups.
func TestRealDeleteFrozenWithProcess(t *testing.T) {
	m := realManager(t)
	c, g := childInGroup(t, m, "delete", "busy")
	if err := g.Freeze(); err != nil {
		t.Fatal(err)
	}
	if err := g.Delete(); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	own := procCgroups(t, os.Getpid(), 0)
	got := procCgroups(t, c.pid, 0)
	for ctrl, p := range got {
		if strings.Contains(p, g.Name()) || p != own[ctrl] {
			t.Errorf("child's %q cgroup is %q, want own %q", ctrl, p, own[ctrl])
		}
	}
	before := procCPUTime(t, c.pid)
	deadline := time.Now().Add(5 * time.Second)
	for procCPUTime(t, c.pid) < before+50*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatal("child did not run after its frozen group was deleted")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRealMemoryLimit(t *testing.T) {
	m := realManager(t)
	const limit = 32 << 20
	// usage_in_bytes is approximate (per-CPU charge batches): allow slack.
	const slack = 256 << 10
	tests := []struct {
		name           string
		oomKillDisable bool
	}{
		{"oom kill", false},
		{"stall", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.oomKillDisable && m.Mode() == ModeV2 {
				t.Skip("v2 throttles at memory.high instead of stalling")
			}
			c := startChild(t, "alloc", "RAFTCMP_CHILD_MB=256")
			g := newGroup(t, m, "memory")
			if err := g.SetMemoryLimit(limit, tt.oomKillDisable); err != nil {
				t.Fatal(err)
			}
			if err := g.AddProcess(c.pid); err != nil {
				t.Fatal(err)
			}
			c.start(t)
			if !tt.oomKillDisable {
				if !c.waitExit(20 * time.Second) {
					t.Fatal("child allocating 256 MiB under a 32 MiB limit was not killed within 20s")
				}
				ws := c.state.Sys().(syscall.WaitStatus)
				if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
					t.Errorf("child ended with %v, want killed by SIGKILL", c.state)
				}
				s := mustStats(t, g)
				t.Logf("stats after OOM kill: %+v", s)
				if s.OOMKills < 1 {
					t.Errorf("OOMKills = %d, want >= 1", s.OOMKills)
				}
				if s.OOMEvents < 1 {
					t.Errorf("OOMEvents = %d, want >= 1", s.OOMEvents)
				}
				if s.MemoryPeak < limit/2 || s.MemoryPeak > limit+slack {
					t.Errorf("MemoryPeak = %d, want within (limit/2, limit=%d] (+%d slack)", s.MemoryPeak, limit, slack)
				}
				return
			}
			// Stall: OOM is signalled but the process lives on, stuck.
			var s Stats
			deadline := time.Now().Add(20 * time.Second)
			for s = mustStats(t, g); s.OOMEvents == 0; s = mustStats(t, g) {
				if time.Now().After(deadline) {
					t.Fatalf("no OOM event within 20s: %+v", s)
				}
				if c.waitExit(10 * time.Millisecond) {
					t.Fatalf("child exited: %v", c.state)
				}
			}
			if m.Mode() == ModeV1 {
				oc := readTrim(t, filepath.Join(m.v1.dir(cgroup1.Memory, g.Name()), "memory.oom_control"))
				if !strings.Contains(oc, "under_oom 1") {
					t.Errorf("memory.oom_control = %q, want under_oom 1", oc)
				}
			}
			if c.waitExit(500 * time.Millisecond) {
				t.Fatalf("child exited while it should stall: %v", c.state)
			}
			progress := 0
			for len(c.lines) > 0 {
				l := <-c.lines
				if n, err := strconv.Atoi(strings.TrimPrefix(l, "allocated ")); err == nil {
					progress = n
				}
			}
			s = mustStats(t, g)
			t.Logf("stalled after allocating %d MiB; stats: %+v", progress, s)
			if progress >= 256 {
				t.Errorf("child allocated all %d MiB despite the limit", progress)
			}
			if s.OOMKills != 0 {
				t.Errorf("OOMKills = %d with the OOM killer disabled", s.OOMKills)
			}
			if s.MemoryUsage > limit+slack {
				t.Errorf("MemoryUsage %d above the limit %d (+%d slack)", s.MemoryUsage, limit, slack)
			}
			// A stalled process still dies on SIGKILL.
			_ = c.cmd.Process.Kill()
			if !c.waitExit(10 * time.Second) {
				t.Fatal("stalled child did not die on SIGKILL within 10s")
			}
		})
	}
}

func TestRealIOLimit(t *testing.T) {
	m := realManager(t)
	dir := t.TempDir()
	major, minor, err := DeviceOf(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("device of %s: %d:%d", dir, major, minor)
	tests := []struct {
		name       string
		blockSize  int
		wbps, wiop uint64
		rate       func(Stats) float64 // the throttled quantity
		limit      float64
	}{
		{"write bps", 64 << 10, 1 << 20, 0, func(s Stats) float64 { return float64(s.IOWriteBytes) }, 1 << 20},
		{"write iops", 4 << 10, 0, 20, func(s Stats) float64 { return float64(s.IOWriteOps) }, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			c, g := childInGroup(t, m, "io", "write", "RAFTCMP_CHILD_FILE="+file, "RAFTCMP_CHILD_BS="+strconv.Itoa(tt.blockSize))
			rate := func(window time.Duration) float64 {
				a := mustStats(t, g)
				start := time.Now()
				time.Sleep(window)
				b := mustStats(t, g)
				if c.waitExit(0) {
					t.Fatalf("writer exited: %v", c.state)
				}
				return (tt.rate(b) - tt.rate(a)) / time.Since(start).Seconds()
			}
			free := rate(time.Second)
			if err := g.SetIOLimit(major, minor, 0, tt.wbps, 0, tt.wiop); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond) // let queued I/O drain
			limited := rate(2 * time.Second)
			t.Logf("O_DIRECT %d-byte writes: %.0f/s unthrottled, %.0f/s with limit %.0f/s", tt.blockSize, free, limited, tt.limit)
			if limited > 1.3*tt.limit {
				t.Errorf("throttled rate %.0f/s above limit %.0f/s", limited, tt.limit)
			}
			if limited < 0.3*tt.limit {
				t.Errorf("throttled rate %.0f/s far below limit %.0f/s: is the writer still writing?", limited, tt.limit)
			}
			if free < 3*tt.limit {
				t.Errorf("unthrottled rate %.0f/s is not well above the limit %.0f/s: the limit did not visibly lower it", free, tt.limit)
			}
			if err := g.ClearIOLimit(major, minor); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRealCleanup leaves groups behind (one holding a frozen process, as a
// killed run would) and checks that a new Manager's cleanup removes them.
// It cleans up only this test process's prefix: Manager.Cleanup would also
// remove groups of any other raftcmp run on this machine.
func TestRealCleanup(t *testing.T) {
	m := realManager(t)
	c := startChild(t, "busy")
	var names []string
	for _, suffix := range []string{"left1", "left2"} {
		g, err := m.Create(testPrefix + suffix)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := g.Delete(); err != nil {
				t.Errorf("Delete after Cleanup: %v", err)
			}
		})
		names = append(names, g.Name())
		if suffix == "left1" {
			if err := g.AddProcess(c.pid); err != nil {
				t.Fatal(err)
			}
			c.start(t)
			if err := g.Freeze(); err != nil {
				t.Fatal(err)
			}
		}
	}
	m2, err := NewManager(DefaultRoot)
	if err != nil {
		t.Fatal(err)
	}
	removed, err := m2.cleanup(testPrefix)
	if err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	if !slices.Equal(removed, names) {
		t.Errorf("cleanup removed %v, want %v", removed, names)
	}
	checkNoLeftovers(t)
	if got := procCgroups(t, c.pid, 0); got["freezer"] != procCgroups(t, os.Getpid(), 0)["freezer"] {
		t.Errorf("child left in freezer cgroup %q", got["freezer"])
	}
	if removed, err := m2.cleanup(testPrefix); err != nil || len(removed) != 0 {
		t.Errorf("second cleanup = %v, %v; want nothing", removed, err)
	}
}

func TestRealDeviceOf(t *testing.T) {
	dir := t.TempDir()
	major, minor, err := DeviceOf(dir)
	if err != nil {
		t.Skipf("temp dir is not on a block device: %v", err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	t.Logf("DeviceOf(%s) = %d:%d (st_dev %#x)", dir, major, minor, st.Dev)
	if _, err := os.Stat("/sys/dev/block/" + strconv.FormatUint(major, 10) + ":" + strconv.FormatUint(minor, 10) + "/partition"); err == nil {
		t.Errorf("DeviceOf returned a partition")
	}
}

// A group made from one cgroup is found and removed from another: a
// cleanup run from another login session or sandbox, whose own cgroup
// differs from the run's in some hierarchy, still removes what the run
// left (it once reported "doesn't exist in memory subsystem" and left it).
func TestRealRemoveFromAnotherCgroup(t *testing.T) {
	m := realManager(t)
	if m.Mode() != ModeV1 {
		t.Skip("skipping: the own-cgroup paths per hierarchy are v1's")
	}
	g, err := m.Create(testPrefix + "elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	name := g.Name()
	// Another process, whose own cgroup in the cpu hierarchy is a sibling
	// of ours (its session's), as a cleanup run from another session sees it.
	other, err := NewManager(DefaultRoot)
	if err != nil {
		t.Fatal(err)
	}
	session := filepath.Join(other.v1.own["cpu"], testPrefix+"other-session")
	dir := filepath.Join(DefaultRoot, "cpu", session)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(dir) })
	other.v1.own["cpu"] = session
	names, err := other.List()
	if err != nil || !slices.Contains(names, name) {
		t.Fatalf("List from another cgroup = %v, %v; want it to include %s", names, err, name)
	}
	if err := other.Remove(name); err != nil {
		t.Fatalf("Remove from another cgroup: %v", err)
	}
	if names, err := m.List(); err != nil || slices.Contains(names, name) {
		t.Errorf("after Remove from another cgroup, List = %v, %v; want %s gone", names, err, name)
	}
}
