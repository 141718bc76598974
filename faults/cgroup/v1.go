package cgroup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// v1Manager holds what groups on a cgroup v1 (or hybrid) system share.
type v1Manager struct {
	root string
	// subsystems are the library controllers for the v1Controllers that are
	// mounted and in which the caller has a cgroup.
	subsystems []cgroup1.Subsystem
	// own is the caller's own cgroup in each hierarchy, relative to that
	// hierarchy's root ("/" or e.g. "/process_api/<hash>" for memory).
	own map[cgroup1.Name]string
}

func newV1Manager(root string) (*v1Manager, error) {
	// The library resolves /proc/self/cgroup against /proc/self/mountinfo
	// (so that a cgroup mount whose root is not "/" is handled).
	selfPath := cgroup1.NestedPath("")
	v := &v1Manager{root: root, own: map[cgroup1.Name]string{}}
	all := []cgroup1.Subsystem{
		cgroup1.NewCpu(root),
		cgroup1.NewCpuacct(root),
		cgroup1.NewCpuset(root),
		// Only the plain memory.* counters are read; memsw/kmem files are
		// missing on some kernels and would make Stat fail.
		cgroup1.NewMemory(root, cgroup1.IgnoreModules("memsw", "kmem", "kmem.tcp")),
		cgroup1.NewBlkio(root),
		cgroup1.NewFreezer(root),
	}
	for _, s := range all {
		var st unix.Statfs_t
		if err := unix.Statfs(filepath.Join(root, string(s.Name())), &st); err != nil || st.Type != unix.CGROUP_SUPER_MAGIC {
			continue
		}
		own, err := selfPath(s.Name())
		if err != nil {
			if errors.Is(err, cgroup1.ErrControllerNotActive) {
				continue
			}
			return nil, fmt.Errorf("find own %s cgroup: %w", s.Name(), err)
		}
		v.subsystems = append(v.subsystems, s)
		v.own[s.Name()] = own
	}
	if len(v.subsystems) == 0 {
		return nil, fmt.Errorf("no cgroup v1 controller of %v is mounted under %s", v1Controllers, root)
	}
	return v, nil
}

func (v *v1Manager) hierarchy() ([]cgroup1.Subsystem, error) { return v.subsystems, nil }

// path places group name under the caller's own cgroup in every hierarchy.
func (v *v1Manager) path(name string) cgroup1.Path {
	return func(s cgroup1.Name) (string, error) {
		own, ok := v.own[s]
		if !ok {
			return "", cgroup1.ErrControllerNotActive
		}
		return filepath.Join(own, name), nil
	}
}

// homePath is the caller's own cgroup in every hierarchy.
func (v *v1Manager) homePath(s cgroup1.Name) (string, error) {
	own, ok := v.own[s]
	if !ok {
		return "", cgroup1.ErrControllerNotActive
	}
	return own, nil
}

// dir is the absolute directory of group name in controller s.
func (v *v1Manager) dir(s cgroup1.Name, name string) string {
	return filepath.Join(v.root, string(s), v.own[s], name)
}

func (v *v1Manager) has(s cgroup1.Name) bool {
	_, ok := v.own[s]
	return ok
}

func (v *v1Manager) create(name string) (impl, error) {
	for _, s := range v.subsystems {
		if _, err := os.Lstat(v.dir(s.Name(), name)); err == nil {
			return nil, fmt.Errorf("%s already exists (a leftover? see Cleanup)", v.dir(s.Name(), name))
		}
	}
	cg, err := cgroup1.New(v.path(name), &specs.LinuxResources{}, cgroup1.WithHierarchy(v.hierarchy))
	if err != nil {
		// New stops at the first failing controller; remove what it made.
		if made, lerr := cgroup1.Load(v.path(name), cgroup1.WithHierarchy(v.hierarchy)); lerr == nil {
			_ = made.Delete()
		}
		return nil, err
	}
	g := v.group(name, cg)
	if v.has(cgroup1.Memory) {
		// Count OOM notifications on an eventfd: v1 has no OOM event counter
		// file (memory.oom_control only counts kills).
		fd, err := cg.OOMEventFD()
		if err != nil {
			_ = cg.Delete()
			return nil, fmt.Errorf("register oom eventfd: %w", err)
		}
		if err := unix.SetNonblock(int(fd), true); err != nil {
			unix.Close(int(fd))
			_ = cg.Delete()
			return nil, fmt.Errorf("register oom eventfd: %w", err)
		}
		g.oomFD = int(fd)
	}
	return g, nil
}

