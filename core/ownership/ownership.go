// Package ownership marks what raftcmp creates outside its results
// directory (node data directories and cgroups) as its own, so that what a
// killed run leaves behind can be found and removed, and nothing else is.
//
// Two records, written before or as each thing is created:
//
//   - A ledger per process: a small JSON file in StateDir naming the
//     process (pid, start time, boot) and every data directory and cgroup it
//     holds. Record adds a thing before it is created, Forget drops it once
//     removed; the file is deleted when the process holds nothing, so a
//     ledger that outlives its process lists exactly what that process left.
//   - A mark inside each data directory (MarkFile) naming its creator, so
//     that a directory found by its name in a data root can be told apart
//     from a look-alike: a directory that merely starts with "raftcmp-" (a
//     build cache, a test's files) carries no mark and is never removed.
//
// Find gathers both and sorts what it saw into leftovers (the creator is no
// longer running), things in use (it is) and look-alikes (no mark).
// Survey.Remove removes the leftovers only.
//
// cgroups cannot carry a mark (a cgroup directory holds only the kernel's
// files), so a cgroup is raftcmp's own only if a ledger names it; the
// package that creates cgroups records each name before creating it.
package ownership

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/procfs"
)

// Kind is what a recorded thing is.
type Kind string

// The kinds of things raftcmp creates and must remove.
const (
	DataDir Kind = "data dir" // Name is the directory's absolute path
	Cgroup  Kind = "cgroup"   // Name is the group's name
)

// Prefix starts the name of every data directory raftcmp creates; Find
// looks at the directories of a data root that start with it.
const Prefix = "raftcmp-"

// MarkFile is the file inside a data directory that names its creator.
const MarkFile = ".raftcmp-owner"

// StateDirEnv, when set, names the directory ledgers are kept in instead
// of the default (see StateDir).
const StateDirEnv = "RAFTCMP_STATE_DIR"

// Owner identifies a process such that a later process given the same pid
// is not mistaken for it.
type Owner struct {
	PID int `json:"pid"`
	// Start is the process's start time in clock ticks after boot
	// (/proc/PID/stat, field 22).
	Start uint64 `json:"start"`
	// Boot is the kernel's boot id: pids and start times restart at boot.
	Boot string `json:"boot"`
}

// String names the owner for people: its pid.
func (o Owner) String() string { return "pid " + strconv.Itoa(o.PID) }

// Self is the calling process.
func Self() Owner {
	selfOnce.Do(func() {
		self = Owner{PID: os.Getpid(), Boot: bootID()}
		self.Start, _ = startTime(self.PID)
	})
	return self
}

var (
	selfOnce sync.Once
	self     Owner
)

// Running reports whether the process o is still running: a process with
// its pid exists, started at the same time, since the same boot.
func (o Owner) Running() bool {
	if o.PID <= 0 || o.Boot != bootID() {
		return false
	}
	st, err := procStat(o.PID)
	// A zombie has ended: it only waits for its parent to reap it.
	return err == nil && st.Starttime == o.Start && st.State != "Z" && st.State != "X"
}

// procStat reads /proc/PID/stat with procfs, a well-kept parser of a line
// whose command name may hold spaces and parentheses.
func procStat(pid int) (procfs.ProcStat, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return procfs.ProcStat{}, err
	}
	return p.Stat()
}

// startTime is a process's start time in clock ticks after boot.
func startTime(pid int) (uint64, error) {
	st, err := procStat(pid)
	return st.Starttime, err
}

// bootID is the kernel's boot id, or "" where it cannot be read.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// StateDir is where ledgers are kept: $RAFTCMP_STATE_DIR if set; for root
// /run/raftcmp (on most systems a RAM file system emptied at boot, as
// cgroups are); otherwise $XDG_STATE_HOME/raftcmp or ~/.local/state/raftcmp,
// or, without a home, raftcmp-state-<uid> in the temporary directory.
func StateDir() string {
	if d := os.Getenv(StateDirEnv); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/run/raftcmp"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "raftcmp")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "raftcmp")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("raftcmp-state-%d", os.Geteuid()))
}

// Item is one thing a process recorded or marked as its own.
type Item struct {
	Kind  Kind   `json:"kind"`
	Name  string `json:"name"`
	Owner Owner  `json:"-"`
}

// String names the item for people: "data dir /tmp/raftcmp-etcd-1".
func (it Item) String() string { return string(it.Kind) + " " + it.Name }

// ledger is one process's record of what it holds.
type ledger struct {
	Owner   Owner     `json:"owner"`
	Started time.Time `json:"started"`
	Items   []Item    `json:"items"`
}

// mine is this process's ledger; nil while it holds nothing.
var (
	mu   sync.Mutex
	mine *ledger
)

