// Package cgroup is raftcmp's cgroup layer: it puts individual node processes
// into their own control groups and applies the resource limits behind the
// fail-slow fault kinds (cpu-slow, cpu-contention, memory, disk-slow, pause).
//
// Both cgroup versions are supported:
//
//   - v1 (legacy or hybrid): each controller is its own hierarchy mounted at
//     <root>/<controller>. A group is one directory per controller, created
//     under the calling process's own cgroup in that hierarchy (read from
//     /proc/self/cgroup). On most machines that is the hierarchy root, but
//     e.g. the memory controller may place the caller in a nested cgroup, and
//     memory groups must then be nested under it.
//   - v2 (unified): a group is one directory under the calling process's own
//     cgroup. See [Manager.Create] for how the no-internal-process rule is
//     handled.
//
// Most work goes through github.com/containerd/cgroups/v3 (packages cgroup1
// and cgroup2). A few files are written by hand where that library lacks
// something; each such place says what is missing.
package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	"golang.org/x/sys/unix"

	"github.com/raftcmp/raftcmp/core/ownership"
)

// Mode is the cgroup version a Manager drives: ModeV1 or ModeV2.
type Mode string

const (
	// ModeV1 is the legacy (or hybrid) layout: one hierarchy per controller.
	ModeV1 Mode = "v1"
	// ModeV2 is the unified hierarchy (cgroup2 filesystem).
	ModeV2 Mode = "v2"
)

// Prefix starts the name of every group this package creates. Create refuses
// other names and Cleanup deletes every group whose name starts with it.
const Prefix = "raftcmp-"

// DefaultRoot is where cgroup filesystems are normally mounted.
const DefaultRoot = "/sys/fs/cgroup"

// defaultFreezeTimeout bounds how long Freeze and Thaw wait for the kernel
// to report the new state.
const defaultFreezeTimeout = 5 * time.Second

// defaultDrainTimeout bounds how long Delete keeps moving processes out of a
// group (a process may fork while it is being moved).
const defaultDrainTimeout = 5 * time.Second

// v1Controllers are the v1 hierarchies a group spans (when mounted).
var v1Controllers = []string{"cpu", "cpuacct", "cpuset", "memory", "blkio", "freezer"}

// v2Controllers are the v2 controllers enabled for groups (when available).
var v2Controllers = []string{"cpu", "cpuset", "io", "memory"}

// Detect reports the cgroup version mounted at root (normally DefaultRoot).
//
// root is v2 if it is a cgroup2 mount (statfs magic CGROUP2_SUPER_MAGIC), and
// v1 if it holds at least one cgroup v1 controller mount (root/cpu,
// root/memory, ...; a hybrid system, whose cgroup2 mount at root/unified has
// no controllers, is v1). A plain directory that is neither but holds a
// cgroup.controllers file is reported as v2: it stands in for a cgroup2
// filesystem in tests. Anything else is an error.
func Detect(root string) (Mode, error) {
	// Written with statfs by hand: the library's cgroups.Mode() only looks at
	// the fixed path /sys/fs/cgroup (and caches the answer), so it cannot
	// inspect another root.
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return "", fmt.Errorf("detect cgroup mode of %s: %w", root, err)
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return ModeV2, nil
	}
	for _, c := range v1Controllers {
		var cst unix.Statfs_t
		if err := unix.Statfs(filepath.Join(root, c), &cst); err == nil && cst.Type == unix.CGROUP_SUPER_MAGIC {
			return ModeV1, nil
		}
	}
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		return ModeV2, nil
	}
	return "", fmt.Errorf("detect cgroup mode of %s: neither a cgroup2 mount nor a directory of cgroup v1 controller mounts", root)
}

// Manager creates and cleans up groups under one cgroup root. It is safe for
// concurrent use.
type Manager struct {
	root string
	mode Mode

	// selfCgroup is the file naming the caller's own cgroup v2 path
	// (/proc/self/cgroup; tests point it at a fixture). v1 always reads
	// /proc/self/cgroup through the library.
	selfCgroup string
	// pid is the caller's pid (tests substitute it).
	pid int
	// freezeTimeout bounds Freeze/Thaw waits; drainTimeout bounds Delete's
	// moving of leftover processes.
	freezeTimeout time.Duration
	drainTimeout  time.Duration
	// unrecorded: Create records nothing (Unrecorded).
	unrecorded bool

	v1 *v1Manager
	v2 *v2Manager
}

