package reports

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Meta is meta.json: everything needed to know how a run was made.
type Meta struct {
	// Command is raftcmp's argv.
	Command []string `json:"command"`
	// Experiment is the resolved experiment spec.
	Experiment any `json:"experiment"`
	// Raftcmp is the harness's own build.
	Raftcmp BuildInfo `json:"raftcmp"`
	// Plugins are the backends as their plugin processes described them.
	Plugins []PluginMeta `json:"plugins"`
	// Host describes the machine.
	Host Host `json:"host"`
	// Hosts, in a run with --hosts, says where each node ran; empty when
	// every node ran on this machine.
	Hosts []NodeHost `json:"hosts,omitempty"`
	// DataRoot is where node data directories were created; DataFS its
	// file system type.
	DataRoot string `json:"data_root"`
	DataFS   string `json:"data_fs"`
	// RunID names the run's cgroups (raftcmp-<RunID>-p<point>-n<node>) and
	// network rules; a resumed run records its latest. Empty in older files.
	RunID string `json:"run_id,omitempty"`
	// Started and Ended bound the run (Ended is zero while it runs).
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	// Interrupted is set when the run was stopped before its last point.
	Interrupted bool `json:"interrupted"`
	// Fingerprint identifies the settings that make rows comparable (all
	// but the swept dimensions; experiment.Spec.Comparable): a resumed run
	// must have the same. Comparable is those settings, for the error.
	Fingerprint string `json:"fingerprint,omitempty"`
	Comparable  any    `json:"comparable,omitempty"`
	// Resumes records each later `raftcmp run --resume` of this directory.
	Resumes []Resume `json:"resumes,omitempty"`
	// Preflight is what core/preflight found on this machine when the run
	// started (a resumed run keeps its first start's); empty in older files.
	Preflight []Finding `json:"preflight,omitempty"`
}

// Finding is one preflight check of the machine (core/preflight, `raftcmp
// doctor`): what was found, what it means for the results and what to
// change to remove the doubt.
type Finding struct {
	// Check names what was inspected: cores, governor, turbo, smt, thp,
	// swap, data-dir, cgroups, clocksource, busy-processes.
	Check    string   `json:"check"`
	Severity Severity `json:"severity"`
	// Found is what the machine has, in one line.
	Found string `json:"found"`
	// Means is what that does to the results.
	Means string `json:"means"`
	// Change is what to do about it; empty when nothing needs doing.
	Change string `json:"change,omitempty"`
}

// Severity grades a Finding.
type Severity string

const (
	// SeverityOK: nothing here distorts the results.
	SeverityOK Severity = "ok"
	// SeverityWarn: the results are valid for this machine but carry a
	// distortion a reader should know about.
	SeverityWarn Severity = "warn"
	// SeverityBad: a run here would not measure what it claims to.
	SeverityBad Severity = "bad"
)

// Resume is one resumption of a run.
type Resume struct {
	Command []string  `json:"command"`
	Started time.Time `json:"started"`
	Skipped int       `json:"skipped_points"`
}

// BuildInfo identifies a binary.
type BuildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Modified  bool   `json:"modified"`
	GoVersion string `json:"go_version"`
}

// PluginMeta describes one backend's plugin.
type PluginMeta struct {
	Name              string   `json:"name"`
	Path              string   `json:"path"`
	Module            string   `json:"module"`
	Version           string   `json:"version"`
	GoVersion         string   `json:"go_version"`
	ForwardsProposals bool     `json:"forwards_proposals"`
	Storage           []string `json:"storage"`
	// Settings is what the plugin said, when the run started, a node of
	// this experiment runs with (adapter.Node.Settings), and Unhonoured
	// the shared knobs it could not apply as asked ("knob=value:
	// reason"). Absent in runs before --raft existed.
	Settings   []SettingMeta `json:"settings,omitempty"`
	Unhonoured []string      `json:"unhonoured,omitempty"`
}

// SettingMeta is one adapter.Setting as meta.json records it.
type SettingMeta struct {
	Knob   string `json:"knob,omitempty"`
	Name   string `json:"name"`
	Value  string `json:"value"`
	Source string `json:"source"`
	Note   string `json:"note,omitempty"`
}