func (v *v1Manager) group(name string, cg cgroup1.Cgroup) *v1Group {
	g := &v1Group{v: v, name: name, cg: cg, oomFD: -1}
	if v.has(cgroup1.Memory) {
		_, err := os.Stat(filepath.Join(v.dir(cgroup1.Memory, name), "memory.memsw.limit_in_bytes"))
		g.memsw = err == nil
	}
	return g
}

// load opens an existing group (for Cleanup), wherever it is in each
// hierarchy (see locate).
func (v *v1Manager) load(name string) (impl, error) {
	at := map[cgroup1.Name]string{}
	for _, s := range v.subsystems {
		if p := v.locate(s.Name(), name); p != "" {
			at[s.Name()] = p
		}
	}
	if len(at) == 0 {
		return nil, fmt.Errorf("no hierarchy under %s has a group %s", v.root, name)
	}
	path := func(s cgroup1.Name) (string, error) {
		if p, ok := at[s]; ok {
			return p, nil
		}
		return "", cgroup1.ErrControllerNotActive
	}
	cg, err := cgroup1.Load(path, cgroup1.WithHierarchy(v.hierarchy))
	if err != nil {
		return nil, err
	}
	return v.group(name, cg), nil
}

// searchDepth bounds how deep below a hierarchy's root locate and
// leftovers look for a group made by a process in another cgroup.
const searchDepth = 4

// locate is group name's path in hierarchy s, relative to its root: under
// the caller's own cgroup, where this process makes its groups, or else
// wherever within searchDepth levels of the root another raftcmp put it.
// That happens where each login session, container or sandbox gets a
// cgroup of its own in some hierarchies (memory, say) and not in others:
// a cleanup run from another session then has another own cgroup than the
// run that made the group. Group names carry their run's id, so a group of
// that name anywhere is the one. "" if there is none.
func (v *v1Manager) locate(s cgroup1.Name, name string) string {
	if _, err := os.Lstat(v.dir(s, name)); err == nil {
		return filepath.Join(v.own[s], name)
	}
	found := ""
	v.walk(s, func(rel string, base string) bool {
		if base == name {
			found = rel
			return false
		}
		return true
	})
	return found
}

// walk calls f with the path relative to the root ("/a/b") and the base
// name of every directory of hierarchy s within searchDepth levels of its
// root, until f returns false. Unreadable directories are skipped.
func (v *v1Manager) walk(s cgroup1.Name, f func(rel, base string) bool) {
	root := filepath.Join(v.root, string(s))
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if p == root {
			return nil
		}
		rel := strings.TrimPrefix(p, root)
		if !f(rel, d.Name()) {
			return fs.SkipAll
		}
		if strings.Count(rel, "/") >= searchDepth {
			return fs.SkipDir
		}
		return nil
	})
}

// leftovers lists the names of groups starting with prefix in any
// hierarchy: under the caller's own cgroup, or (see locate) wherever within
// searchDepth levels of the root another raftcmp made them.
func (v *v1Manager) leftovers(prefix string) ([]string, error) {
	seen := map[string]bool{}
	for _, s := range v.subsystems {
		parent := v.dir(s.Name(), "")
		if _, err := os.ReadDir(parent); err != nil {
			return nil, fmt.Errorf("list %s: %w", parent, err)
		}
		v.walk(s.Name(), func(_, base string) bool {
			if strings.HasPrefix(base, prefix) && validName(base) == nil {
				seen[base] = true
			}
			return true
		})
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

func (v *v1Manager) available() error {
	var missing []string
	for _, c := range v1Controllers {
		if !v.has(cgroup1.Name(c)) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("cgroup v1 controllers %v are not mounted under %s (or the caller has no cgroup in them)", missing, v.root)
	}
	for _, s := range v.subsystems {
		if err := writable(v.dir(s.Name(), "")); err != nil {
			return err
		}
	}
	return nil
}

// v1Group is a group on a cgroup v1 system.
type v1Group struct {
	v     *v1Manager
	name  string
	cg    cgroup1.Cgroup
	memsw bool // memory.memsw.* exists (swap accounting)
	// oomFD is an eventfd the kernel signals on each OOM in the memory
	// cgroup (-1 if none); oomEvents accumulates what was read from it.
	oomFD     int
	oomEvents uint64
}

func (g *v1Group) need(s cgroup1.Name) error {
	if !g.v.has(s) {
		return fmt.Errorf("cgroup v1 controller %s is not mounted under %s", s, g.v.root)
	}
	return nil
}

func (g *v1Group) add(pid int) error {
	return g.cg.AddProc(uint64(pid))
}

func (g *v1Group) setCPUQuota(quotaUS int64, periodUS uint64) error {
	if err := g.need(cgroup1.Cpu); err != nil {
		return err
	}
	return g.cg.Update(&specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: &quotaUS, Period: &periodUS}})
}

