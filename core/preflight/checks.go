package preflight

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/prometheus/procfs"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/faults/cgroup"
	"github.com/raftcmp/raftcmp/reports"
)

const (
	sevOK   = reports.SeverityOK
	sevWarn = reports.SeverityWarn
	sevBad  = reports.SeverityBad
)

// readLine reads a one-line sysfs or procfs file, trimmed. The files read
// this way hold one word each; procfs's sysfs package reads them only as
// part of larger structures that fail as a whole when one file is missing
// (as cpufreq is in most virtual machines), which would lose the rest.
func readLine(path string) (string, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

// notReadable is the finding for a check whose files this machine does not
// have: not a fault, but the results cannot be vouched for on that point.
func notReadable(what, means string) Finding {
	return Finding{Severity: sevOK, Found: what + " not readable here", Means: means}
}

// judge is the finding of a check with two outcomes: ok, meaning okMeans,
// when fine; otherwise a warning meaning warnMeans, with what to change.
func judge(found string, fine bool, okMeans, warnMeans, change string) Finding {
	if fine {
		return Finding{Severity: sevOK, Found: found, Means: okMeans}
	}
	return Finding{Severity: sevWarn, Found: found, Means: warnMeans, Change: change}
}

func checkCores(_ context.Context, o Options) Finding {
	need := o.Nodes + 1
	switch {
	case o.Nodes == 0:
		return Finding{Severity: sevOK, Found: fmt.Sprintf("%d CPUs; no node runs on this machine", o.CPUs),
			Means: "only raftcmp and its client run here"}
	case o.CPUs >= need:
		return Finding{Severity: sevOK, Found: fmt.Sprintf("%d CPUs for %d nodes plus raftcmp and its client", o.CPUs, o.Nodes),
			Means: "each node can have a core of its own (--cpus auto pins them), the first left to raftcmp"}
	}
	return Finding{Severity: sevWarn,
		Found: fmt.Sprintf("%d CPUs for %d nodes plus raftcmp and its client (%d needed for a core each): they share CPUs", o.CPUs, o.Nodes, need),
		Means: "the nodes and the client compete for CPU: a fault that slows one node frees CPU for the others, and CPU-bound points " +
			"(memory, tmpfs) measure this machine's cores rather than the library; the comparison holds for this machine, not for a deployment",
		Change: fmt.Sprintf("a machine with at least %d CPUs, nodes on separate hosts (--hosts), or fewer nodes", need)}
}

// cpuDirRE matches a logical CPU's sysfs directory name.
var cpuDirRE = regexp.MustCompile(`^cpu[0-9]+$`)

func checkGovernor(_ context.Context, o Options) Finding {
	dirs, _ := filepath.Glob(filepath.Join(o.SysRoot, "devices/system/cpu/cpu*"))
	byGov := map[string][]string{}
	for _, d := range dirs {
		if !cpuDirRE.MatchString(filepath.Base(d)) {
			continue
		}
		if g, ok := readLine(filepath.Join(d, "cpufreq/scaling_governor")); ok {
			byGov[g] = append(byGov[g], filepath.Base(d))
		}
	}
	if len(byGov) == 0 {
		return notReadable("CPU frequency governor (no cpufreq in sysfs; usual in a virtual machine)",
			"the host or firmware sets the clock: raftcmp cannot tell whether it changes with load during a run")
	}
	govs := slices.Sorted(maps.Keys(byGov))
	var parts []string
	for _, g := range govs {
		slices.SortFunc(byGov[g], func(a, b string) int { return cpuNum(a) - cpuNum(b) })
		parts = append(parts, fmt.Sprintf("%s on %s", g, strings.Join(byGov[g], ",")))
	}
	found := "governor " + strings.Join(parts, "; ")
	if len(govs) == 1 && govs[0] == "performance" {
		return Finding{Severity: sevOK, Found: found, Means: "the CPUs run at their highest regular clock whatever the load"}
	}
	return Finding{Severity: sevWarn, Found: found,
		Means: "the clock follows load: a lightly loaded point (few threads, a node held back by a fault) runs at a lower clock " +
			"than a busy one, so latency and throughput depend on the point's own load as well as on the library",
		Change: "cpupower frequency-set -g performance (or write performance to /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor)"}
}

func cpuNum(dir string) int {
	var n int
	fmt.Sscanf(strings.TrimPrefix(dir, "cpu"), "%d", &n)
	return n
}

func checkTurbo(_ context.Context, o Options) Finding {
	const (
		off = "the clock does not rise above nominal"
		on  = "the clock rises above nominal while the package is cool and few cores are busy, so the first points " +
			"and lightly loaded ones run faster than later and busier ones"
	)
	if v, ok := readLine(filepath.Join(o.SysRoot, "devices/system/cpu/intel_pstate/no_turbo")); ok {
		return judge(map[bool]string{true: "turbo off", false: "turbo on"}[v == "1"]+" (intel_pstate/no_turbo = "+v+")", v == "1",
			off, on, "echo 1 > /sys/devices/system/cpu/intel_pstate/no_turbo")
	}
	if v, ok := readLine(filepath.Join(o.SysRoot, "devices/system/cpu/cpufreq/boost")); ok {
		return judge(map[bool]string{true: "boost off", false: "boost on"}[v == "0"]+" (cpufreq/boost = "+v+")", v == "0",
			off, on, "echo 0 > /sys/devices/system/cpu/cpufreq/boost")
	}
	return notReadable("turbo/boost (neither intel_pstate/no_turbo nor cpufreq/boost)",
		"the host or firmware decides: raftcmp cannot tell whether the clock rises above nominal during a run")
}

func checkSMT(_ context.Context, o Options) Finding {
	active, ok := readLine(filepath.Join(o.SysRoot, "devices/system/cpu/smt/active"))
	if !ok {
		return notReadable("SMT (devices/system/cpu/smt/active)", "raftcmp cannot tell whether two of its CPUs are one core")
	}
	control, _ := readLine(filepath.Join(o.SysRoot, "devices/system/cpu/smt/control"))
	found := fmt.Sprintf("SMT active = %s (control %s)", active, control)
	return judge(found, active != "1", "every CPU is a core of its own: pinning a node to a CPU gives it a whole core",
		"two CPUs may be hardware threads of one core: nodes pinned to siblings share its execution units and caches, "+
			"so a busy node slows its sibling as a co-located one would",
		"echo off > /sys/devices/system/cpu/smt/control, or --cpus with one CPU per physical core (lscpu -e)")
}

// selectedRE finds the bracketed (active) choice of a sysfs choice file:
// "always [madvise] never".
var selectedRE = regexp.MustCompile(`\[([^]]+)\]`)

func checkTHP(_ context.Context, o Options) Finding {
	v, ok := readLine(filepath.Join(o.SysRoot, "kernel/mm/transparent_hugepage/enabled"))
	if !ok {
		return notReadable("transparent huge pages (kernel/mm/transparent_hugepage/enabled)",
			"raftcmp cannot tell whether page faults may stall on compaction")
	}
	mode := v
	if m := selectedRE.FindStringSubmatch(v); m != nil {
		mode = m[1]
	}
	found := "transparent huge pages: " + mode
	return judge(found, mode != "always", "only memory that asks for huge pages (madvise) gets them; no stalls forced on the nodes",
		"every process's memory is backed by huge pages when it can be: page faults may stall on compaction and khugepaged "+
			"rewrites memory in the background, both showing as tail latency that belongs to the machine",
		"echo madvise > /sys/kernel/mm/transparent_hugepage/enabled")
}

func checkSwap(_ context.Context, o Options) Finding {
	fs, err := procfs.NewFS(o.ProcRoot)
	if err != nil {
		return notReadable("swap ("+o.ProcRoot+")", "raftcmp cannot tell whether nodes may be paged out")
	}
	mi, err := fs.Meminfo()
	if err != nil || mi.SwapTotal == nil {
		return notReadable("swap (meminfo)", "raftcmp cannot tell whether nodes may be paged out")
	}
	if *mi.SwapTotal == 0 {
		return Finding{Severity: sevOK, Found: "no swap", Means: "no node can be paged out"}
	}
	used := *mi.SwapTotal
	if mi.SwapFree != nil {
		used -= *mi.SwapFree
	}
	devices := "?"
	if sw, err := fs.Swaps(); err == nil {
		var names []string
		for _, s := range sw {
			names = append(names, s.Filename)
		}
		devices = strings.Join(names, ", ")
	}
	return Finding{Severity: sevWarn,
		Found: fmt.Sprintf("swap %d MiB on %s, %d MiB in use", *mi.SwapTotal/1024, devices, used/1024),
		Means: "a node whose memory is paged out stalls on every page-in, which shows as latency that belongs to the machine; " +
			"the memory fault (a cgroup limit) then swaps a node rather than making it reclaim",
		Change: "swapoff -a for the run"}
}

func checkDataDir(_ context.Context, o Options) Finding {
	dir := existingParent(o.DataDir)
	fsType := reports.FSType(dir)
	found := fmt.Sprintf("%s on %s", o.DataDir, fsType)
	if dir != o.DataDir {
		found = fmt.Sprintf("%s (not there yet; %s is) on %s", o.DataDir, dir, fsType)
	}
	switch {
	case o.Storage == adapter.StorageMemory:
		return Finding{Severity: sevOK, Found: found, Means: "storage memory: the log is in memory, the directory holds no log"}
	case o.Storage == adapter.StorageTmpfs && fsType != "tmpfs":
		return Finding{Severity: sevBad, Found: found,
			Means:  "storage tmpfs, but the directory is not tmpfs: fsync reaches a device and the points do not measure what tmpfs rows claim",
			Change: "--data-dir on a tmpfs (default /dev/shm)"}
	case o.Storage == adapter.StorageTmpfs:
		return Finding{Severity: sevOK, Found: found, Means: "storage tmpfs as intended: fsync returns at once, the log stays in memory"}
	case fsType == "tmpfs":
		return Finding{Severity: sevBad, Found: found,
			Means:  "storage disk on tmpfs: fsync returns without reaching a device, so the disk figures would measure memory",
			Change: "--data-dir on a disk file system (ext4, xfs), or --storage tmpfs to say what is measured"}
	case fsType == "overlay":
		return Finding{Severity: sevWarn, Found: found,
			Means:  "storage disk on overlayfs (a container's root): writes and fsync pass through the overlay to the file system below, at a cost of their own",
			Change: "--data-dir on a volume or bind mount"}
	case fsType == "unknown":
		return Finding{Severity: sevWarn, Found: found, Means: "its file system could not be read: nothing known about what fsync costs there",
			Change: "--data-dir on a disk file system that exists"}
	}
	return Finding{Severity: sevOK, Found: found, Means: "storage disk on a disk file system: fsync reaches the device"}
}

// existingParent is dir, or its nearest ancestor that exists.
func existingParent(dir string) string {
	dir = filepath.Clean(dir)
	for {
		if _, err := os.Stat(dir); err == nil || errors.Is(err, os.ErrPermission) {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			return dir
		}
		dir = up
	}
}

// faultControllers are the controllers raftcmp's cgroup faults use.
var faultControllers = []string{cgroup.ControllerCPU, cgroup.ControllerCPUSet, cgroup.ControllerMemory, cgroup.ControllerIO, cgroup.ControllerFreezer}

func checkCgroups(_ context.Context, o Options) Finding {
	const means = "faults acting through cgroups (cpu-slow, cpu-contention, memory, disk-slow, pause) cannot run; the others can"
	m, err := cgroup.NewManager(o.CgroupRoot, cgroup.Unrecorded())
	if err != nil {
		return Finding{Severity: sevWarn, Found: "no usable cgroups: " + err.Error(), Means: means,
			Change: "run as root on a machine with cgroups mounted at /sys/fs/cgroup"}
	}
	found := fmt.Sprintf("cgroup %s at %s", m.Mode(), o.CgroupRoot)
	if err := m.Available(); err != nil {
		return Finding{Severity: sevWarn, Found: found + "; " + err.Error(), Means: means,
			Change: "run as root or in a cgroup delegated to this user"}
	}
	missing, err := m.Missing(faultControllers...)
	if err != nil {
		return Finding{Severity: sevWarn, Found: found + "; controllers unreadable: " + err.Error(), Means: means}
	}
	if len(missing) > 0 {
		var names []string
		for need, name := range missing {
			names = append(names, fmt.Sprintf("%s (%s)", need, name))
		}
		sort.Strings(names)
		return Finding{Severity: sevWarn, Found: found + "; missing controllers: " + strings.Join(names, ", "),
			Means:  "faults needing those controllers cannot run (cpu: cpu-slow, cpu-contention; memory: memory; io: disk-slow; freezer: pause)",
			Change: "enable them for raftcmp's cgroup (v2: cgroup.subtree_control of its parent; v1: mount the hierarchy)"}
	}
	return Finding{Severity: sevOK, Found: found + "; controllers " + strings.Join(faultControllers, ", "),
		Means: "every cgroup fault can run"}
}

func checkClocksource(_ context.Context, o Options) Finding {
	cs, ok := readLine(filepath.Join(o.SysRoot, "devices/system/clocksource/clocksource0/current_clocksource"))
	if !ok {
		return notReadable("clock source (clocksource0/current_clocksource)", "raftcmp cannot tell what a latency timestamp costs")
	}
	found := "clock source " + cs
	switch cs {
	case "tsc", "kvm-clock", "arch_sys_counter", "hyperv_clocksource_tsc_page":
		return Finding{Severity: sevOK, Found: found, Means: "time is read in user space (vDSO): a timestamp costs tens of nanoseconds"}
	}
	avail, _ := readLine(filepath.Join(o.SysRoot, "devices/system/clocksource/clocksource0/available_clocksource"))
	return Finding{Severity: sevWarn, Found: found + " (available: " + avail + ")",
		Means: "reading the time may be a system call or a slow device read: every latency measurement costs microseconds, " +
			"which inflates latency and lowers throughput for every backend alike",
		Change: "echo tsc > /sys/devices/system/clocksource/clocksource0/current_clocksource, if available lists it"}
}
