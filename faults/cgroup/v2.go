package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup2"
	"golang.org/x/sys/unix"
)

// selfLeaf is the leaf cgroup the caller moves itself into when its own
// cgroup must stop holding processes to delegate controllers (v2). It does not
// start with Prefix, so Cleanup never touches it.
const selfLeaf = "raftcmp.self"

// enableControllers enables ctrls for the children of group's parent
// (writing cgroup.subtree_control from the root down to that parent). A
// variable so tests can simulate the kernel's EBUSY.
var enableControllers = func(root, group string, ctrls []string) error {
	m, err := cgroup2.Load(group, cgroup2.WithMountpoint(root))
	if err != nil {
		return err
	}
	return m.ToggleControllers(ctrls, cgroup2.Enable)
}

// v2Manager holds what groups on a cgroup v2 system share.
type v2Manager struct {
	root string
	pid  int

	mu sync.Mutex
	// parent is the cgroup (a path relative to root, starting with "/")
	// groups are created in: the caller's own cgroup, or the parent of
	// selfLeaf if the caller lives there.
	parent string
	// home is where the caller lives; Delete moves stray processes here.
	home string
	// enabled lists the controllers known to be enabled for parent's
	// children (nil until the first Create).
	enabled []string
}

func newV2Manager(root, selfCgroup string, pid int) (*v2Manager, error) {
	_, own, err := cgroups.ParseCgroupFileUnified(selfCgroup)
	if err != nil {
		return nil, fmt.Errorf("read own cgroup: %w", err)
	}
	if own == "" || !strings.HasPrefix(own, "/") {
		return nil, fmt.Errorf("read own cgroup: no cgroup v2 (0::) entry in %s", selfCgroup)
	}
	own = filepath.Clean(own)
	v := &v2Manager{root: root, pid: pid, parent: own, home: own}
	if filepath.Base(own) == selfLeaf {
		v.parent = filepath.Dir(own)
	}
	return v, nil
}

func (v *v2Manager) abs(group string) string { return filepath.Join(v.root, group) }