// managerOptions override what NewManager reads from the running system.
type managerOptions struct {
	selfCgroup    string
	pid           int
	freezeTimeout time.Duration
	unrecorded    bool
}

// Option changes how NewManager's Manager behaves.
type Option func(*managerOptions)

// Unrecorded makes a Manager that does not record the groups it creates
// as the calling process's own (core/ownership): for raftcmp's short-lived
// helper on a remote host, whose groups belong to the run on raftcmp's
// machine, which deletes them; a ledger naming the helper would outlive it.
func Unrecorded() Option { return func(o *managerOptions) { o.unrecorded = true } }

// NewManager returns a Manager for the cgroup filesystem(s) at root (normally
// DefaultRoot; tests pass a temporary directory laid out like a cgroup2
// filesystem). It detects the mode with Detect and reads the caller's own
// cgroup(s) from /proc/self/cgroup, but creates nothing: that happens in
// Create.
func NewManager(root string, opts ...Option) (*Manager, error) {
	var o managerOptions
	for _, opt := range opts {
		opt(&o)
	}
	return newManager(root, o)
}

func newManager(root string, o managerOptions) (*Manager, error) {
	mode, err := Detect(root)
	if err != nil {
		return nil, fmt.Errorf("new cgroup manager: %w", err)
	}
	m := &Manager{
		root:          root,
		mode:          mode,
		selfCgroup:    o.selfCgroup,
		pid:           o.pid,
		freezeTimeout: o.freezeTimeout,
		drainTimeout:  defaultDrainTimeout,
		unrecorded:    o.unrecorded,
	}
	if m.selfCgroup == "" {
		m.selfCgroup = "/proc/self/cgroup"
	}
	if m.pid == 0 {
		m.pid = os.Getpid()
	}
	if m.freezeTimeout == 0 {
		m.freezeTimeout = defaultFreezeTimeout
	}
	switch mode {
	case ModeV1:
		m.v1, err = newV1Manager(root)
	case ModeV2:
		m.v2, err = newV2Manager(root, m.selfCgroup, m.pid)
	}
	if err != nil {
		return nil, fmt.Errorf("new cgroup manager for %s: %w", root, err)
	}
	return m, nil
}

// Mode reports the cgroup version this Manager drives.
func (m *Manager) Mode() Mode { return m.mode }

// Create creates the group name (which must start with Prefix and be a
// single path element of letters, digits, '.', '_' and '-', e.g.
// "raftcmp-<runid>-n1") with no limits set, and returns it. It fails if a
// group of that name already exists (a leftover: see Cleanup).
//
// v1: one directory per mounted controller (cpu, cpuacct, cpuset, memory,
// blkio, freezer), each under the caller's own cgroup in that hierarchy;
// cpuset.cpus and cpuset.mems are copied from the parent so that processes
// can join.
//
// v2: one directory under the caller's own cgroup P, with the cpu, cpuset,
// io and memory controllers (those P offers) enabled in P's
// cgroup.subtree_control. The no-internal-process rule forbids enabling
// controllers there while P itself holds processes (unless P is the root).
// If the kernel refuses for that reason and the caller is the only process in
// P, the caller moves itself into the leaf P/raftcmp.self (kept for the life
// of the process; Delete moves stray processes back there) and retries. If P
// holds other processes too, Create fails and says so: run raftcmp in a
// cgroup of its own, e.g. under `systemd-run --scope -p Delegate=yes`.
func (m *Manager) Create(name string) (*Group, error) {
	if err := validName(name); err != nil {
		return nil, fmt.Errorf("create cgroup %q: %w", name, err)
	}
	if err := m.recordOwn(name); err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", name, err)
	}
	var (
		im  impl
		err error
	)
	switch m.mode {
	case ModeV1:
		im, err = m.v1.create(name)
	case ModeV2:
		im, err = m.v2.create(name)
	}
	if err != nil {
		ownership.Forget(ownership.Cgroup, name)
		return nil, fmt.Errorf("create cgroup %s: %w", name, err)
	}
	return &Group{name: name, m: m, impl: im}, nil
}

