package main

import (
	"runtime"
	"strings"
	"testing"

	"github.com/raftcmp/raftcmp/reports"
)

// doctor names every check, the co-location of 3 nodes where the machine
// has fewer than 4 CPUs, exits 1 exactly when a finding is bad (a "disk"
// data directory on tmpfs always is), and refuses bad input with one line.
func TestDoctor(t *testing.T) {
	t.Run("this machine", func(t *testing.T) {
		code, stdout, stderr := raftcmp(t, "doctor", "--nodes", "3")
		for _, check := range []string{"cores", "governor", "turbo", "smt", "thp", "swap", "data-dir", "cgroups", "clocksource", "busy-processes"} {
			if !strings.Contains(stdout, check) {
				t.Errorf("stdout lacks the %s check:\n%s", check, stdout)
			}
		}
		if runtime.NumCPU() < 4 && !strings.Contains(stdout, "share CPUs") {
			t.Errorf("%d CPUs for 3 nodes, and doctor does not name the co-location:\n%s", runtime.NumCPU(), stdout)
		}
		bad := strings.Contains(stdout, "\n"+string(reports.SeverityBad)+" ") || strings.HasPrefix(stdout, string(reports.SeverityBad)+" ")
		if want := map[bool]int{true: exitBadMachine, false: 0}[bad]; code != want {
			t.Errorf("exit %d with a bad finding %v, want %d; stderr %q", code, bad, want, stderr)
		}
	})
	t.Run("disk storage on tmpfs", func(t *testing.T) {
		if reports.FSType("/dev/shm") != "tmpfs" {
			t.Skip("no tmpfs at /dev/shm")
		}
		code, stdout, stderr := raftcmp(t, "doctor", "--storage", "disk", "--data-dir", "/dev/shm/raftcmp-doctor-test")
		if code != exitBadMachine || !strings.Contains(stdout, "bad   data-dir") || !strings.Contains(stderr, "data-dir") {
			t.Errorf("exit %d, stdout %q, stderr %q; want 1 and the data directory named bad", code, stdout, stderr)
		}
	})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nodes", "0"}, "--nodes 0: must be from 1 to 9"},
		{[]string{"--nodes", "x"}, `invalid value "x" for flag -nodes`},
		{[]string{"--storage", "ssd"}, `--storage "ssd": must be one of disk, tmpfs, memory`},
		{[]string{"stray"}, `doctor takes no arguments (got "stray")`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := raftcmp(t, append([]string{"doctor"}, tc.args...)...)
			oneLineError(t, code, exitUsage, stderr, tc.want)
		})
	}
}