func fields(path string) ([]string, error) {
	s, err := readFileString(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range strings.Fields(s) {
		out = append(out, strings.TrimPrefix(f, "+"))
	}
	return out, nil
}

// ensureControllers enables v2Controllers (those the parent offers) for the
// parent's children, moving the caller into selfLeaf first if the
// no-internal-process rule requires it. Called with v.mu held.
func (v *v2Manager) ensureControllers(group string) error {
	if v.enabled != nil {
		return nil
	}
	avail, err := fields(filepath.Join(v.abs(v.parent), "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("read available controllers: %w", err)
	}
	enabled, err := fields(filepath.Join(v.abs(v.parent), "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("read enabled controllers: %w", err)
	}
	var want, missing []string
	for _, c := range v2Controllers {
		if slices.Contains(avail, c) {
			want = append(want, c)
			if !slices.Contains(enabled, c) {
				missing = append(missing, c)
			}
		}
	}
	if len(missing) > 0 {
		err := enableControllers(v.root, group, missing)
		if errors.Is(err, unix.EBUSY) {
			// No-internal-process rule: a non-root cgroup holding
			// processes cannot enable controllers for its children.
			if eerr := v.evacuate(); eerr != nil {
				return fmt.Errorf("enable controllers %v in %s: %w (cgroup v2 lets a cgroup that holds processes delegate no controllers: %w)", missing, v.abs(v.parent), eerr, err)
			}
			err = enableControllers(v.root, group, missing)
		}
		if err != nil {
			return fmt.Errorf("enable controllers %v in %s: %w", missing, v.abs(v.parent), err)
		}
	}
	if want == nil {
		want = []string{}
	}
	v.enabled = want
	return nil
}

// evacuate moves the caller from parent into parent/selfLeaf, provided it is
// the only process in parent. Called with v.mu held.
func (v *v2Manager) evacuate() error {
	if v.home != v.parent {
		return fmt.Errorf("the caller already lives in %s", v.abs(v.home))
	}
	pm, err := cgroup2.Load(v.parent, cgroup2.WithMountpoint(v.root))
	if err != nil {
		return err
	}
	procs, err := pm.Procs(false)
	if err != nil {
		return fmt.Errorf("list processes of %s: %w", v.abs(v.parent), err)
	}
	var others []uint64
	for _, p := range procs {
		if p != uint64(v.pid) {
			others = append(others, p)
		}
	}
	if len(others) > 0 {
		return fmt.Errorf("%s also holds processes %v besides this one (%d); run raftcmp in a cgroup of its own, e.g. `systemd-run --scope -p Delegate=yes raftcmp ...`", v.abs(v.parent), others, v.pid)
	}
	leaf, err := pm.NewChild(selfLeaf, nil)
	if err != nil {
		return fmt.Errorf("create %s: %w", filepath.Join(v.abs(v.parent), selfLeaf), err)
	}
	if err := leaf.AddProc(uint64(v.pid)); err != nil {
		return fmt.Errorf("move this process into %s: %w", filepath.Join(v.abs(v.parent), selfLeaf), err)
	}
	v.home = filepath.Join(v.parent, selfLeaf)
	return nil
}

func (v *v2Manager) create(name string) (impl, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	group := filepath.Join(v.parent, name)
	if _, err := os.Lstat(v.abs(group)); err == nil {
		return nil, fmt.Errorf("%s already exists (a leftover? see Cleanup)", v.abs(group))
	}
	if err := v.ensureControllers(group); err != nil {
		return nil, err
	}
	pm, err := cgroup2.Load(v.parent, cgroup2.WithMountpoint(v.root))
	if err != nil {
		return nil, err
	}
	gm, err := pm.NewChild(name, nil)
	if err != nil {
		return nil, err
	}
	return &v2Group{v: v, name: name, mgr: gm, dir: v.abs(group)}, nil
}

func (v *v2Manager) load(name string) (impl, error) {
	group := filepath.Join(v.parent, name)
	gm, err := cgroup2.Load(group, cgroup2.WithMountpoint(v.root))
	if err != nil {
		return nil, err
	}
	return &v2Group{v: v, name: name, mgr: gm, dir: v.abs(group)}, nil
}

func (v *v2Manager) leftovers(prefix string) ([]string, error) {
	parent := v.abs(v.parent)
	entries, err := os.ReadDir(parent)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", parent, err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), prefix) && validName(e.Name()) == nil {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// offered lists the controllers the parent's cgroup.controllers offers.
func (v *v2Manager) offered() ([]string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	avail, err := fields(filepath.Join(v.abs(v.parent), "cgroup.controllers"))
	if err != nil {
		return nil, fmt.Errorf("read available controllers: %w", err)
	}
	return avail, nil
}

func (v *v2Manager) available() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	dir := v.abs(v.parent)
	if err := writable(dir); err != nil {
		return err
	}
	avail, err := fields(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("read available controllers: %w", err)
	}
	enabled, err := fields(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("read enabled controllers: %w", err)
	}
	allEnabled := true
	for _, c := range []string{"cpu", "memory"} {
		if !slices.Contains(avail, c) {
			return fmt.Errorf("controller %s is not available in %s (cgroup.controllers: %q); it must be enabled in every ancestor's cgroup.subtree_control", c, dir, strings.Join(avail, " "))
		}
	}
	for _, c := range v2Controllers {
		if slices.Contains(avail, c) && !slices.Contains(enabled, c) {
			allEnabled = false
		}
	}
	if allEnabled || v.parent == "/" || v.home != v.parent {
		return nil
	}
	procs, err := fields(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return fmt.Errorf("list processes of %s: %w", dir, err)
	}
	var others []string
	for _, p := range procs {
		if p != strconv.Itoa(v.pid) {
			others = append(others, p)
		}
	}
	if len(others) > 0 {
		return fmt.Errorf("%s holds processes %v besides this one (%d), so cgroup v2's no-internal-process rule forbids enabling controllers for new child cgroups there; run raftcmp in a cgroup of its own, e.g. `systemd-run --scope -p Delegate=yes raftcmp ...`", dir, others, v.pid)
	}
	return nil
}

// v2Group is a group on a cgroup v2 system.
type v2Group struct {
	v    *v2Manager
	name string
	mgr  *cgroup2.Manager
	dir  string
}

func (g *v2Group) need(c string) error {
	g.v.mu.Lock()
	defer g.v.mu.Unlock()
	if !slices.Contains(g.v.enabled, c) {
		return fmt.Errorf("cgroup v2 controller %s is not available in %s", c, g.v.abs(g.v.parent))
	}
	return nil
}

func (g *v2Group) add(pid int) error {
	return g.mgr.AddProc(uint64(pid))
}

func (g *v2Group) setCPUQuota(quotaUS int64, periodUS uint64) error {
	if err := g.need("cpu"); err != nil {
		return err
	}
	return g.mgr.Update(&cgroup2.Resources{CPU: &cgroup2.CPU{Max: cgroup2.NewCPUMax(&quotaUS, &periodUS)}})
}

func (g *v2Group) clearCPUQuota() error {
	if err := g.need("cpu"); err != nil {
		return err
	}
	// Keep the current period ("quota period" in cpu.max).
	period := uint64(100000)
	if cur, err := readFileString(filepath.Join(g.dir, "cpu.max")); err == nil {
		if f := strings.Fields(cur); len(f) == 2 {
			if p, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				period = p
			}
		}
	}
	return g.mgr.Update(&cgroup2.Resources{CPU: &cgroup2.CPU{Max: cgroup2.NewCPUMax(nil, &period)}})
}

func (g *v2Group) setCPUShares(shares uint64) error {
	if err := g.need("cpu"); err != nil {
		return err
	}
	// Not the library's ConvertCPUSharesToCgroupV2Value, which uses a newer
	// non-linear mapping: raftcmp uses runc/crun's linear one.
	w := sharesToWeight(shares)
	return g.mgr.Update(&cgroup2.Resources{CPU: &cgroup2.CPU{Weight: &w}})
}

func (g *v2Group) setCPUs(cpus string) error {
	if err := g.need("cpuset"); err != nil {
		return err
	}
	return g.mgr.Update(&cgroup2.Resources{CPU: &cgroup2.CPU{Cpus: cpus}})
}

// writeMax writes "max" (no limit) to a control file of the group.
//
// Written by hand: the library's cgroup2.Memory fields are *int64 written as
// decimal numbers, so it cannot express "max".
func (g *v2Group) writeMax(file string) error {
	return writeFile(filepath.Join(g.dir, file), "max")
}

func (g *v2Group) setMemoryLimit(limit int64, oomKillDisable bool) error {
	if err := g.need("memory"); err != nil {
		return err
	}
	if oomKillDisable {
		// v2 cannot disable the OOM killer: throttle at memory.high instead.
		if err := g.mgr.Update(&cgroup2.Resources{Memory: &cgroup2.Memory{High: &limit}}); err != nil {
			return err
		}
		return g.writeMax("memory.max")
	}
	if err := g.mgr.Update(&cgroup2.Resources{Memory: &cgroup2.Memory{Max: &limit}}); err != nil {
		return err
	}
	return g.writeMax("memory.high")
}

func (g *v2Group) clearMemoryLimit() error {
	if err := g.need("memory"); err != nil {
		return err
	}
	if err := g.writeMax("memory.max"); err != nil {
		return err
	}
	return g.writeMax("memory.high")
}

func ioRate(v uint64) string {
	if v == 0 {
		return "max"
	}
	return strconv.FormatUint(v, 10)
}

// setIOLimit writes one io.max line for the device.
//
// Written by hand: the library's cgroup2.Entry formats the rate as a number,
// so it cannot write "max", which io.max needs to lift a limit (it rejects
// 0).
func (g *v2Group) setIOLimit(major, minor, rbps, wbps, riops, wiops uint64) error {
	if err := g.need("io"); err != nil {
		return err
	}
	line := fmt.Sprintf("%d:%d rbps=%s wbps=%s riops=%s wiops=%s", major, minor, ioRate(rbps), ioRate(wbps), ioRate(riops), ioRate(wiops))
	return writeFile(filepath.Join(g.dir, "io.max"), line)
}

func (g *v2Group) clearIOLimit(major, minor uint64) error {
	return g.setIOLimit(major, minor, 0, 0, 0, 0)
}

// eventsFrozen reads the kernel's actual freeze state from cgroup.events.
func (g *v2Group) eventsFrozen() (bool, error) {
	s, err := readFileString(filepath.Join(g.dir, "cgroup.events"))
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(s, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "frozen" {
			return f[1] == "1", nil
		}
	}
	return false, fmt.Errorf("no frozen line in %s", filepath.Join(g.dir, "cgroup.events"))
}

// waitFrozen waits for cgroup.events to report frozen == want.
//
// Written by hand: the library's Freeze/Thaw only check that cgroup.freeze
// (the requested state) reads back, not that the kernel finished freezing
// (cgroup.events), and have no deadline.
func (g *v2Group) waitFrozen(want bool, timeout time.Duration) error {
	events := filepath.Join(g.dir, "cgroup.events")
	err := waitUntil(timeout, events, func() (bool, error) {
		frozen, err := g.eventsFrozen()
		return frozen == want, err
	})
	if errors.Is(err, errTimeout) {
		err = fmt.Errorf("%s did not report frozen %t within %v: %w", events, want, timeout, err)
	}
	return err
}

func (g *v2Group) freeze(timeout time.Duration) error {
	if err := g.mgr.Freeze(); err != nil {
		return err
	}
	if err := g.waitFrozen(true, timeout); err != nil {
		// Do not leave the group half frozen.
		if terr := g.mgr.Thaw(); terr != nil {
			err = errors.Join(err, terr)
		}
		return err
	}
	return nil
}

func (g *v2Group) thaw(timeout time.Duration) error {
	if err := g.mgr.Thaw(); err != nil {
		return err
	}
	return g.waitFrozen(false, timeout)
}

func (g *v2Group) frozen() (bool, error) {
	s, err := readFileString(filepath.Join(g.dir, "cgroup.freeze"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return s == "1", err
}

func (g *v2Group) stats() (Stats, error) {
	var s Stats
	m, err := g.mgr.StatFiltered(cgroup2.StatCPU | cgroup2.StatMemory | cgroup2.StatMemoryEvents | cgroup2.StatIO)
	if err != nil {
		return s, err
	}
	if c := m.CPU; c != nil {
		s.CPUUsage = time.Duration(c.UsageUsec) * time.Microsecond
		s.CPUUser = time.Duration(c.UserUsec) * time.Microsecond
		s.CPUSystem = time.Duration(c.SystemUsec) * time.Microsecond
		s.NrPeriods = c.NrPeriods
		s.NrThrottled = c.NrThrottled
		s.ThrottledTime = time.Duration(c.ThrottledUsec) * time.Microsecond
	}
	if mem := m.Memory; mem != nil {
		s.MemoryUsage = mem.Usage
		s.MemoryPeak = mem.MaxUsage
	}
	if e := m.MemoryEvents; e != nil {
		s.OOMEvents = e.Oom
		s.OOMKills = e.OomKill
	}
	if io := m.Io; io != nil {
		for _, e := range io.Usage {
			s.IOReadBytes += e.Rbytes
			s.IOWriteBytes += e.Wbytes
			s.IOReadOps += e.Rios
			s.IOWriteOps += e.Wios
		}
	}
	return s, nil
}

func (g *v2Group) drain() (bool, error) {
	if _, err := os.Lstat(g.dir); errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	procs, err := g.mgr.Procs(true)
	if err != nil {
		return false, fmt.Errorf("list processes: %w", err)
	}
	g.v.mu.Lock()
	home := g.v.home
	g.v.mu.Unlock()
	hm, err := cgroup2.Load(home, cgroup2.WithMountpoint(g.v.root))
	if err != nil {
		return false, err
	}
	for _, pid := range procs {
		if err := hm.AddProc(pid); err != nil && !errors.Is(err, syscall.ESRCH) {
			return false, fmt.Errorf("move process %d to %s: %w", pid, g.v.abs(home), err)
		}
	}
	return len(procs) == 0, nil
}

func (g *v2Group) remove() error {
	if _, err := os.Lstat(g.dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return g.mgr.Delete()
}