// Cleanup deletes (as Group.Delete does) every group whose name starts with
// Prefix in the places Create uses: under the caller's own cgroup in each v1
// hierarchy, or in v2 under the caller's own cgroup (the parent of
// raftcmp.self if the caller moved itself there). It is meant for leftovers
// of a killed run and returns the names it removed, sorted. It does not know
// which run a group belongs to, so it must not run while another raftcmp run
// shares the same parent cgroup.
func (m *Manager) Cleanup() ([]string, error) {
	return m.cleanup(Prefix)
}

// recordOwn records a group of the system's hierarchy as this process's
// own before it is created, for `raftcmp cleanup` (core/ownership); groups
// under another root (tests' stand-ins) are not cleanup's to remove.
func (m *Manager) recordOwn(name string) error {
	if m.root != DefaultRoot || m.unrecorded {
		return nil
	}
	return ownership.Record(ownership.Cgroup, name)
}

// List returns the names of the groups whose name starts with Prefix in
// the places Create uses, sorted: raftcmp's own or not, alive or not.
func (m *Manager) List() ([]string, error) {
	if m.mode == ModeV1 {
		return m.v1.leftovers(Prefix)
	}
	return m.v2.leftovers(Prefix)
}

// Remove deletes the group name as Cleanup does; a group that does not
// exist is not an error.
func (m *Manager) Remove(name string) error {
	names, err := m.List()
	if err != nil || !slices.Contains(names, name) {
		return err
	}
	g, err := m.Load(name)
	if err != nil {
		return err
	}
	return g.Delete()
}

// Load opens the existing group name, made by Create (possibly in another
// process: raftcmp's helper on a remote host acts on a group one operation
// per process). A group that does not exist is an error.
func (m *Manager) Load(name string) (*Group, error) {
	if err := validName(name); err != nil {
		return nil, fmt.Errorf("load cgroup %q: %w", name, err)
	}
	names, err := m.List()
	if err != nil {
		return nil, fmt.Errorf("load cgroup %s: %w", name, err)
	}
	if !slices.Contains(names, name) {
		return nil, fmt.Errorf("load cgroup %s: no such group", name)
	}
	var im impl
	if m.mode == ModeV1 {
		im, err = m.v1.load(name)
	} else {
		im, err = m.v2.load(name)
	}
	if err != nil {
		return nil, fmt.Errorf("load cgroup %s: %w", name, err)
	}
	return &Group{name: name, m: m, impl: im}, nil
}

// Controllers a fault may need, by the names Missing takes: each stands
// for the controller of that purpose in either cgroup version.
const (
	ControllerCPU     = "cpu"     // v1 cpu and cpuacct; v2 cpu
	ControllerCPUSet  = "cpuset"  // cpuset in both
	ControllerMemory  = "memory"  // memory in both
	ControllerIO      = "io"      // v1 blkio; v2 io
	ControllerFreezer = "freezer" // v1 freezer; v2's cgroup.freeze, always there
)

// Missing returns the controllers of needs (Controller* names) that
// groups made by Create would not have (not mounted in v1, not offered to
// the caller's cgroup in v2): need -> the name this machine's cgroup
// version gives the missing controller ("blkio" for ControllerIO on v1).
// A name that is none of the Controller* constants is looked up as it is.
func (m *Manager) Missing(needs ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, need := range needs {
		var names []string
		switch {
		case m.mode == ModeV1 && need == ControllerCPU:
			names = []string{"cpu", "cpuacct"}
		case m.mode == ModeV1 && need == ControllerIO:
			names = []string{"blkio"}
		case m.mode == ModeV2 && need == ControllerFreezer:
			continue
		default:
			names = []string{need}
		}
		for _, n := range names {
			var has bool
			if m.mode == ModeV1 {
				has = m.v1.has(cgroup1.Name(n))
			} else {
				avail, err := m.v2.offered()
				if err != nil {
					return nil, err
				}
				has = slices.Contains(avail, n)
			}
			if !has {
				out[need] = n
				break
			}
		}
	}
	return out, nil
}

