package remote

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/procfs"
	"github.com/vishvananda/netns"

	"github.com/raftcmp/raftcmp/core/ownership"
	"github.com/raftcmp/raftcmp/faults/cgroup"
	"github.com/raftcmp/raftcmp/faults/netrules"
)

// What a run leaves on a host, and how the helper's cleanup operation
// finds it. Everything is under the hosts file's dir, which raftcmp owns,
// except network rules and cgroups:
//
//   - dir/run/TAG/: one run-plugin helper's socket directory, with a mark
//     (runMarkFile) naming the helper (pid, start time, boot) and its
//     plugin (pid, start time). The helper removes it on every path but
//     its own SIGKILL; cleanup kills a plugin still running whose helper
//     is gone (by pid and start time, never by name) and removes the
//     directory.
//   - dir/data/CLUSTER/node-N/: a node's data; beside it node-N plus
//     ownership.MarkFile, naming the helper that last ran the node. A
//     helper whose session was lost removes its node's data and mark; the
//     run removes the whole cluster directory when it ends (RemoveData).
//     A cluster directory is a leftover when it holds marks and none names
//     a running helper; one without any mark is not raftcmp's (a
//     look-alike, or data kept with --keep-data, which is never marked).
//   - network tables and qdiscs (faults/netrules), removed only when no
//     helper runs on the host (a live run's rules are not leftovers).
//   - cgroups and anything else the host's ownership ledgers name
//     (core/ownership, in the host's own state directory).

// opCleanup is the helper's cleanup operation: cleanup [--dry-run] DIR.
const opCleanup = "cleanup"

// runMarkFile is the mark in a helper's socket directory.
const runMarkFile = "owner.json"

// runMark names a run-plugin helper and its plugin process.
type runMark struct {
	Helper      ownership.Owner `json:"helper"`
	PluginPID   int             `json:"plugin_pid,omitempty"`
	PluginStart uint64          `json:"plugin_start,omitempty"`
}

// writeJSON replaces file with v as JSON (a new file renamed over it, so
// that a reader never sees half of it).
func writeJSON(file string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

func readJSON(file string, v any) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// nodeMark is the mark beside node data directory dataDir.
func nodeMark(dataDir string) string { return filepath.Clean(dataDir) + ownership.MarkFile }

// markNode records the calling helper as the one running the node whose
// data is dataDir, before the directory is created.
func markNode(dataDir string) error {
	if err := os.MkdirAll(filepath.Dir(filepath.Clean(dataDir)), 0o700); err != nil {
		return err
	}
	return writeJSON(nodeMark(dataDir), ownership.Self())
}

// dropNode removes a node's data and its mark, and its cluster directory
// if that is then empty: for a helper whose session was lost, after its
// node is dead, since no run will remove it.
func dropNode(dataDir string) {
	os.RemoveAll(dataDir)
	os.Remove(nodeMark(dataDir))
	os.Remove(filepath.Dir(filepath.Clean(dataDir))) // only if empty
}

// Kinds of what a host cleanup finds.
const (
	KindPlugin  = "plugin process"
	KindSockets = "socket directory"
	KindData    = "data directory"
	KindNet     = "network table"
	KindCgroup  = "cgroup"
)

// Found is one thing a host cleanup saw.
type Found struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Why: for a leftover, what left it ("pid 123"); for a thing left
	// alone, why it is left alone.
	Why string `json:"why,omitempty"`
}

// String is "KIND NAME".
func (f Found) String() string { return f.Kind + " " + f.Name }

// CleanupReport is what the helper's cleanup operation found on a host.
type CleanupReport struct {
	// Leftovers are what killed runs left: removed, unless DryRun.
	Leftovers []Found `json:"leftovers,omitempty"`
	// LeftAlone are raftcmp-like things that are not leftovers: a live
	// run's, or not marked as raftcmp's.
	LeftAlone []Found `json:"left_alone,omitempty"`
	// Errors say what could not be removed or looked at, one line each.
	Errors []string `json:"errors,omitempty"`
	DryRun bool     `json:"dry_run,omitempty"`
}

// Count is how many leftovers are of kind k.
func (r *CleanupReport) Count(kind string) int {
	n := 0
	for _, f := range r.Leftovers {
		if f.Kind == kind {
			n++
		}
	}
	return n
}

