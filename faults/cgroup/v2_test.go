package cgroup

// Tests of the v2 code against a temporary directory standing in for a
// cgroup2 filesystem: no root needed. The fake does not act like the kernel
// (writing cgroup.procs does not move anything, cgroup.events changes only
// when the test writes it), so the tests play the kernel's part.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const fakePid = 4242

// fakeCgroup makes dir (under root) look like a cgroup2 directory.
func fakeCgroup(t *testing.T, dir, controllers, subtree, procs string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for file, content := range map[string]string{
		"cgroup.controllers":     controllers,
		"cgroup.subtree_control": subtree,
		"cgroup.procs":           procs,
		"cgroup.events":          "populated 1\nfrozen 0\n",
	} {
		writeTestFile(t, filepath.Join(dir, file), content)
	}
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeManager returns a v2 Manager on a fake cgroup2 root, the caller living
// in own (e.g. "/"), with freeze waits bounded by freezeTimeout.
func fakeManager(t *testing.T, own, controllers, procs string) (*Manager, string) {
	t.Helper()
	root := t.TempDir()
	fakeCgroup(t, root, controllers, "", "")
	if own != "/" {
		fakeCgroup(t, filepath.Join(root, own), controllers, "", procs)
	} else {
		writeTestFile(t, filepath.Join(root, "cgroup.procs"), procs)
	}
	self := filepath.Join(t.TempDir(), "cgroup")
	writeTestFile(t, self, "0::"+own+"\n")
	m, err := newManager(root, managerOptions{selfCgroup: self, pid: fakePid, freezeTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatalf("newManager: %v", err)
	}
	if m.Mode() != ModeV2 {
		t.Fatalf("fake root detected as %s", m.Mode())
	}
	return m, root
}

// fakeGroup creates a group on a fake root and gives it the files the kernel
// would create. (They must exist: like the library, writes create a missing
// file, and the library creates it with mode 0, unreadable to non-root.)
func fakeGroup(t *testing.T, m *Manager, name string) (*Group, string) {
	t.Helper()
	g, err := m.Create(name)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	dir := filepath.Join(m.root, m.v2.parent, name)
	fakeCgroup(t, dir, "cpu cpuset io memory", "", "")
	for file, content := range map[string]string{
		"cgroup.freeze": "0\n",
		"cpu.max":       "max 100000\n",
		"cpu.weight":    "100\n",
		"cpuset.cpus":   "\n",
		"memory.max":    "max\n",
		"memory.high":   "max\n",
		"io.max":        "",
	} {
		writeTestFile(t, filepath.Join(dir, file), content)
	}
	return g, dir
}

func TestDetect(t *testing.T) {
	fake := t.TempDir()
	writeTestFile(t, filepath.Join(fake, "cgroup.controllers"), "cpu io memory pids\n")
	var real Mode
	var st unix.Statfs_t
	if unix.Statfs(DefaultRoot, &st) == nil {
		if st.Type == unix.CGROUP2_SUPER_MAGIC {
			real = ModeV2
		} else if unix.Statfs(filepath.Join(DefaultRoot, "memory"), &st) == nil && st.Type == unix.CGROUP_SUPER_MAGIC {
			real = ModeV1
		}
	}
	tests := []struct {
		name    string
		root    string
		want    Mode
		wantErr bool
	}{
		{"fake v2 directory", fake, ModeV2, false},
		{"empty directory", t.TempDir(), "", true},
		{"missing", filepath.Join(fake, "nope"), "", true},
		{"this machine", DefaultRoot, real, real == ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Detect(tt.root)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("Detect(%s) = %q, %v; want %q, error %t", tt.root, got, err, tt.want, tt.wantErr)
			}
		})
	}
	m, err := NewManager(fake)
	if err != nil || m.Mode() != ModeV2 {
		t.Errorf("NewManager(fake) = %v, %v; want a v2 manager", m, err)
	}
}

