package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/ownership"
	"github.com/raftcmp/raftcmp/faults/cgroup"
)

// eventually waits until cond holds, failing the test after a minute.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within a minute", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// longRun starts a `raftcmp run` of one long point with its data in
// dataRoot, waits until its cluster's data directory (and, with a cgroup
// fault, its cgroups) exist, and returns the process and that directory.
// It is killed when the test ends, if still running.
func longRun(t *testing.T, dataRoot string, withCgroups bool) (*exec.Cmd, string) {
	t.Helper()
	args := []string{"run", "--plugin-dir", pluginDir(t), "--impl", "hashicorp", "--threads", "1", "--rate", "100", "--duration", "5m", "--warmup", "0s",
		"--storage", "memory", "--out", filepath.Join(t.TempDir(), "out"), "--data-dir", dataRoot}
	if withCgroups {
		args = append(args, "--fault", "cpu-slow:follower,quota=50%,period=100ms")
	}
	cmd := exec.Command(raftcmpBin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	var dir string
	eventually(t, "data directory of pid "+strconv.Itoa(cmd.Process.Pid), func() bool {
		dirs, _ := filepath.Glob(filepath.Join(dataRoot, "raftcmp-hashicorp-*"))
		if len(dirs) == 1 {
			dir = dirs[0]
		}
		return dir != "" && (!withCgroups || len(heldCgroups(t, cmd.Process.Pid)) == 3)
	})
	return cmd, dir
}

// heldCgroups lists the cgroups the ledger of process pid names.
func heldCgroups(t *testing.T, pid int) []string {
	s, err := ownership.Find(nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, it := range slices.Concat(s.InUse, s.Leftovers) {
		if it.Owner.PID == pid && it.Kind == ownership.Cgroup {
			names = append(names, it.Name)
		}
	}
	return names
}

// cleanup removes only what raftcmp marked as its own and whose run has
// ended: a killed run's data directory (and, as root, its cgroups) go; a
// running run's things and a look-alike directory stay, and are listed.
// The first run after the killed one says what it left, in one line, and
// goes on.
func TestCleanupRemovesOnlyOwnLeftovers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real clusters; skipped in -short")
	}
	t.Setenv(ownership.StateDirEnv, t.TempDir())
	// Runs' default data root is the temporary directory: this test's own,
	// so that what other runs on this machine left does not join the notice.
	// (The plugins are built first, where the other tests find them.)
	pluginDir(t)
	t.Setenv("TMPDIR", t.TempDir())
	withCgroups := os.Geteuid() == 0 && cgroup.Available() == nil
	if !withCgroups {
		t.Log("no cgroups here (needs root): data directories only")
	}
	root := t.TempDir()
	lookAlike := filepath.Join(root, "raftcmp-build-cache")
	if err := os.MkdirAll(filepath.Join(lookAlike, "objects"), 0o755); err != nil {
		t.Fatal(err)
	}
	killed, killedDir := longRun(t, root, withCgroups)
	killedCgroups := heldCgroups(t, killed.Process.Pid)
	running, runningDir := longRun(t, t.TempDir(), false)
	killed.Process.Kill()
	killed.Wait()

	// The next run mentions the leftovers once and runs.
	code, _, stderr := raftcmp(t, "run", "--plugin-dir", pluginDir(t), "--impl", "hashicorp", "--threads", "1", "--duration", "200ms",
		"--warmup", "0s", "--interval", "100ms", "--storage", "memory", "--out", filepath.Join(t.TempDir(), "out"))
	if code != 0 {
		t.Fatalf("run after a killed one: exit %d: %s", code, stderr)
	}
	var notices []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, "killed run") {
			notices = append(notices, l)
		}
	}
	want := "raftcmp: a killed run (pid " + strconv.Itoa(killed.Process.Pid) + ") left "
	if len(notices) != 1 || !strings.HasPrefix(notices[0], want) || !strings.Contains(notices[0], "1 data directory") || !strings.Contains(notices[0], "raftcmp cleanup` removes them") {
		t.Errorf("notices %q: want one line starting %q naming the data directory and raftcmp cleanup", notices, want)
	}
	if withCgroups && !strings.Contains(notices[0], "3 cgroups") {
		t.Errorf("notice %q does not count the 3 cgroups", notices[0])
	}

	code, stdout, stderr := raftcmp(t, "cleanup", "--data-dir", root)
	if code != 0 {
		t.Fatalf("cleanup: exit %d: %s", code, stderr)
	}
	for _, line := range []string{
		"removed data dir " + killedDir + " (left by pid " + strconv.Itoa(killed.Process.Pid) + ")",
		"left alone: data dir " + runningDir + ": its run (pid " + strconv.Itoa(running.Process.Pid) + ") is still running",
		"left alone: " + lookAlike + ": not marked as raftcmp's own",
	} {
		if !strings.Contains(stdout, line+"\n") {
			t.Errorf("cleanup output lacks %q:\n%s", line, stdout)
		}
	}
	if _, err := os.Stat(killedDir); !os.IsNotExist(err) {
		t.Errorf("the killed run's data dir is still there: %v", err)
	}
	for _, d := range []string{runningDir, filepath.Join(lookAlike, "objects")} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("cleanup removed %s, which is not a leftover: %v", d, err)
		}
	}
	if withCgroups {
		m, err := cgroup.NewManager(cgroup.DefaultRoot)
		if err != nil {
			t.Fatal(err)
		}
		names, err := m.List()
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range killedCgroups {
			if !strings.Contains(stdout, "removed cgroup "+g+" ") {
				t.Errorf("cleanup output does not say it removed cgroup %s:\n%s", g, stdout)
			}
			if slices.Contains(names, g) {
				t.Errorf("cgroup %s of the killed run is still there", g)
			}
		}
	}
	if ledgers, _ := filepath.Glob(filepath.Join(ownership.StateDir(), strconv.Itoa(killed.Process.Pid)+"-*.json")); len(ledgers) > 0 {
		t.Errorf("the killed run's ledger survived the cleanup: %v", ledgers)
	}

	// Once the other run is killed too, its leftovers go; the runs that
	// ended cleanly left no ledger behind.
	running.Process.Kill()
	running.Wait()
	if _, stdout, _ := raftcmp(t, "cleanup"); !strings.Contains(stdout, "removed data dir "+runningDir+" ") {
		t.Errorf("cleanup once the second run was killed:\n%s", stdout)
	}
	if _, stdout, _ := raftcmp(t, "cleanup", "--dry-run"); !strings.Contains(stdout, "nothing to clean up") || strings.Contains(stdout, "would remove") {
		t.Errorf("cleanup after every run was cleaned up:\n%s", stdout)
	}
	if ledgers, _ := os.ReadDir(ownership.StateDir()); len(ledgers) > 0 {
		t.Errorf("ledgers left in the state dir: %v", ledgers)
	}
}