func (g *v1Group) clearCPUQuota() error {
	if err := g.need(cgroup1.Cpu); err != nil {
		return err
	}
	unlimited := int64(-1)
	return g.cg.Update(&specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: &unlimited}})
}

func (g *v1Group) setCPUShares(shares uint64) error {
	if err := g.need(cgroup1.Cpu); err != nil {
		return err
	}
	return g.cg.Update(&specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: &shares}})
}

func (g *v1Group) setCPUs(cpus string) error {
	if err := g.need(cgroup1.Cpuset); err != nil {
		return err
	}
	// cpuset.mems was copied from the parent when the group was created
	// (the library does so for every new cpuset group).
	return g.cg.Update(&specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: cpus}})
}

func (g *v1Group) setMemoryLimit(limit int64, oomKillDisable bool) error {
	if err := g.need(cgroup1.Memory); err != nil {
		return err
	}
	setLimit := func() error {
		return g.cg.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, DisableOOMKiller: &oomKillDisable}})
	}
	if !g.memsw {
		return setLimit()
	}
	// Also set the memory+swap limit to the limit, so swapping cannot get
	// around it. The kernel requires memsw >= limit at every step, so when
	// raising, memsw goes first. Two separate updates: the library's own
	// reordering (memoryController.Update) swaps limit_in_bytes with
	// soft_limit_in_bytes instead of memsw.limit_in_bytes, and fails.
	setMemsw := func() error {
		return g.cg.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: &limit}})
	}
	cur, err := readFileString(filepath.Join(g.v.dir(cgroup1.Memory, g.name), "memory.limit_in_bytes"))
	if err != nil {
		return err
	}
	if c, err := strconv.ParseInt(cur, 10, 64); err == nil && limit > c {
		if err := setMemsw(); err != nil {
			return err
		}
		return setLimit()
	}
	if err := setLimit(); err != nil {
		return err
	}
	return setMemsw()
}

func (g *v1Group) clearMemoryLimit() error {
	if err := g.need(cgroup1.Memory); err != nil {
		return err
	}
	unlimited := int64(-1)
	if g.memsw {
		// memsw first: it must never be below the memory limit.
		if err := g.cg.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: &unlimited}}); err != nil {
			return err
		}
	}
	enabled := false
	return g.cg.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &unlimited, DisableOOMKiller: &enabled}})
}

func throttle(major, minor, rate uint64) []specs.LinuxThrottleDevice {
	d := specs.LinuxThrottleDevice{Rate: rate}
	d.Major, d.Minor = int64(major), int64(minor)
	return []specs.LinuxThrottleDevice{d}
}

func (g *v1Group) setIOLimit(major, minor, rbps, wbps, riops, wiops uint64) error {
	if err := g.need(cgroup1.Blkio); err != nil {
		return err
	}
	// A rate of 0 removes that rule in blkio.throttle.*.
	return g.cg.Update(&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
		ThrottleReadBpsDevice:   throttle(major, minor, rbps),
		ThrottleWriteBpsDevice:  throttle(major, minor, wbps),
		ThrottleReadIOPSDevice:  throttle(major, minor, riops),
		ThrottleWriteIOPSDevice: throttle(major, minor, wiops),
	}})
}

func (g *v1Group) clearIOLimit(major, minor uint64) error {
	return g.setIOLimit(major, minor, 0, 0, 0, 0)
}

func (g *v1Group) freezerState() string {
	return filepath.Join(g.v.dir(cgroup1.Freezer, g.name), "freezer.state")
}