func TestCreateNames(t *testing.T) {
	m, root := fakeManager(t, "/", "cpu cpuset io memory pids", "")
	tests := []struct {
		name string
		ok   bool
	}{
		{"raftcmp-run1-n1", true},
		{"raftcmp-a.b_C-9", true},
		{"raftcmp-", false},
		{"other-n1", false},
		{"raftcmp-a/b", false},
		{"raftcmp-../x", false},
		{"raftcmp-a b", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := m.Create(tt.name)
			if (err == nil) != tt.ok {
				t.Fatalf("Create(%q) error = %v, want ok %t", tt.name, err, tt.ok)
			}
			if err != nil {
				return
			}
			if g.Name() != tt.name {
				t.Errorf("Name() = %q", g.Name())
			}
			if _, err := os.Stat(filepath.Join(root, tt.name)); err != nil {
				t.Errorf("group directory: %v", err)
			}
			if _, err := m.Create(tt.name); err == nil {
				t.Error("second Create of the same name succeeded")
			}
		})
	}
	// The controllers were enabled for the children of the caller's cgroup.
	if got := readTrim(t, filepath.Join(root, "cgroup.subtree_control")); got != "+cpu +cpuset +io +memory" {
		t.Errorf("cgroup.subtree_control = %q", got)
	}
}

func TestV2Setters(t *testing.T) {
	m, _ := fakeManager(t, "/", "cpu cpuset io memory pids", "")
	g, dir := fakeGroup(t, m, "raftcmp-fake-n1")
	tests := []struct {
		name string
		set  func() error
		want map[string]string
	}{
		{"add process", func() error { return g.AddProcess(12345) }, map[string]string{"cgroup.procs": "12345"}},
		{"quota 50ms/1s", func() error { return g.SetCPUQuota(50*time.Millisecond, time.Second) }, map[string]string{"cpu.max": "50000 1000000"}},
		{"quota 5ms/100ms", func() error { return g.SetCPUQuota(5*time.Millisecond, 100*time.Millisecond) }, map[string]string{"cpu.max": "5000 100000"}},
		{"clear quota keeps period", func() error {
			if err := g.SetCPUQuota(20*time.Millisecond, 200*time.Millisecond); err != nil {
				return err
			}
			return g.ClearCPUQuota()
		}, map[string]string{"cpu.max": "max 200000"}},
		{"shares 1024", func() error { return g.SetCPUShares(1024) }, map[string]string{"cpu.weight": "39"}},
		{"shares 2", func() error { return g.SetCPUShares(2) }, map[string]string{"cpu.weight": "1"}},
		{"shares 262144", func() error { return g.SetCPUShares(262144) }, map[string]string{"cpu.weight": "10000"}},
		{"shares 100", func() error { return g.SetCPUShares(100) }, map[string]string{"cpu.weight": "4"}},
		{"cpus", func() error { return g.SetCPUs("1") }, map[string]string{"cpuset.cpus": "1"}},
		{"memory limit", func() error { return g.SetMemoryLimit(64<<20, false) },
			map[string]string{"memory.max": "67108864", "memory.high": "max"}},
		{"memory limit without oom kill", func() error { return g.SetMemoryLimit(64<<20, true) },
			map[string]string{"memory.high": "67108864", "memory.max": "max"}},
		{"clear memory", g.ClearMemoryLimit, map[string]string{"memory.max": "max", "memory.high": "max"}},
		{"io limit", func() error { return g.SetIOLimit(8, 16, 1<<20, 0, 0, 100) },
			map[string]string{"io.max": "8:16 rbps=1048576 wbps=max riops=max wiops=100"}},
		{"clear io", func() error { return g.ClearIOLimit(8, 16) },
			map[string]string{"io.max": "8:16 rbps=max wbps=max riops=max wiops=max"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.set(); err != nil {
				t.Fatal(err)
			}
			for file, want := range tt.want {
				if got := readTrim(t, filepath.Join(dir, file)); got != want {
					t.Errorf("%s = %q, want %q", file, got, want)
				}
			}
		})
	}
}

