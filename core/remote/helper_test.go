package remote

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/cluster"
)

// helper runs this test binary as the host-side helper (TestMain
// dispatches `host ...` to RunHelper) and returns its status and output.
func helper(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, append([]string{HelperCommand}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	// A stdin that stays open, as a live SSH session's does.
	stdin, keep, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer keep.Close()
	cmd.Stdin = stdin
	err = cmd.Run()
	stdin.Close()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

func TestHelperOperations(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	start, err := startTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	inside := filepath.Join(base, "raftcmp-x-1", "node-1")
	if err := os.MkdirAll(inside, 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout func(string) error // checks stdout, when set
		stderr string             // a substring of the one stderr line, when the status is not 0
	}{
		{"no operation", nil, helperUsage, nil, "no operation"},
		{"unknown operation", []string{"format-disk"}, helperUsage, nil, `unknown operation "format-disk"`},
		{"free ports", []string{opFreePorts, "127.0.0.1", "3"}, 0, func(out string) error {
			ports := strings.Fields(out)
			seen := map[string]bool{}
			for _, p := range ports {
				if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 || seen[p] {
					return fmt.Errorf("port %q", p)
				}
				seen[p] = true
			}
			if len(ports) != 3 {
				return fmt.Errorf("%d ports, want 3", len(ports))
			}
			return nil
		}, ""},
		{"free ports on an address the host lacks", []string{opFreePorts, "192.0.2.1", "1"}, helperFailed, nil, "bind 192.0.2.1 (the host's data_addr)"},
		{"free ports count", []string{opFreePorts, "127.0.0.1", "0"}, helperFailed, nil, `count "0": want 1..64`},
		{"usage of a running process", []string{opUsage, self, strconv.FormatUint(start, 10)}, 0, func(out string) error {
			var u cluster.Usage
			if err := json.Unmarshal([]byte(out), &u); err != nil {
				return err
			}
			if u.PeakRSS == 0 {
				return fmt.Errorf("usage %+v: no memory", u)
			}
			return nil
		}, ""},
		{"usage of a pid whose process changed", []string{opUsage, self, strconv.FormatUint(start+1, 10)}, helperFailed, nil, "process " + self + " has ended"},
		{"pin needs a cpu", []string{opPin, self, strconv.FormatUint(start, 10)}, helperFailed, nil, "want PID STARTTIME CPU"},
		{"remove outside base", []string{opRemove, base, filepath.Join(base, "..", "etc")}, helperFailed, nil, "is not below " + base + ": refused"},
		{"remove base itself", []string{opRemove, base, base}, helperFailed, nil, "is not below"},
		{"remove below base", []string{opRemove, base, filepath.Dir(inside)}, 0, nil, ""},
		{"remove what is gone", []string{opRemove, base, filepath.Dir(inside)}, 0, nil, ""},
		{"run-plugin without a path", []string{opRunPlugin, "--sha256", "00"}, helperUsage, nil, "want --sha256, --socket-dir, --data-dir and one plugin path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := helper(t, tt.args...)
			if code != tt.code {
				t.Fatalf("status %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			if tt.code != 0 && (!strings.Contains(stderr, tt.stderr) || strings.Count(strings.TrimSpace(stderr), "\n") > 0) {
				t.Errorf("stderr %q, want one line with %q", stderr, tt.stderr)
			}
			if tt.stdout != nil {
				if err := tt.stdout(stdout); err != nil {
					t.Errorf("stdout %q: %v", stdout, err)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Dir(inside)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("remove left %s", filepath.Dir(inside))
	}
	if _, err := os.Stat(base); err != nil {
		t.Errorf("remove took the base dir: %v", err)
	}
}

// A plugin whose bytes are not the checksum given is refused before it
// runs, naming the file; a verified one runs with exactly the given
// environment, and its exit ends the helper and removes the socket dir.
// (env(1) stands in for a plugin: it prints its environment.)
func TestRunPluginVerifies(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile("/usr/bin/env")
	if err != nil {
		t.Skip("no /usr/bin/env to stand in for a plugin")
	}
	fake := filepath.Join(dir, "fake-plugin")
	if err := os.WriteFile(fake, b, 0o700); err != nil {
		t.Fatal(err)
	}
	sum, err := cluster.FileSum(fake)
	if err != nil {
		t.Fatal(err)
	}
	common := []string{opRunPlugin, "--socket-dir", filepath.Join(dir, "run", "s1"), "--data-dir", filepath.Join(dir, "data", "n1")}
	code, _, stderr := helper(t, append(common, "--sha256", strings.Repeat("0", 64), fake)...)
	if code != helperRefused || !strings.Contains(stderr, fmt.Sprintf("%s has SHA-256 %x on this host", fake, sum)) || !strings.Contains(stderr, "refused") {
		t.Errorf("tampered: status %d, stderr %q; want %d and a refusal naming the file", code, stderr, helperRefused)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused plugin still made its data dir (%v)", err)
	}
	code, stdout, stderr := helper(t, append(common, "--sha256", fmt.Sprintf("%x", sum), "--env", "A=b c", "--env", "D=e", fake)...)
	if code != 0 {
		t.Fatalf("status %d (stderr %q)", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], pidPrefix+" ") || lines[1] != "A=b c" || lines[2] != "D=e" {
		t.Errorf("stdout %q: want the pid line, then exactly the environment given", stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "n1")); err != nil {
		t.Errorf("data dir not made: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "run", "s1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket dir outlived the plugin (%v)", err)
	}
}

// blockEnv makes this test binary a stand-in plugin that runs until it is
// killed (see TestMain).
const blockEnv = "RAFTCMP_REMOTE_TEST_BLOCK"

// The node ends with its session: when the helper's stdin ends, or stays
// silent past --silence, it kills the plugin, reaps it and removes the
// socket dir.
func TestRunPluginEndsWithSession(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sum, err := cluster.FileSum(exe)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		end   func(stdin *os.File) // what ends the session
		extra []string
	}{
		{"stdin closed", func(stdin *os.File) { stdin.Close() }, nil},
		{"stdin silent", func(*os.File) {}, []string{"--silence", "300ms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			sock := filepath.Join(dir, "run", "s1")
			args := append([]string{HelperCommand, opRunPlugin, "--sha256", fmt.Sprintf("%x", sum), "--socket-dir", sock,
				"--data-dir", filepath.Join(dir, "data"), "--env", blockEnv + "=1"}, tc.extra...)
			cmd := exec.Command(exe, append(args, exe)...)
			stdinR, stdinW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer stdinW.Close()
			cmd.Stdin = stdinR
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var errb bytes.Buffer
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			stdinR.Close()
			exited := make(chan error, 1)
			line := make([]byte, 64)
			n, _ := out.Read(line)
			go func() { exited <- cmd.Wait() }()
			f := strings.Fields(string(line[:n]))
			if len(f) != 3 || f[0] != pidPrefix {
				t.Fatalf("first line %q (stderr %q)", line[:n], errb.String())
			}
			pid, _ := strconv.Atoi(f[1])
			start, _ := strconv.ParseUint(f[2], 10, 64)
			if got, err := startTime(pid); err != nil || got != start {
				t.Fatalf("plugin pid %d not running (%v)", pid, err)
			}
			if _, err := os.Stat(sock); err != nil {
				t.Errorf("socket dir: %v", err)
			}
			tc.end(stdinW)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				t.Fatal("the helper outlived its session by 20 s")
			}
			if got, err := startTime(pid); err == nil && got == start {
				t.Errorf("plugin pid %d outlived its helper", pid)
			}
			if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("socket dir left (%v)", err)
			}
		})
	}
}