// setFreezer writes freezer.state and waits for it to read back state.
//
// Written by hand: the library's Freeze/Thaw (freezerController.waitState)
// retry forever with no deadline, which would hang a run on a task that
// cannot be frozen (e.g. stuck in uninterruptible I/O).
func (g *v1Group) setFreezer(state string, timeout time.Duration) error {
	if err := g.need(cgroup1.Freezer); err != nil {
		return err
	}
	file := g.freezerState()
	if err := writeFile(file, state); err != nil {
		return err
	}
	var current string
	err := waitUntil(timeout, "", func() (bool, error) {
		var err error
		current, err = readFileString(file)
		return current == state, err
	})
	if errors.Is(err, errTimeout) {
		err = fmt.Errorf("%s still reads %s, not %s, after %v: %w", file, current, state, timeout, err)
	}
	return err
}

func (g *v1Group) freeze(timeout time.Duration) error {
	err := g.setFreezer("FROZEN", timeout)
	if err != nil && g.v.has(cgroup1.Freezer) {
		// Do not leave the group half frozen.
		if terr := writeFile(g.freezerState(), "THAWED"); terr != nil {
			err = errors.Join(err, terr)
		}
	}
	return err
}

func (g *v1Group) thaw(timeout time.Duration) error {
	return g.setFreezer("THAWED", timeout)
}

func (g *v1Group) frozen() (bool, error) {
	if !g.v.has(cgroup1.Freezer) {
		return false, nil
	}
	state, err := readFileString(g.freezerState())
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return state != "THAWED", err
}

// readOOMEvents adds what the OOM eventfd counted since the last read.
func (g *v1Group) readOOMEvents() error {
	if g.oomFD < 0 {
		return nil
	}
	var buf [8]byte
	n, err := unix.Read(g.oomFD, buf[:])
	switch {
	case errors.Is(err, unix.EAGAIN):
		return nil
	case err != nil:
		return fmt.Errorf("read oom eventfd: %w", err)
	case n == 8:
		g.oomEvents += binary.NativeEndian.Uint64(buf[:])
	}
	return nil
}

func (g *v1Group) stats() (Stats, error) {
	var s Stats
	m, err := g.cg.Stat(cgroup1.IgnoreNotExist)
	if err != nil {
		return s, err
	}
	if err := g.readOOMEvents(); err != nil {
		return s, err
	}
	if c := m.CPU; c != nil {
		if u := c.Usage; u != nil {
			s.CPUUsage = time.Duration(u.Total)
			s.CPUUser = time.Duration(u.User)
			s.CPUSystem = time.Duration(u.Kernel)
		}
		if t := c.Throttling; t != nil {
			s.NrPeriods = t.Periods
			s.NrThrottled = t.ThrottledPeriods
			s.ThrottledTime = time.Duration(t.ThrottledTime)
		}
	}
	if mem := m.Memory; mem != nil && mem.Usage != nil {
		s.MemoryUsage = mem.Usage.Usage
		s.MemoryPeak = mem.Usage.Max
	}
	if oc := m.MemoryOomControl; oc != nil {
		s.OOMKills = oc.OomKill
	}
	s.OOMEvents = g.oomEvents
	if b := m.Blkio; b != nil {
		for _, e := range b.IoServiceBytesRecursive {
			switch e.Op {
			case "Read":
				s.IOReadBytes += e.Value
			case "Write":
				s.IOWriteBytes += e.Value
			}
		}
		for _, e := range b.IoServicedRecursive {
			switch e.Op {
			case "Read":
				s.IOReadOps += e.Value
			case "Write":
				s.IOWriteOps += e.Value
			}
		}
	}
	return s, nil
}

func (g *v1Group) drain() (bool, error) {
	home, err := cgroup1.Load(g.v.homePath, cgroup1.WithHierarchy(g.v.hierarchy))
	if err != nil {
		return false, fmt.Errorf("load own cgroup: %w", err)
	}
	pids := map[int]bool{}
	for _, s := range g.v.subsystems {
		procs, err := g.cg.Processes(s.Name(), true)
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, cgroup1.ErrCgroupDeleted) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("list processes: %w", err)
		}
		for _, p := range procs {
			pids[p.Pid] = true
		}
	}
	for pid := range pids {
		if err := home.AddProc(uint64(pid)); err != nil && !errors.Is(err, syscall.ESRCH) {
			return false, fmt.Errorf("move process %d to own cgroup: %w", pid, err)
		}
	}
	return len(pids) == 0, nil
}

func (g *v1Group) remove() error {
	if err := g.cg.Delete(); err != nil && !errors.Is(err, cgroup1.ErrCgroupDeleted) {
		return err
	}
	if g.oomFD >= 0 {
		unix.Close(g.oomFD)
		g.oomFD = -1
	}
	return nil
}