func TestSetterArguments(t *testing.T) {
	m, _ := fakeManager(t, "/", "cpu cpuset io memory", "")
	g, _ := fakeGroup(t, m, "raftcmp-args")
	tests := []struct {
		name string
		call func() error
	}{
		{"pid 0", func() error { return g.AddProcess(0) }},
		{"quota below 1ms", func() error { return g.SetCPUQuota(time.Microsecond, time.Second) }},
		{"period above 1s", func() error { return g.SetCPUQuota(time.Millisecond, 2*time.Second) }},
		{"period below 1ms", func() error { return g.SetCPUQuota(time.Millisecond, time.Microsecond) }},
		{"shares 1", func() error { return g.SetCPUShares(1) }},
		{"shares too big", func() error { return g.SetCPUShares(262145) }},
		{"empty cpus", func() error { return g.SetCPUs(" ") }},
		{"memory 0", func() error { return g.SetMemoryLimit(0, false) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "raftcmp-args") {
				t.Errorf("error %q does not name the group", err)
			}
		})
	}
}

func TestV2MissingController(t *testing.T) {
	m, _ := fakeManager(t, "/", "cpu io memory pids", "")
	g, _ := fakeGroup(t, m, "raftcmp-nocpuset")
	err := g.SetCPUs("0")
	if err == nil || !strings.Contains(err.Error(), "cpuset") {
		t.Errorf("SetCPUs without the cpuset controller: %v", err)
	}
	if err := g.SetCPUShares(512); err != nil {
		t.Errorf("SetCPUShares: %v", err)
	}
}

func TestV2Stats(t *testing.T) {
	m, _ := fakeManager(t, "/", "cpu cpuset io memory pids", "")
	g, dir := fakeGroup(t, m, "raftcmp-stats")
	for file, content := range map[string]string{
		"cpu.stat": "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n" +
			"nr_periods 30\nnr_throttled 28\nthrottled_usec 2700000\nnr_bursts 0\nburst_usec 0\n",
		"memory.stat":    "anon 1048576\nfile 4096\nkernel_stack 16384\n",
		"memory.current": "2097152\n",
		"memory.peak":    "33554432\n",
		"memory.max":     "33554432\n",
		"memory.events":  "low 0\nhigh 0\nmax 17\noom 3\noom_kill 2\noom_group_kill 0\n",
		"io.stat": "8:0 rbytes=4096 wbytes=1048576 rios=1 wios=16 dbytes=0 dios=0\n" +
			"254:0 rbytes=8192 wbytes=2097152 rios=2 wios=32 dbytes=0 dios=0\n",
	} {
		writeTestFile(t, filepath.Join(dir, file), content)
	}
	got, err := g.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{
		CPUUsage: 1500 * time.Millisecond, CPUUser: time.Second, CPUSystem: 500 * time.Millisecond,
		NrPeriods: 30, NrThrottled: 28, ThrottledTime: 2700 * time.Millisecond,
		MemoryUsage: 2 << 20, MemoryPeak: 32 << 20,
		OOMEvents: 3, OOMKills: 2,
		IOReadBytes: 12288, IOWriteBytes: 3 << 20, IOReadOps: 3, IOWriteOps: 48,
	}
	if got != want {
		t.Errorf("Stats() =\n%+v\nwant\n%+v", got, want)
	}
}

// playKernel writes "frozen <v>" to cgroup.events after a delay, as the
// kernel does once the freeze completes.
func playKernel(t *testing.T, dir string, frozen int, after time.Duration) {
	t.Helper()
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	go func() {
		defer close(done)
		time.Sleep(after)
		// One in-place write of the same length, so a concurrent reader
		// sees the old or the new content, never an empty file.
		f, err := os.OpenFile(filepath.Join(dir, "cgroup.events"), os.O_WRONLY, 0)
		if err != nil {
			return
		}
		_, _ = f.WriteAt([]byte(fmt.Sprintf("populated 1\nfrozen %d\n", frozen)), 0)
		f.Close()
	}()
}