// Available is the package's Available for this Manager's root: nil if
// the caller can create groups here, else why not.
func (m *Manager) Available() error { return m.available() }

func (m *Manager) cleanup(prefix string) ([]string, error) {
	var (
		names []string
		err   error
	)
	switch m.mode {
	case ModeV1:
		names, err = m.v1.leftovers(prefix)
	case ModeV2:
		names, err = m.v2.leftovers(prefix)
	}
	if err != nil {
		return nil, fmt.Errorf("clean up cgroups: %w", err)
	}
	var (
		removed []string
		errs    []error
	)
	for _, name := range names {
		var im impl
		switch m.mode {
		case ModeV1:
			im, err = m.v1.load(name)
		case ModeV2:
			im, err = m.v2.load(name)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("load leftover cgroup %s: %w", name, err))
			continue
		}
		g := &Group{name: name, m: m, impl: im}
		if err := g.Delete(); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, name)
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("clean up cgroups: %w", errors.Join(errs...))
	}
	return removed, nil
}

// validName checks a group name: Prefix, then a non-empty rest of letters,
// digits, '.', '_' and '-'.
func validName(name string) error {
	rest, ok := strings.CutPrefix(name, Prefix)
	if !ok {
		return fmt.Errorf("name must start with %q", Prefix)
	}
	if rest == "" {
		return fmt.Errorf("name must not be just %q", Prefix)
	}
	for _, r := range rest {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return fmt.Errorf("name may only hold letters, digits, '.', '_' and '-' (got %q)", r)
		}
	}
	return nil
}

// impl is what a version-specific group implements. Arguments are validated
// by Group; errors are wrapped by Group with the operation and group name.
type impl interface {
	add(pid int) error
	setCPUQuota(quotaUS int64, periodUS uint64) error
	clearCPUQuota() error
	setCPUShares(shares uint64) error
	setCPUs(cpus string) error
	setMemoryLimit(limit int64, oomKillDisable bool) error
	clearMemoryLimit() error
	setIOLimit(major, minor, rbps, wbps, riops, wiops uint64) error
	clearIOLimit(major, minor uint64) error
	freeze(timeout time.Duration) error
	thaw(timeout time.Duration) error
	frozen() (bool, error)
	stats() (Stats, error)
	// drain moves every process left in the group to the caller's own
	// cgroup; it reports whether the group is empty afterwards.
	drain() (bool, error)
	// remove removes the group's directories; a group already gone is not
	// an error.
	remove() error
}

// Group is one control group (spanning every controller in v1). Its methods
// are safe for concurrent use. After Delete every method but Name and Delete
// returns an error.
type Group struct {
	name string
	m    *Manager

	mu      sync.Mutex
	impl    impl
	deleted bool
}

// errDeleted is returned by methods of a deleted group.
var errDeleted = errors.New("cgroup was deleted")

// Name returns the group's name as given to Create.
func (g *Group) Name() string { return g.name }

// do runs f under the group's lock unless the group was deleted, wrapping an
// error with what was being done.
func (g *Group) do(what string, f func() error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.deleted {
		return fmt.Errorf("%s of %s: %w", what, g.name, errDeleted)
	}
	if err := f(); err != nil {
		return fmt.Errorf("%s of %s: %w", what, g.name, err)
	}
	return nil
}

// AddProcess moves process pid (the whole thread group: every thread, present
// and future, and children it forks later) into the group, in every
// controller. Memory the process had already allocated stays charged to its
// old memory cgroup.
func (g *Group) AddProcess(pid int) error {
	if pid <= 0 {
		return fmt.Errorf("add process %d to %s: pid must be positive", pid, g.name)
	}
	return g.do(fmt.Sprintf("add process %d", pid), func() error { return g.impl.add(pid) })
}