// Kinds lists the kinds of the leftovers, in the order first seen.
func (r *CleanupReport) Kinds() []string {
	var out []string
	for _, f := range r.Leftovers {
		if !slices.Contains(out, f.Kind) {
			out = append(out, f.Kind)
		}
	}
	return out
}

// cleanupHost finds, and unless --dry-run removes, what killed runs left
// on this host under DIR, and prints a CleanupReport as JSON.
func cleanupHost(args []string) error {
	fl := flag.NewFlagSet(opCleanup, flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	dry := fl.Bool("dry-run", false, "say what would be removed, remove nothing")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() != 1 || !path.IsAbs(fl.Arg(0)) {
		return errors.New("want [--dry-run] DIR (absolute)")
	}
	dir := path.Clean(fl.Arg(0))
	r := &CleanupReport{DryRun: *dry}
	live := r.sockets(path.Join(dir, runSubdir))
	r.data(path.Join(dir, dataSubdir))
	r.network(live)
	r.cgroups(path.Join(dir, cgroupsSubdir), live)
	r.ledgers()
	return json.NewEncoder(os.Stdout).Encode(r)
}

func (r *CleanupReport) fail(format string, a ...any) {
	r.Errors = append(r.Errors, oneLine(fmt.Sprintf(format, a...)))
}

// sockets handles dir/run: each helper's socket directory. It returns
// whether a helper still runs (a live run on the host).
func (r *CleanupReport) sockets(runDir string) (live bool) {
	entries, err := os.ReadDir(runDir)
	if err != nil && !os.IsNotExist(err) {
		r.fail("read %s: %v", runDir, err)
	}
	for _, e := range entries {
		d := path.Join(runDir, e.Name())
		var m runMark
		if err := readJSON(path.Join(d, runMarkFile), &m); err != nil || m.Helper.PID <= 0 {
			r.LeftAlone = append(r.LeftAlone, Found{KindSockets, d, "no helper's mark in it"})
			continue
		}
		if m.Helper.Running() {
			live = true
			r.LeftAlone = append(r.LeftAlone, Found{KindSockets, d, fmt.Sprintf("its helper (pid %d) is running", m.Helper.PID)})
			continue
		}
		by := fmt.Sprintf("pid %d", m.Helper.PID)
		if m.PluginPID > 0 {
			if st, err := startTime(m.PluginPID); err == nil && st == m.PluginStart {
				r.Leftovers = append(r.Leftovers, Found{KindPlugin, fmt.Sprintf("pid %d", m.PluginPID), by})
				if !r.DryRun {
					if err := killProcess(m.PluginPID, m.PluginStart); err != nil {
						r.fail("kill plugin pid %d: %v", m.PluginPID, err)
						continue // its directory stays, marked, for the next cleanup
					}
				}
			}
		}
		r.Leftovers = append(r.Leftovers, Found{KindSockets, d, by})
		if !r.DryRun {
			if err := os.RemoveAll(d); err != nil {
				r.fail("remove %s: %v", d, err)
			}
		}
	}
	return live
}

// killProcess SIGKILLs the process group of pid (the helper made the
// plugin a group leader), after checking pid still is the process started
// at start, and waits until it is gone (it is not this process's child:
// its new parent reaps it).
func killProcess(pid int, start uint64) error {
	syscall.Kill(-pid, syscall.SIGKILL)
	syscall.Kill(pid, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		st, err := procStat(pid)
		if err != nil || st.Starttime != start || st.State == "Z" {
			return nil
		}
		time.Sleep(20 * time.Millisecond) // polling a process that is not our child: no event to wait on
	}
	return errors.New("still running 10s after SIGKILL")
}

// data handles dir/data: one directory per cluster.
func (r *CleanupReport) data(dataDir string) {
	entries, err := os.ReadDir(dataDir)
	if err != nil && !os.IsNotExist(err) {
		r.fail("read %s: %v", dataDir, err)
	}
	for _, e := range entries {
		d := path.Join(dataDir, e.Name())
		if !e.IsDir() {
			r.LeftAlone = append(r.LeftAlone, Found{KindData, d, "not a directory"})
			continue
		}
		marks, _ := filepath.Glob(path.Join(d, "*"+ownership.MarkFile))
		var owners []ownership.Owner
		running := 0
		for _, mf := range marks {
			var o ownership.Owner
			if readJSON(mf, &o) != nil || o.PID <= 0 {
				continue
			}
			owners = append(owners, o)
			if o.Running() {
				running = o.PID
			}
		}
		switch {
		case len(owners) == 0:
			r.LeftAlone = append(r.LeftAlone, Found{KindData, d, "not marked as raftcmp's own"})
			continue
		case running != 0:
			r.LeftAlone = append(r.LeftAlone, Found{KindData, d, fmt.Sprintf("its run is still running (helper pid %d)", running)})
			continue
		}
		var pids []string
		for _, o := range owners {
			pids = append(pids, o.String())
		}
		r.Leftovers = append(r.Leftovers, Found{KindData, d, strings.Join(pids, ", ")})
		if !r.DryRun {
			if err := os.RemoveAll(d); err != nil {
				r.fail("remove %s: %v", d, err)
			}
		}
	}
}

// network removes raftcmp's network tables and their qdiscs, unless a
// run is live on the host (its rules are in use) or this user could not
// have made any (not root).
func (r *CleanupReport) network(live bool) {
	if os.Geteuid() != 0 {
		return
	}
	h, err := netrules.Open(netns.None())
	if err != nil {
		return // no nftables here: nobody made rules
	}
	defer h.Close()
	tables, err := h.Tables()
	if err != nil {
		return
	}
	if live {
		for _, t := range tables {
			r.LeftAlone = append(r.LeftAlone, Found{KindNet, t, "a run is live on this host"})
		}
		return
	}
	for _, t := range tables {
		r.Leftovers = append(r.Leftovers, Found{KindNet, t, "a killed run"})
	}
	if r.DryRun || len(tables) == 0 {
		return
	}
	if _, err := h.Cleanup(); err != nil {
		r.fail("remove network rules: %v", err)
	}
}

// cgroups handles the cgroups raftcmp marked as its own in dir (one file
// per group, see cgroupsSubdir): while a run is live on the host they are
// left alone (they may be its); otherwise each is deleted, then its mark.
// (Testbed hosts share one machine's cgroup tree, and each host keeps its
// own marks, so cleanup of one host removes only that host's groups.)
func (r *CleanupReport) cgroups(dir string, live bool) {
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		r.fail("read %s: %v", dir, err)
	}
	if len(entries) == 0 {
		return
	}
	m, err := hostCgroups()
	for _, e := range entries {
		name := e.Name()
		switch {
		case live:
			r.LeftAlone = append(r.LeftAlone, Found{KindCgroup, name, "a run is live on this host"})
			continue
		case err != nil:
			r.fail("cgroup %s: %v", name, err)
			continue
		}
		r.Leftovers = append(r.Leftovers, Found{KindCgroup, name, "a killed run"})
		if r.DryRun {
			continue
		}
		if err := m.Remove(name); err != nil {
			r.fail("remove cgroup %s: %v", name, err)
			continue
		}
		os.Remove(path.Join(dir, name))
	}
}