func TestV2FreezeThaw(t *testing.T) {
	m, _ := fakeManager(t, "/", "cpu cpuset io memory", "")
	g, dir := fakeGroup(t, m, "raftcmp-freeze")

	playKernel(t, dir, 1, 50*time.Millisecond)
	start := time.Now()
	if err := g.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("Freeze returned after %v, before cgroup.events said frozen", d)
	}
	if got := readTrim(t, filepath.Join(dir, "cgroup.freeze")); got != "1" {
		t.Errorf("cgroup.freeze = %q after Freeze", got)
	}

	playKernel(t, dir, 0, 50*time.Millisecond)
	if err := g.Thaw(); err != nil {
		t.Fatalf("Thaw: %v", err)
	}
	if got := readTrim(t, filepath.Join(dir, "cgroup.freeze")); got != "0" {
		t.Errorf("cgroup.freeze = %q after Thaw", got)
	}

	// The kernel never reports frozen: Freeze gives up at the deadline and
	// thaws the group again.
	start = time.Now()
	err := g.Freeze()
	if !errors.Is(err, errTimeout) {
		t.Fatalf("Freeze with cgroup.events stuck at frozen 0: %v, want a timeout", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 2*time.Second {
		t.Errorf("Freeze gave up after %v, want about the 300ms deadline", d)
	}
	if got := readTrim(t, filepath.Join(dir, "cgroup.freeze")); got != "0" {
		t.Errorf("cgroup.freeze = %q after a failed Freeze, want 0", got)
	}
}

func TestV2Delete(t *testing.T) {
	m, root := fakeManager(t, "/", "cpu cpuset io memory", "")
	g, dir := fakeGroup(t, m, "raftcmp-del")
	// Frozen: Delete thaws first.
	writeTestFile(t, filepath.Join(dir, "cgroup.freeze"), "1")
	if err := g.Delete(); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("group directory still there: %v", err)
	}
	if err := g.Delete(); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if err := g.Freeze(); err == nil {
		t.Error("Freeze after Delete succeeded")
	}

	// A process still inside is moved to the caller's own cgroup.
	g2, dir2 := fakeGroup(t, m, "raftcmp-del2")
	writeTestFile(t, filepath.Join(dir2, "cgroup.procs"), "777\n")
	empty, err := g2.impl.drain()
	if err != nil || empty {
		t.Fatalf("drain = %t, %v; want a move", empty, err)
	}
	if got := readTrim(t, filepath.Join(root, "cgroup.procs")); got != "777" {
		t.Errorf("own cgroup.procs = %q, want 777 moved there", got)
	}
	writeTestFile(t, filepath.Join(dir2, "cgroup.procs"), "") // the kernel moved it
	if err := g2.Delete(); err != nil {
		t.Fatalf("Delete: %v", err)
	}
}

func TestV2Cleanup(t *testing.T) {
	m, root := fakeManager(t, "/", "cpu cpuset io memory", "")
	for _, name := range []string{"raftcmp-old-n2", "raftcmp-old-n1", "system.slice"} {
		fakeCgroup(t, filepath.Join(root, name), "cpu", "", "")
	}
	removed, err := m.Cleanup()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"raftcmp-old-n1", "raftcmp-old-n2"}; !slices.Equal(removed, want) {
		t.Errorf("Cleanup removed %v, want %v", removed, want)
	}
	for _, name := range removed {
		if _, err := os.Stat(filepath.Join(root, name)); !os.IsNotExist(err) {
			t.Errorf("%s still there", name)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "system.slice")); err != nil {
		t.Errorf("Cleanup touched system.slice: %v", err)
	}
}

