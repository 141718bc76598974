package ownership

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// deadOwner is a process that has ended: a child that ran and was reaped.
func deadOwner(t *testing.T) Owner {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return Owner{PID: cmd.Process.Pid, Start: 1, Boot: bootID()}
}

// zombie is a child that has exited but is not reaped yet.
func zombie(t *testing.T) Owner {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Wait() })
	pid := cmd.Process.Pid
	// Wait, without reaping, until it has exited (waitid with WNOWAIT).
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	start, err := startTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	return Owner{PID: pid, Start: start, Boot: bootID()}
}

// liveOwner is a running child process, ended when the test ends.
func liveOwner(t *testing.T) Owner {
	t.Helper()
	cmd := exec.Command("cat")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	start, err := startTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return Owner{PID: cmd.Process.Pid, Start: start, Boot: bootID()}
}

// isolate points the ledgers at a fresh state directory.
func isolate(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	t.Setenv(StateDirEnv, dir)
	t.Cleanup(func() {
		if held := Held(); len(held) > 0 {
			t.Errorf("the test left things recorded: %v", held)
		}
	})
	return dir
}

// markedDir makes root/name marked as o's.
func markedDir(t *testing.T, root, name string, o Owner) string {
	t.Helper()
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Join(dir, "node-1"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := writeMark(dir, o); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestOwnerRunning(t *testing.T) {
	live := liveOwner(t)
	for _, tc := range []struct {
		name  string
		owner Owner
		want  bool
	}{
		{"this process", Self(), true},
		{"a running child", live, true},
		{"an ended child", deadOwner(t), false},
		{"an ended child not yet reaped", zombie(t), false},
		{"a reused pid (another start time)", Owner{PID: live.PID, Start: live.Start + 1, Boot: live.Boot}, false},
		{"before a reboot", Owner{PID: live.PID, Start: live.Start, Boot: "another-boot"}, false},
		{"no pid", Owner{}, false},
	} {
		if got := tc.owner.Running(); got != tc.want {
			t.Errorf("%s: Running() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Find sorts the directories of a data root: marked by a process that
// ended (a leftover), marked by a running one (in use), marked by this one
// (not listed), unmarked (a look-alike); and Remove removes the leftover
// only.
func TestFindAndRemoveDataDirs(t *testing.T) {
	isolate(t)
	root := t.TempDir()
	dead, live := deadOwner(t), liveOwner(t)
	leftover := markedDir(t, root, "raftcmp-etcd-1", dead)
	inUse := markedDir(t, root, "raftcmp-etcd-2", live)
	mine := markedDir(t, root, "raftcmp-etcd-3", Self())
	lookAlike := filepath.Join(root, "raftcmp-build-cache")
	os.MkdirAll(filepath.Join(lookAlike, "objects"), 0o755)
	badMark := filepath.Join(root, "raftcmp-bad-mark")
	os.MkdirAll(badMark, 0o755)
	os.WriteFile(filepath.Join(badMark, MarkFile), []byte("not json"), 0o600)
	other := markedDir(t, root, "not-raftcmp", dead)
	// A link named like a data dir to a marked leftover elsewhere: neither
	// the link nor its target is touched.
	target := markedDir(t, t.TempDir(), "raftcmp-target", dead)
	os.Symlink(target, filepath.Join(root, "raftcmp-link"))

	s, err := Find([]string{root, filepath.Join(root, "missing")})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Item{{DataDir, leftover, dead}}; !slices.Equal(s.Leftovers, want) {
		t.Errorf("leftovers %v, want %v", s.Leftovers, want)
	}
	if want := []Item{{DataDir, inUse, live}}; !slices.Equal(s.InUse, want) {
		t.Errorf("in use %v, want %v", s.InUse, want)
	}
	if want := []string{badMark, lookAlike}; !slices.Equal(s.LookAlikes, want) {
		t.Errorf("look-alikes %v, want %v", s.LookAlikes, want)
	}
	if got := s.Owners(); !slices.Equal(got, []Owner{dead}) {
		t.Errorf("owners %v, want %v", got, dead)
	}
	removed, err := s.Remove(nil)
	if err != nil || !slices.Equal(removed, s.Leftovers) {
		t.Fatalf("Remove: %v, %v; want %v", removed, err, s.Leftovers)
	}
	if isDir(leftover) {
		t.Errorf("leftover %s not removed", leftover)
	}
	for _, d := range []string{inUse, mine, lookAlike, badMark, other, target} {
		if !isDir(d) {
			t.Errorf("%s was removed; it is not a leftover", d)
		}
	}
}

// A ledger names cgroups and data directories outside the default roots;
// a dead process's ledger is honoured and deleted once all it lists is
// gone, a live one's is left alone.
func TestLedgers(t *testing.T) {
	state := isolate(t)
	dead, live := deadOwner(t), liveOwner(t)
	custom := t.TempDir()
	deadDir := markedDir(t, custom, "raftcmp-hashicorp-7", dead)
	unmarked := filepath.Join(custom, "raftcmp-hashicorp-8") // killed between mkdir and mark
	os.Mkdir(unmarked, 0o700)
	liveDir := markedDir(t, custom, "raftcmp-hashicorp-9", live)
	if _, err := stateDir(); err != nil {
		t.Fatal(err)
	}
	for _, l := range []*ledger{
		{Owner: dead, Items: []Item{{Kind: Cgroup, Name: "raftcmp-run1-p1-n1"}, {Kind: DataDir, Name: deadDir}, {Kind: DataDir, Name: unmarked}, {Kind: DataDir, Name: filepath.Join(custom, "raftcmp-never-made")}}},
		{Owner: live, Items: []Item{{Kind: Cgroup, Name: "raftcmp-run2-p1-n1"}, {Kind: DataDir, Name: liveDir}}},
	} {
		if err := writeLedger(l); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Find(nil)
	if err != nil {
		t.Fatal(err)
	}
	wantLeft := []Item{{Cgroup, "raftcmp-run1-p1-n1", dead}, {DataDir, deadDir, dead}, {DataDir, unmarked, dead}}
	if !slices.Equal(s.Leftovers, wantLeft) {
		t.Errorf("leftovers %v, want %v", s.Leftovers, wantLeft)
	}
	wantUse := []Item{{Cgroup, "raftcmp-run2-p1-n1", live}, {DataDir, liveDir, live}}
	if !slices.Equal(s.InUse, wantUse) {
		t.Errorf("in use %v, want %v", s.InUse, wantUse)
	}
	if s.Count(Cgroup) != 1 || s.Count(DataDir) != 2 {
		t.Errorf("counts: %d cgroups, %d data dirs; want 1, 2", s.Count(Cgroup), s.Count(DataDir))
	}

	// Without a way to remove cgroups, the dead ledger stays: it still
	// names one.
	if _, err := s.Remove(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ledgerPath(dead)); err != nil {
		t.Errorf("dead ledger deleted while it still names a cgroup: %v", err)
	}
	s, _ = Find(nil)
	var gone []string
	removed, err := s.Remove(func(name string) error { gone = append(gone, name); return nil })
	if err != nil || len(removed) != 1 || !slices.Equal(gone, []string{"raftcmp-run1-p1-n1"}) {
		t.Fatalf("Remove: %v, %v, cgroups %v", removed, err, gone)
	}
	if _, err := os.Stat(ledgerPath(dead)); !os.IsNotExist(err) {
		t.Errorf("dead ledger kept after everything it named was removed: %v", err)
	}
	if _, err := os.Stat(ledgerPath(live)); err != nil {
		t.Errorf("live ledger: %v", err)
	}
	if !isDir(liveDir) {
		t.Errorf("live run's data dir removed")
	}
	entries, _ := os.ReadDir(state)
	if len(entries) != 1 {
		t.Errorf("state dir holds %d files, want the live ledger only", len(entries))
	}
}

// This process's own ledger lists what it holds, from before each thing
// exists until after it is gone, and disappears when it holds nothing.
func TestRecordForgetMkdirTemp(t *testing.T) {
	isolate(t)
	root := t.TempDir()
	path := ledgerPath(Self())
	if err := Record(Cgroup, "raftcmp-x-n1"); err != nil {
		t.Fatal(err)
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	gone, err := MkdirTemp(root, "raftcmp-noop-")
	if err != nil {
		t.Fatal(err)
	}
	kept, err := MkdirTemp(root, "raftcmp-noop-")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(gone) != absRoot || gone == kept {
		t.Errorf("MkdirTemp made %s and %s in %s", gone, kept, absRoot)
	}
	if o, err := readMark(gone); err != nil || o != Self() {
		t.Errorf("mark of %s: %v, %v; want this process", gone, o, err)
	}
	l := readLedgerFile(t, path)
	want := []Item{{Kind: Cgroup, Name: "raftcmp-x-n1"}, {Kind: DataDir, Name: gone}, {Kind: DataDir, Name: kept}}
	if !slices.Equal(l.Items, want) || l.Owner != Self() || time.Since(l.Started) > time.Hour {
		t.Errorf("ledger %+v, want items %v of this process", l, want)
	}

	// Removal that failed leaves the directory recorded.
	ReleaseDir(gone, false)
	if len(Held()) != 3 {
		t.Errorf("a data dir still present was forgotten: %v", Held())
	}
	os.RemoveAll(gone)
	ReleaseDir(gone, false)
	ReleaseDir(kept, true)
	if _, err := os.Stat(filepath.Join(kept, MarkFile)); !os.IsNotExist(err) {
		t.Errorf("a kept data dir keeps its mark: %v", err)
	}
	if !isDir(kept) {
		t.Errorf("ReleaseDir removed a kept directory")
	}
	if got := readLedgerFile(t, path).Items; !slices.Equal(got, want[:1]) {
		t.Errorf("ledger after release: %v, want %v", got, want[:1])
	}
	Forget(Cgroup, "raftcmp-x-n1")
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("ledger of a process holding nothing still exists: %v", err)
	}
	if _, err := MkdirTemp(root, "cache-"); err == nil {
		t.Errorf("MkdirTemp accepted a prefix without %q", Prefix)
	}
}

// Nobody else may write the ledgers cleanup trusts.
func TestStateDirMustBeOwn(t *testing.T) {
	state := isolate(t)
	if err := os.Mkdir(state, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(state, 0o777)
	if err := Record(Cgroup, "raftcmp-y-n1"); err == nil {
		Forget(Cgroup, "raftcmp-y-n1")
		t.Fatalf("Record into a world-writable state dir succeeded")
	}
	if _, err := Find(nil); err == nil {
		t.Errorf("Find read ledgers from a world-writable state dir")
	}
	if len(Held()) != 0 {
		t.Errorf("a failed Record left %v held", Held())
	}
}

func readLedgerFile(t *testing.T, path string) ledger {
	t.Helper()
	ls, err := readLedgers()
	if err != nil {
		t.Fatal(err)
	}
	l, ok := ls[path]
	if !ok {
		t.Fatalf("no ledger %s among %v", path, ls)
	}
	return l
}