// ledgers removes what the host's ownership ledgers name (cgroups, data
// directories) for processes no longer running, as `raftcmp cleanup`
// does on its own machine.
func (r *CleanupReport) ledgers() {
	s, err := ownership.Find(nil)
	if err != nil {
		r.fail("ledgers: %v", err)
		return
	}
	for _, it := range s.InUse {
		r.LeftAlone = append(r.LeftAlone, Found{string(it.Kind), it.Name, fmt.Sprintf("its run (%s) is still running", it.Owner)})
	}
	for _, it := range s.Leftovers {
		r.Leftovers = append(r.Leftovers, Found{string(it.Kind), it.Name, it.Owner.String()})
	}
	if r.DryRun || len(s.Leftovers) == 0 {
		return
	}
	var removeCgroup func(string) error
	if m, err := cgroup.NewManager(cgroup.DefaultRoot); err == nil && cgroup.Available() == nil {
		removeCgroup = m.Remove
	}
	if _, err := s.Remove(removeCgroup); err != nil {
		r.fail("%v", err)
	}
	if removeCgroup == nil && s.Count(ownership.Cgroup) > 0 {
		r.fail("cgroups kept: removing them needs root and a cgroup file system")
	}
}

// procStat reads /proc/PID/stat with procfs.
func procStat(pid int) (procfs.ProcStat, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return procfs.ProcStat{}, err
	}
	return p.Stat()
}