// SetCPUQuota limits the group to quota of CPU time per period, summed over
// all CPUs (v1 cpu.cfs_quota_us and cpu.cfs_period_us; v2 cpu.max). quota
// must be at least 1ms and period between 1ms and 1s; both are rounded down
// to whole microseconds. The group is throttled for the rest of each period
// once its quota is used, so a long period throttles in long bursts (quota
// 50ms per 1s period: run 50ms, stall 950ms).
func (g *Group) SetCPUQuota(quota, period time.Duration) error {
	if quota < time.Millisecond {
		return fmt.Errorf("set cpu quota of %s: quota %v is below 1ms", g.name, quota)
	}
	if period < time.Millisecond || period > time.Second {
		return fmt.Errorf("set cpu quota of %s: period %v is outside [1ms, 1s]", g.name, period)
	}
	q, p := quota.Microseconds(), uint64(period.Microseconds())
	return g.do("set cpu quota", func() error { return g.impl.setCPUQuota(q, p) })
}

// ClearCPUQuota removes the CPU quota (v1 cpu.cfs_quota_us -1; v2 cpu.max
// "max"), leaving the period as it was.
func (g *Group) ClearCPUQuota() error {
	return g.do("clear cpu quota", g.impl.clearCPUQuota)
}

// SetCPUShares sets the group's relative CPU weight under contention: v1
// cpu.shares = shares (default 1024); v2 cpu.weight = 1 +
// ((shares-2)*9999)/262142, the conversion runc and crun use (1024 shares ->
// weight 39). shares must be in [2, 262144].
func (g *Group) SetCPUShares(shares uint64) error {
	if shares < 2 || shares > 262144 {
		return fmt.Errorf("set cpu shares of %s: %d is outside [2, 262144]", g.name, shares)
	}
	return g.do("set cpu shares", func() error { return g.impl.setCPUShares(shares) })
}

// sharesToWeight converts v1 cpu.shares to v2 cpu.weight like runc and crun.
func sharesToWeight(shares uint64) uint64 {
	return 1 + ((shares-2)*9999)/262142
}

// SetCPUs restricts the group to the CPUs in cpus, a cpuset list such as "1"
// or "0-2,4" (v1 cpuset.cpus, whose cpuset.mems was filled from the parent at
// Create; v2 cpuset.cpus, needing the cpuset controller).
func (g *Group) SetCPUs(cpus string) error {
	if strings.TrimSpace(cpus) == "" {
		return fmt.Errorf("set cpus of %s: empty cpu list", g.name)
	}
	return g.do("set cpus", func() error { return g.impl.setCPUs(cpus) })
}

// SetMemoryLimit limits the group's memory to limit bytes (at least one page,
// 4096).
//
// v1: memory.limit_in_bytes = limit (and memory.memsw.limit_in_bytes = limit
// where swap accounting exists, so swapping cannot bypass the limit). With
// oomKillDisable, memory.oom_control = 1: a process that needs more than the
// limit stalls (under_oom) instead of being killed; otherwise it is
// OOM-killed.
//
// v2 has no way to disable the OOM killer. Without oomKillDisable:
// memory.max = limit (and memory.high = max), so exceeding it OOM-kills.
// With oomKillDisable: memory.high = limit and memory.max = max, so the
// kernel throttles and reclaims the group above the limit instead of killing
// it: the process slows down heavily but, unlike v1, is not stopped outright,
// and memory.events counts "high" rather than "oom".
func (g *Group) SetMemoryLimit(limit int64, oomKillDisable bool) error {
	if limit < 4096 {
		return fmt.Errorf("set memory limit of %s: limit %d is below 4096 bytes", g.name, limit)
	}
	return g.do("set memory limit", func() error { return g.impl.setMemoryLimit(limit, oomKillDisable) })
}

// ClearMemoryLimit removes the memory limit (v1: limits -1 and OOM killer
// enabled again; v2: memory.max and memory.high = max).
func (g *Group) ClearMemoryLimit() error {
	return g.do("clear memory limit", g.impl.clearMemoryLimit)
}