// NodeHost is the remote host one node ran on.
type NodeHost struct {
	Node     int    `json:"node"`
	Host     string `json:"host"`      // its name in the hosts file
	SSH      string `json:"ssh"`       // the address raftcmp reached it at
	DataAddr string `json:"data_addr"` // the address the nodes used between each other
	// Machine is the host's kernel boot id: hosts with the same one are
	// one machine (namespaces or containers on one kernel, as raftcmp
	// testbed makes them). Empty when unknown.
	Machine string `json:"machine,omitempty"`
}

// Host describes the machine a run used.
type Host struct {
	Kernel      string `json:"kernel"`
	CPUModel    string `json:"cpu_model"`
	CPUs        int    `json:"cpus"`
	MemoryBytes uint64 `json:"memory_bytes"`
	CgroupMode  string `json:"cgroup_mode"`
}

// buildCommit and buildModified are set by the linker when make builds
// raftcmp (-X, from git rev-parse HEAD and git status --porcelain in the
// source tree): the commit, and "true" or "false" for uncommitted changes.
// Go's own VCS stamping is not enough: it is off when GOFLAGS says
// -buildvcs=false, it does not recognise a git worktree (its .git is a
// file; golang/go#58218), and in a worktree nested inside another checkout
// it stamps that checkout's commit.
var (
	buildCommit   string
	buildModified string
)

// SelfBuild describes the running raftcmp binary: the commit and modified
// flag make recorded at link time, or else Go's VCS stamp; Commit is empty
// when neither is there (go run, or go build without make).
func SelfBuild() BuildInfo {
	b := BuildInfo{Version: "unknown", GoVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		b.Version = info.Main.Version
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if buildCommit != "" {
		b.Commit, b.Modified = buildCommit, buildModified == "true"
	}
	return b
}

// String describes the build on one line: version, full commit (and
// whether the tree had uncommitted changes), Go version.
func (b BuildInfo) String() string { return b.describe(b.Commit) }

// describe is String with the commit written as given (reports shorten it).
func (b BuildInfo) describe(commit string) string {
	if commit == "" {
		commit = "unknown"
	}
	s := fmt.Sprintf("%s, commit %s", b.Version, commit)
	if b.Modified {
		s += " (with uncommitted changes)"
	}
	return s + ", " + b.GoVersion
}

// ProbeHost reads the machine's description from the kernel.
func ProbeHost() Host {
	h := Host{CPUs: runtime.NumCPU(), CgroupMode: CgroupMode("/sys/fs/cgroup")}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		h.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:])
	}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		h.MemoryBytes = uint64(si.Totalram) * uint64(si.Unit)
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				h.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return h
}

// CgroupMode says how cgroups are mounted at root: "v2" (unified), "v1"
// (legacy or hybrid) or "none".
func CgroupMode(root string) string {
	var st unix.Statfs_t
	if unix.Statfs(root, &st) != nil {
		return "none"
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "v2"
	}
	return "v1"
}

// FSType names the file system holding path, for the record: a "disk"
// result measured on tmpfs is not a disk result.
func FSType(path string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return "unknown"
	}
	switch st.Type {
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlay"
	case unix.NFS_SUPER_MAGIC:
		return "nfs"
	}
	return fmt.Sprintf("0x%x", st.Type)
}

// WriteMeta writes meta.json in dir, replacing it atomically.
func WriteMeta(dir string, m *Meta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode meta: %w", err)
	}
	return writeFileAtomic(dir+"/"+MetaFile, append(b, '\n'))
}

// ReadMeta reads meta.json from dir. Errors name the file and, for bad
// JSON, the line.
func ReadMeta(dir string) (*Meta, error) {
	path := filepath.Join(dir, MetaFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, jsonError(path, b, err)
	}
	return &m, nil
}

// jsonError names the file and the line of a JSON decoding error.
func jsonError(path string, data []byte, err error) error {
	var offset int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		offset = se.Offset
	case errors.As(err, &te):
		offset = te.Offset
	}
	if offset < 0 || offset > int64(len(data)) {
		return fmt.Errorf("%s: %w", path, err)
	}
	line := 1 + bytes.Count(data[:offset], []byte("\n"))
	return fmt.Errorf("%s:%d: %w", path, line, err)
}

// writeFileAtomic writes via a temporary file and rename, so a reader never
// sees half a file.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
