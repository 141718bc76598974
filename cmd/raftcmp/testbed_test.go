package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/raftcmp/raftcmp/core/hosts"
)

// Bad input to testbed up/down: one line, status 2, nothing made.
func TestTestbedBadInput(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	if err := os.MkdirAll(filepath.Join(full, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no dir", []string{"testbed", "up", "--hosts", "2"}, "--dir: missing"},
		{"zero hosts", []string{"testbed", "up", "--hosts", "0", "--dir", dir + "/tb"}, "--hosts 0: want 1..64"},
		{"too many hosts", []string{"testbed", "up", "--hosts", "100", "--dir", dir + "/tb"}, "--hosts 100: want 1..64"},
		{"dir not empty", []string{"testbed", "up", "--dir", full}, "not empty: want a new or empty directory"},
		{"unparsable hosts", []string{"testbed", "up", "--hosts", "three", "--dir", dir + "/tb"}, `invalid value "three" for flag -hosts`},
		{"stray argument", []string{"testbed", "up", "--dir", dir + "/tb", "extra"}, "testbed up takes no arguments"},
		{"down without dir", []string{"testbed", "down"}, "--dir: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := raftcmp(t, tt.args...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
				t.Errorf("status %d, stderr %q; want %d and one line with %q", code, stderr, exitUsage, tt.want)
			}
			if _, err := os.Stat(dir + "/tb"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("bad input made %s", dir+"/tb")
			}
		})
	}
}

// A user other than root is refused with one line and status 2. Run as
// root, the test drops to nobody for the command.
func TestTestbedNeedsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		code, _, stderr := raftcmp(t, "testbed", "up", "--dir", filepath.Join(t.TempDir(), "tb"))
		if code != exitUsage || !strings.Contains(stderr, "needs root") {
			t.Errorf("status %d, stderr %q; want %d, needs root", code, stderr, exitUsage)
		}
		return
	}
	// A copy nobody may execute (the build directory is root's alone).
	bin, err := os.MkdirTemp("", "raftcmp-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(bin) })
	b, err := os.ReadFile(raftcmpBin)
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(bin, "raftcmp")
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"testbed", "up", "--dir", "/nonexistent/tb"}, {"testbed", "down", "--dir", "/nonexistent/tb"}} {
		cmd := exec.Command(exe, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitUsage || !strings.Contains(string(out), "needs root") {
			t.Errorf("%v as nobody: %v, %q; want status %d and needs root", args, err, out, exitUsage)
		}
	}
}

// The commands end to end, as root: the hosts' init is the raftcmp binary
// itself (testbed.MaybeRunHost in main), and down removes all of it.
func TestTestbedUpDown(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("testbed tests need root (namespaces, links, mounts): skipped for a non-root user")
	}
	dir := filepath.Join(t.TempDir(), "tb")
	t.Cleanup(func() { raftcmp(t, "testbed", "down", "--dir", dir) })
	code, stdout, stderr := raftcmp(t, "testbed", "up", "--hosts", "2", "--dir", dir)
	if code != 0 {
		t.Fatalf("up: status %d: %s", code, stderr)
	}
	f, err := hosts.Load(filepath.Join(dir, "hosts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Hosts) != 2 || !strings.Contains(stdout, f.Hosts[1].DataAddr) {
		t.Errorf("hosts file %+v, output:\n%s", f.Hosts, stdout)
	}
	if code, _, stderr := raftcmp(t, "testbed", "up", "--dir", dir); code != exitUsage || !strings.Contains(stderr, "holds a testbed") {
		t.Errorf("up on a testbed: status %d, %q; want %d, holds a testbed", code, stderr, exitUsage)
	}
	for i := 0; i < 2; i++ { // the second is a no-op
		code, stdout, stderr := raftcmp(t, "testbed", "down", "--dir", dir)
		if code != 0 {
			t.Fatalf("down #%d: status %d: %s", i+1, code, stderr)
		}
		if want := []string{"removed", "nothing to remove"}[i]; !strings.Contains(stdout, want) {
			t.Errorf("down #%d said %q, want %q", i+1, stdout, want)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("down left %s", dir)
	}
	var names int
	for _, w := range strings.Fields(stdout) {
		if strings.HasPrefix(w, "raftcmp-tb-") {
			names++
			if _, err := os.Lstat(filepath.Join("/run/netns", w)); err == nil {
				t.Errorf("network namespace %s left", w)
			}
		}
	}
	if names != 2 {
		t.Errorf("up listed %d network namespaces, want 2:\n%s", names, stdout)
	}
}