// SetIOLimit throttles the group's I/O on block device major:minor (see
// DeviceOf) to the given bytes and operations per second; 0 means no limit
// for that field. v1 writes blkio.throttle.{read,write}_{bps,iops}_device;
// v2 writes one io.max line. Throttling applies to I/O the group's processes
// submit themselves (O_DIRECT, reads, fsync-driven writes); in v1, buffered
// writes flushed later by kernel writeback are not reliably charged to the
// group.
func (g *Group) SetIOLimit(major, minor uint64, readBPS, writeBPS, readIOPS, writeIOPS uint64) error {
	return g.do(fmt.Sprintf("set io limit on %d:%d", major, minor), func() error {
		return g.impl.setIOLimit(major, minor, readBPS, writeBPS, readIOPS, writeIOPS)
	})
}

// ClearIOLimit removes every I/O limit of the group on device major:minor.
func (g *Group) ClearIOLimit(major, minor uint64) error {
	return g.do(fmt.Sprintf("clear io limit on %d:%d", major, minor), func() error {
		return g.impl.clearIOLimit(major, minor)
	})
}

// Freeze stops every process in the group and returns once the kernel
// reports the group frozen (v1 freezer.state reads FROZEN; v2 cgroup.events
// reads "frozen 1"). If that does not happen within the deadline (5s) the
// group is thawed again and an error returned. Freezing a frozen group is a
// no-op.
func (g *Group) Freeze() error {
	return g.do("freeze", func() error { return g.impl.freeze(g.m.freezeTimeout) })
}

// Thaw resumes the group's processes and returns once the kernel reports the
// group thawed (within the same deadline as Freeze). Thawing a group that is
// not frozen is a no-op.
func (g *Group) Thaw() error {
	return g.do("thaw", func() error { return g.impl.thaw(g.m.freezeTimeout) })
}

// Stats are the group's counters since Create (all cumulative except
// MemoryUsage). Durations are CPU time.
type Stats struct {
	// CPUUsage is the CPU time used by the group's processes (v1
	// cpuacct.usage; v2 cpu.stat usage_usec).
	CPUUsage time.Duration
	// CPUUser and CPUSystem split CPUUsage into user and kernel time (v1
	// cpuacct.stat, in clock ticks of 10ms; v2 cpu.stat).
	CPUUser, CPUSystem time.Duration
	// NrPeriods counts quota periods with runnable tasks; NrThrottled those
	// in which the group was throttled; ThrottledTime is the total time it
	// spent throttled (cpu.stat).
	NrPeriods, NrThrottled uint64
	ThrottledTime          time.Duration
	// MemoryUsage is the memory currently charged to the group, MemoryPeak
	// the highest it has been (v1 memory.usage_in_bytes and
	// memory.max_usage_in_bytes; v2 memory.current and memory.peak, 0 where
	// the kernel lacks memory.peak).
	MemoryUsage, MemoryPeak uint64
	// OOMEvents counts times the group hit its limit and the OOM path ran
	// (v1: notifications on an eventfd registered at Create; v2
	// memory.events "oom"). OOMKills counts processes the OOM killer killed
	// (v1 memory.oom_control oom_kill; v2 memory.events oom_kill).
	OOMEvents, OOMKills uint64
	// IO counters are summed over all devices (v1 blkio.throttle.io_service_bytes
	// and io_serviced; v2 io.stat).
	IOReadBytes, IOWriteBytes, IOReadOps, IOWriteOps uint64
}

// Stats reads the group's current counters.
func (g *Group) Stats() (Stats, error) {
	var s Stats
	err := g.do("read stats", func() error {
		var err error
		s, err = g.impl.stats()
		return err
	})
	return s, err
}