// Record notes that this process is about to create a thing of the given
// kind, before creating it, so that it is known even if the process is
// killed the moment after. Call Forget once the thing is removed (or was
// never created).
func Record(kind Kind, name string) error {
	mu.Lock()
	defer mu.Unlock()
	if mine == nil {
		mine = &ledger{Owner: Self(), Started: time.Now().UTC()}
	}
	it := Item{Kind: kind, Name: name}
	if slices.Contains(mine.Items, it) {
		return nil
	}
	mine.Items = append(mine.Items, it)
	if err := writeLedger(mine); err != nil {
		if mine.Items = mine.Items[:len(mine.Items)-1]; len(mine.Items) == 0 {
			mine = nil
		}
		return fmt.Errorf("record %s as raftcmp's own: %w", it, err)
	}
	return nil
}

// Forget drops a thing this process recorded, once it is removed. When the
// process holds nothing more its ledger is deleted. A failure to update the
// ledger only leaves the thing listed: cleanup finds it gone.
func Forget(kind Kind, name string) {
	mu.Lock()
	defer mu.Unlock()
	if mine == nil {
		return
	}
	n := len(mine.Items)
	mine.Items = slices.DeleteFunc(mine.Items, func(it Item) bool { return it.Kind == kind && it.Name == name })
	if len(mine.Items) == n {
		return
	}
	if len(mine.Items) == 0 {
		os.Remove(ledgerPath(mine.Owner))
		mine = nil
		return
	}
	writeLedger(mine)
}

// Held lists what this process holds now, in the order it was recorded.
func Held() []Item {
	mu.Lock()
	defer mu.Unlock()
	if mine == nil {
		return nil
	}
	return slices.Clone(mine.Items)
}

func ledgerPath(o Owner) string {
	return filepath.Join(StateDir(), fmt.Sprintf("%d-%d.json", o.PID, o.Start))
}

// writeLedger replaces l's file atomically (a new file renamed over the
// old), so that a reader never sees half of it.
func writeLedger(l *ledger) error {
	dir, err := stateDir()
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".ledger-*")
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), ledgerPath(l.Owner))
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// stateDir creates StateDir if needed and checks it is this user's own: a
// ledger names things that cleanup (run as root) deletes, so nobody else
// may write there.
func stateDir() (string, error) {
	dir := StateDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("state dir: %w (set %s to put it elsewhere)", err, StateDirEnv)
	}
	if err := trusted(dir); err != nil {
		return "", err
	}
	return dir, nil
}

// trusted checks that dir is a real directory owned by this user and not
// writable by group or others.
func trusted(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	if !fi.IsDir() || fi.Mode().Perm()&0o022 != 0 || !ownedByMe(fi) {
		return fmt.Errorf("state dir %s must be a directory of uid %d writable by nobody else (mode %v); set %s to use another", dir, os.Geteuid(), fi.Mode(), StateDirEnv)
	}
	return nil
}

// MkdirTemp creates a new directory in root whose name is prefix followed
// by a random string, as os.MkdirTemp does, and makes it raftcmp's own: it
// is recorded in this process's ledger before it exists and marked
// (MarkFile) as soon as it does. Release it with ReleaseDir. (Not
// os.MkdirTemp itself: it picks the name and creates the directory in one
// call, leaving no moment to record the name first.)
func MkdirTemp(root, prefix string) (string, error) {
	if !strings.HasPrefix(prefix, Prefix) {
		return "", fmt.Errorf("data dir prefix %q must start with %q", prefix, Prefix)
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return "", err
	}
	for range 10000 {
		dir := filepath.Join(root, prefix+strconv.FormatUint(uint64(rand.Uint32()), 10))
		if err := Record(DataDir, dir); err != nil {
			return "", err
		}
		err := os.Mkdir(dir, 0o700)
		if errors.Is(err, fs.ErrExist) {
			Forget(DataDir, dir)
			continue
		}
		if err != nil {
			Forget(DataDir, dir)
			return "", err
		}
		if err := writeMark(dir, Self()); err != nil {
			os.Remove(dir)
			Forget(DataDir, dir)
			return "", fmt.Errorf("mark %s as raftcmp's own: %w", dir, err)
		}
		return dir, nil
	}
	return "", &fs.PathError{Op: "mkdirtemp", Path: filepath.Join(root, prefix+"*"), Err: fs.ErrExist}
}

// ReleaseDir ends this process's hold on a data directory made by
// MkdirTemp, after removing it, or keeping it on purpose (kept): a kept
// directory loses its mark and so is never removed by cleanup. A directory
// that was to be removed but is still there stays recorded: it is a
// leftover.
func ReleaseDir(dir string, kept bool) {
	if dir == "" {
		return
	}
	if kept {
		os.Remove(filepath.Join(dir, MarkFile))
	} else if _, err := os.Lstat(dir); err == nil {
		return
	}
	Forget(DataDir, dir)
}

func writeMark(dir string, o Owner) error {
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, MarkFile), append(b, '\n'), 0o600)
}

// readMark returns the owner named by dir's mark.
func readMark(dir string) (Owner, error) {
	b, err := os.ReadFile(filepath.Join(dir, MarkFile))
	if err != nil {
		return Owner{}, err
	}
	var o Owner
	if err := json.Unmarshal(b, &o); err != nil || o.PID <= 0 {
		return Owner{}, fmt.Errorf("%s: not a raftcmp mark", filepath.Join(dir, MarkFile))
	}
	return o, nil
}