// TestV2NoInternalProcesses covers a caller whose own cgroup holds processes
// (the kernel answers EBUSY to enabling controllers there).
func TestV2NoInternalProcesses(t *testing.T) {
	busy := func(calls *int) func(root, group string, ctrls []string) error {
		return func(root, group string, ctrls []string) error {
			*calls++
			// The kernel refuses while the parent holds processes.
			parent := filepath.Join(root, filepath.Dir(group))
			if procs := strings.TrimSpace(readTrimNoFail(filepath.Join(parent, "cgroup.procs"))); procs != "" {
				return fmt.Errorf("write %s: %w", parent, unix.EBUSY)
			}
			return writeFile(filepath.Join(parent, "cgroup.subtree_control"), "+"+strings.Join(ctrls, " +"))
		}
	}
	saved := enableControllers
	t.Cleanup(func() { enableControllers = saved })
	const own = "/user.slice/raftcmp.scope"

	t.Run("only the caller: it moves into a leaf", func(t *testing.T) {
		calls := 0
		enableControllers = busy(&calls)
		m, root := fakeManager(t, own, "cpu cpuset io memory", fmt.Sprint(fakePid))
		if err := m.available(); err != nil {
			t.Errorf("available: %v", err)
		}
		// Play the kernel: moving the caller empties its old cgroup. The
		// leaf's cgroup.procs exists, as the kernel would create it.
		leafProcs := filepath.Join(root, own, selfLeaf, "cgroup.procs")
		if err := os.MkdirAll(filepath.Dir(leafProcs), 0o755); err != nil {
			t.Fatal(err)
		}
		writeTestFile(t, leafProcs, "")
		g, err := createMoving(m, "raftcmp-x-n1", leafProcs, filepath.Join(root, own, "cgroup.procs"))
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if got := readTrim(t, leafProcs); got != fmt.Sprint(fakePid) {
			t.Errorf("%s = %q, want the caller's pid", leafProcs, got)
		}
		if m.v2.home != own+"/"+selfLeaf || m.v2.parent != own {
			t.Errorf("home %q parent %q", m.v2.home, m.v2.parent)
		}
		if _, err := os.Stat(filepath.Join(root, own, g.Name())); err != nil {
			t.Errorf("group not created under the caller's cgroup: %v", err)
		}
		if calls != 2 {
			t.Errorf("enableControllers called %d times, want 2", calls)
		}
		// A later manager in the leaf still creates groups next to it.
		self := filepath.Join(t.TempDir(), "cgroup")
		writeTestFile(t, self, "0::"+own+"/"+selfLeaf+"\n")
		m2, err := newManager(root, managerOptions{selfCgroup: self, pid: fakePid})
		if err != nil {
			t.Fatal(err)
		}
		if m2.v2.parent != own {
			t.Errorf("second manager's parent = %q, want %q", m2.v2.parent, own)
		}
	})

	t.Run("other processes: a clear error", func(t *testing.T) {
		calls := 0
		enableControllers = busy(&calls)
		m, _ := fakeManager(t, own, "cpu cpuset io memory", fmt.Sprintf("%d\n999\n", fakePid))
		for what, err := range map[string]error{"available": m.available(), "Create": createErr(m, "raftcmp-x-n1")} {
			if err == nil || !strings.Contains(err.Error(), "999") || !strings.Contains(err.Error(), "systemd-run") {
				t.Errorf("%s: %v; want an error naming the other process and the fix", what, err)
			}
		}
	})
}

func readTrimNoFail(path string) string {
	s, _ := readFileString(path)
	return s
}

func createErr(m *Manager, name string) error {
	_, err := m.Create(name)
	return err
}

// createMoving runs Create while playing the kernel's part in moving the
// caller: once the caller's pid appears in leafProcs, oldProcs is emptied.
func createMoving(m *Manager, name, leafProcs, oldProcs string) (*Group, error) {
	saved := enableControllers
	enableControllers = func(root, group string, ctrls []string) error {
		if readTrimNoFail(leafProcs) == fmt.Sprint(fakePid) {
			_ = os.WriteFile(oldProcs, nil, 0o644)
		}
		return saved(root, group, ctrls)
	}
	defer func() { enableControllers = saved }()
	return m.Create(name)
}