// Delete removes the group: it thaws the group if frozen, moves any processes
// still in it back to the caller's own cgroup (retrying while they fork,
// within a deadline), and removes its directory in every controller.
// Deleting a deleted group (or one already removed by Cleanup) is a no-op
// returning nil.
func (g *Group) Delete() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.deleted {
		return nil
	}
	frozen, err := g.impl.frozen()
	if err != nil {
		return fmt.Errorf("delete %s: read freeze state: %w", g.name, err)
	}
	if frozen {
		if err := g.impl.thaw(g.m.freezeTimeout); err != nil {
			return fmt.Errorf("delete %s: thaw: %w", g.name, err)
		}
	}
	var empty bool
	err = waitUntil(g.m.drainTimeout, "", func() (bool, error) {
		var err error
		empty, err = g.impl.drain()
		return empty, err
	})
	if err != nil {
		return fmt.Errorf("delete %s: move processes out: %w", g.name, err)
	}
	if err := g.impl.remove(); err != nil {
		return fmt.Errorf("delete %s: %w", g.name, err)
	}
	g.deleted = true
	ownership.Forget(ownership.Cgroup, g.name)
	return nil
}

// errTimeout is returned by waitUntil when the deadline passes.
var errTimeout = errors.New("timed out")

// waitUntil waits until cond reports true, cond fails, or timeout passes
// (then it returns errTimeout). If watch names a file, the wait between checks
// ends early when inotify reports the file modified (the kernel generates
// such events for cgroup v2 cgroup.events); otherwise, and as a backstop,
// checks repeat at growing intervals of 1ms up to 20ms.
func waitUntil(timeout time.Duration, watch string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	ifd := -1
	if watch != "" {
		if fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK); err == nil {
			if _, err := unix.InotifyAddWatch(fd, watch, unix.IN_MODIFY); err == nil {
				ifd = fd
			} else {
				unix.Close(fd)
			}
		}
	}
	if ifd >= 0 {
		defer unix.Close(ifd)
	}
	interval := time.Millisecond
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return errTimeout
		}
		wait := min(interval, left)
		interval = min(2*interval, 20*time.Millisecond)
		if ifd >= 0 {
			pfd := []unix.PollFd{{Fd: int32(ifd), Events: unix.POLLIN}}
			// EINTR just means an early re-check.
			if n, _ := unix.Poll(pfd, int(wait.Milliseconds())+1); n > 0 {
				var buf [4096]byte
				for {
					if n, err := unix.Read(ifd, buf[:]); n <= 0 || err != nil {
						break
					}
				}
			}
			continue
		}
		t := time.NewTimer(wait)
		<-t.C
	}
}

// Available returns nil if the caller can create cgroups with this package
// on this machine (as root, or in a delegated writable cgroup), and otherwise
// an error saying why, meant to be shown before a run starts. It creates
// nothing.
//
// v1: every controller hierarchy the package uses must be mounted under
// /sys/fs/cgroup and the caller's own cgroup directory in it writable. v2:
// the caller's own cgroup directory must be writable, offer the cpu and
// memory controllers, and either already delegate them to children, be the
// root, or hold no process but the caller (which Create then moves into a
// leaf; see Manager.Create).
func Available() error {
	m, err := NewManager(DefaultRoot)
	if err != nil {
		return fmt.Errorf("cgroups unavailable: %w", err)
	}
	return m.available()
}

func (m *Manager) available() error {
	var err error
	switch m.mode {
	case ModeV1:
		err = m.v1.available()
	case ModeV2:
		err = m.v2.available()
	}
	if err != nil {
		return fmt.Errorf("cgroups (%s at %s) unavailable: %w", m.mode, m.root, err)
	}
	return nil
}

// writable reports whether dir can be written by the caller, with a reason.
func writable(dir string) error {
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return fmt.Errorf("%s is not writable by uid %d (%w); run as root or in a cgroup delegated to this user", dir, os.Getuid(), err)
	}
	return nil
}

// readFileString reads a small control file and trims surrounding space.
func readFileString(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// writeFile writes data to a control file in one write. Like the library's
// writes it opens with O_CREATE: on cgroupfs the file always exists (or
// cannot be created), and a directory standing in for cgroupfs in tests gets
// the file made.
func writeFile(path, data string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(data)
	cerr := f.Close()
	if werr != nil {
		return fmt.Errorf("write %q to %s: %w", data, path, werr)
	}
	return cerr
}
