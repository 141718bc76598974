//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/hosts"
	"github.com/raftcmp/raftcmp/core/ownership"
	"github.com/raftcmp/raftcmp/core/remote"
	"github.com/raftcmp/raftcmp/reports"
)

// hostsTestbed is one 3-host testbed shared by the subtests of a test.
type hostsTestbed struct {
	dir   string // the testbed's DIR
	file  string // its hosts.yaml
	hosts []hosts.Host
}

// upTestbed makes a 3-host testbed with the built raftcmp, removed when
// the test ends.
func upTestbed(t *testing.T) *hostsTestbed {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("testbed hosts need root: skipped for a non-root user")
	}
	tb := &hostsTestbed{dir: filepath.Join(t.TempDir(), "tb")}
	t.Cleanup(func() {
		if code, _, stderr := raftcmp(t, "testbed", "down", "--dir", tb.dir); code != 0 {
			t.Errorf("testbed down: status %d: %s", code, stderr)
		}
	})
	if code, _, stderr := raftcmp(t, "testbed", "up", "--hosts", "3", "--dir", tb.dir); code != 0 {
		t.Fatalf("testbed up: status %d: %s", code, stderr)
	}
	tb.file = filepath.Join(tb.dir, "hosts.yaml")
	f, err := hosts.Load(tb.file)
	if err != nil {
		t.Fatal(err)
	}
	tb.hosts = f.Hosts
	return tb
}

// onHost runs script on h over a fresh SSH connection and returns its
// stdout.
func onHost(t *testing.T, h hosts.Host, script string) string {
	t.Helper()
	c, err := remote.Dial(context.Background(), h)
	if err != nil {
		t.Fatalf("ssh %s: %v", h.Name, err)
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out, errb bytes.Buffer
	s.Stdout, s.Stderr = &out, &errb
	if err := s.Run(script); err != nil {
		t.Fatalf("on %s: %v: %s", h.Name, err, errb.String())
	}
	return out.String()
}

// leftOn lists what raftcmp has on h: its processes (run from dir/bin),
// entries of dir/run and dir/data (but keep), and raftcmp's nftables
// tables.
func leftOn(t *testing.T, h hosts.Host, keep string) []string {
	script := fmt.Sprintf(`for p in /proc/[0-9]*; do a=$(tr '\0' ' ' < $p/cmdline 2>/dev/null); case "$a" in %[1]s/bin/*) echo "process ${p#/proc/}: $a";; esac; done
find %[1]s/run %[1]s/data -mindepth 1 -maxdepth 1 2>/dev/null | sed 's/^/file /'
command -v nft >/dev/null && nft list tables 2>/dev/null | grep raftcmp | sed 's/^/rules /'
true`, h.Dir)
	var left []string
	for _, l := range strings.Split(strings.TrimSpace(onHost(t, h, script)), "\n") {
		if l != "" && l != "file "+keep {
			left = append(left, l)
		}
	}
	return left
}

// nothingLeft polls every host over fresh SSH connections until nothing
// of raftcmp's (but keep) is there, and fails if something still is 30 s
// after since.
func (tb *hostsTestbed) nothingLeft(t *testing.T, since time.Time, keep string) {
	t.Helper()
	deadline := since.Add(30 * time.Second)
	for {
		var left []string
		for _, h := range tb.hosts {
			for _, l := range leftOn(t, h, keep) {
				left = append(left, h.Name+": "+l)
			}
		}
		if len(left) == 0 {
			t.Logf("nothing left on the hosts %v after", time.Since(since).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s on, left on the hosts:\n%s", strings.Join(left, "\n"))
		}
		time.Sleep(200 * time.Millisecond) // polling remote hosts: no event to wait on
	}
}

// hostRun is a `raftcmp run --hosts` in the background.
type hostRun struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan struct{}
}

func (r *hostRun) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stderr.Write(b)
}

func (r *hostRun) errText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stderr.String()
}

func startHostRun(t *testing.T, args ...string) *hostRun {
	t.Helper()
	r := &hostRun{cmd: exec.Command(raftcmpBin, args...), done: make(chan struct{})}
	r.cmd.Stderr = r
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		r.cmd.Process.Kill()
		<-r.done
	})
	return r
}

// wait waits for raftcmp to exit (a minute at most) and returns its status.
func (r *hostRun) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(90 * time.Second):
		t.Fatalf("raftcmp did not exit within 90 s; stderr:\n%s", r.errText())
	}
	return r.cmd.ProcessState.ExitCode()
}

// waitFor polls cond until it holds, failing after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 60 s", what)
		}
		time.Sleep(100 * time.Millisecond) // polling: no event to wait on
	}
}

// nodesRunning reports whether every host runs a plugin process.
func (tb *hostsTestbed) nodesRunning(t *testing.T) bool {
	for _, h := range tb.hosts {
		n := 0
		for _, l := range leftOn(t, h, "") {
			if strings.Contains(l, "raftcmp-plugin-hashicorp") && !strings.Contains(l, " host run-plugin ") {
				n++
			}
		}
		if n == 0 {
			return false
		}
	}
	return true
}

// sshdSessions are the pids, on this machine, of the per-connection sshd
// processes of a testbed host: the descendants of its listening sshd (the
// child of the host's init).
func sshdSessions(t *testing.T, tbDir, host string) []int {
	t.Helper()
	var st struct {
		Hosts []struct {
			Name string `json:"name"`
			PID  int    `json:"pid"`
		} `json:"hosts"`
	}
	b, err := os.ReadFile(filepath.Join(tbDir, "testbed.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	initPID := 0
	for _, h := range st.Hosts {
		if h.Name == host {
			initPID = h.PID
		}
	}
	children := map[int][]int{}
	comm := map[int]string{}
	for pid, p := range scanProcs() {
		children[p.ppid] = append(children[p.ppid], pid)
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		comm[pid] = strings.TrimSpace(string(b))
	}
	var out []int
	var walk func(pid int)
	walk = func(pid int) {
		for _, c := range children[pid] {
			if strings.HasPrefix(comm[c], "sshd") {
				out = append(out, c)
			}
			walk(c)
		}
	}
	for _, listener := range children[initPID] {
		walk(listener)
	}
	if initPID == 0 || len(out) == 0 {
		t.Fatalf("no sshd session on %s (init pid %d)", host, initPID)
	}
	return out
}

// Every failure path of a run on hosts leaves nothing on any host within
// 30 s: Ctrl-C once and twice, SIGKILL of raftcmp (after which `cleanup
// --hosts` has nothing to do, or removes what is left, and spares a
// look-alike), and a host's sshd session killed.
func TestHostsFailurePathsLeaveNothing(t *testing.T) {
	tb := upTestbed(t)
	plugins := pluginDir(t)
	h1 := tb.hosts[0]
	lookAlike := h1.Dir + "/data/raftcmp-look-alike"
	onHost(t, h1, "mkdir -p "+lookAlike+"/node-1 && echo mine > "+lookAlike+"/node-1/file")
	// What a killed raftcmp leaves on this machine (its ledger, the
	// cluster's local directory) stays in this test's own directories.
	t.Setenv(ownership.StateDirEnv, t.TempDir())
	local := t.TempDir()

	run := func(t *testing.T) *hostRun {
		return startHostRun(t, "run", "--plugin-dir", plugins, "--impl", "hashicorp", "--hosts", tb.file, "--threads", "2", "--data-dir", local,
			"--duration", "4s", "--warmup", "300ms", "--storage", "disk", "--rate", "0", "--out", filepath.Join(t.TempDir(), "res"))
	}
	t.Run("Ctrl-C once", func(t *testing.T) {
		r := run(t)
		waitFor(t, "nodes on every host", func() bool { return tb.nodesRunning(t) })
		syscall.Kill(-r.cmd.Process.Pid, syscall.SIGINT)
		code := r.wait(t)
		t.Logf("raftcmp exited %d", code)
		tb.nothingLeft(t, time.Now(), lookAlike)
	})
	t.Run("Ctrl-C twice", func(t *testing.T) {
		r := run(t)
		waitFor(t, "nodes on every host", func() bool { return tb.nodesRunning(t) })
		syscall.Kill(-r.cmd.Process.Pid, syscall.SIGINT)
		waitFor(t, "the first interrupt taken", func() bool {
			return strings.Contains(r.errText(), "raftcmp: interrupt: finishing the current point")
		})
		syscall.Kill(-r.cmd.Process.Pid, syscall.SIGINT)
		sent := time.Now()
		if code := r.wait(t); code != 130 {
			t.Errorf("exit %d, want 130; stderr:\n%s", code, r.errText())
		}
		tb.nothingLeft(t, sent, lookAlike)
	})
	t.Run("SIGKILL of raftcmp with a cgroup fault", func(t *testing.T) {
		// The nodes' cgroups outlive a killed raftcmp (nothing runs in
		// them); they are marked as raftcmp's on each host, and cleanup
		// --hosts removes them.
		r := startHostRun(t, "run", "--plugin-dir", plugins, "--impl", "hashicorp", "--hosts", tb.file, "--threads", "2", "--data-dir", local,
			"--duration", "4s", "--warmup", "300ms", "--storage", "disk", "--rate", "0", "--fault", "cpu-slow:follower,period=100ms",
			"--out", filepath.Join(t.TempDir(), "res"))
		marks := func(h hosts.Host) string {
			return strings.TrimSpace(onHost(t, h, "ls "+h.Dir+"/cgroups 2>/dev/null; true"))
		}
		waitFor(t, "every node in a marked cgroup", func() bool {
			for _, h := range tb.hosts {
				if marks(h) == "" {
					return false
				}
			}
			return tb.nodesRunning(t)
		})
		r.cmd.Process.Kill()
		killed := time.Now()
		r.wait(t)
		tb.nothingLeft(t, killed, lookAlike)
		var groups []string
		for _, h := range tb.hosts {
			groups = append(groups, strings.Fields(marks(h))...)
		}
		code, stdout, stderr := raftcmp(t, "cleanup", "--hosts", tb.file)
		if code != 0 {
			t.Fatalf("cleanup --hosts: status %d\n%s%s", code, stdout, stderr)
		}
		for _, h := range tb.hosts {
			if m := marks(h); m != "" {
				t.Errorf("%s: cgroup marks left after cleanup --hosts: %s", h.Name, m)
			}
		}
		for _, g := range groups {
			if !strings.Contains(stdout, "removed cgroup "+g) {
				t.Errorf("cleanup --hosts did not say it removed cgroup %s:\n%s", g, stdout)
			}
			if left := onHost(t, tb.hosts[0], "ls -d /sys/fs/cgroup/*/"+g+" 2>/dev/null; true"); strings.TrimSpace(left) != "" {
				t.Errorf("cgroup %s still there: %s", g, left)
			}
		}
	})
	t.Run("SIGKILL of raftcmp", func(t *testing.T) {
		r := run(t)
		waitFor(t, "nodes on every host", func() bool { return tb.nodesRunning(t) })
		r.cmd.Process.Kill()
		killed := time.Now()
		r.wait(t)
		tb.nothingLeft(t, killed, lookAlike)
		code, stdout, stderr := raftcmp(t, "cleanup", "--hosts", tb.file)
		if code != 0 || strings.Contains(stdout, "would remove") {
			t.Fatalf("cleanup --hosts: status %d\n%s%s", code, stdout, stderr)
		}
		if !strings.Contains(stdout, "h1: left alone: data directory "+lookAlike+": not marked as raftcmp's own") {
			t.Errorf("cleanup --hosts did not list the look-alike:\n%s", stdout)
		}
		if got := onHost(t, h1, "cat "+lookAlike+"/node-1/file"); got != "mine\n" {
			t.Errorf("the look-alike's file holds %q", got)
		}
	})
	t.Run("sshd session killed", func(t *testing.T) {
		r := run(t)
		waitFor(t, "nodes on every host", func() bool { return tb.nodesRunning(t) })
		for _, pid := range sshdSessions(t, tb.dir, tb.hosts[1].Name) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		killed := time.Now()
		code := r.wait(t)
		t.Logf("raftcmp exited %d", code)
		tb.nothingLeft(t, killed, lookAlike)
	})
}

// A run with the external client on hosts proposes through the hosts' SSH
// connections (client_path=ssh); it first says what a killed run left on
// a host, and `cleanup --hosts` removes exactly that (a plugin process
// whose helper is gone, its socket directory, a marked data directory),
// sparing a look-alike, and goes on past an unreachable host.
func TestHostsExternalClientAndCleanup(t *testing.T) {
	tb := upTestbed(t)
	plugins := pluginDir(t)
	h1 := tb.hosts[0]
	d := h1.Dir
	// What a killed run leaves: a helper gone (a pid above pid_max), its
	// plugin still running (a stand-in: a sleep), a node's marked data.
	out := onHost(t, h1, fmt.Sprintf(`set -e
boot=$(cat /proc/sys/kernel/random/boot_id)
mkdir -p %[1]s/data/raftcmp-killed/node-1 %[1]s/run/0123456789abcdef %[1]s/data/raftcmp-look-alike
printf '{"pid":2147480000,"start":1,"boot":"%%s"}\n' $boot > %[1]s/data/raftcmp-killed/node-1.raftcmp-owner
setsid sleep 1000 </dev/null >/dev/null 2>&1 &
p=$!
st=$(cut -d' ' -f22 /proc/$p/stat)
printf '{"helper":{"pid":2147480000,"start":1,"boot":"%%s"},"plugin_pid":%%d,"plugin_start":%%s}\n' $boot $p $st > %[1]s/run/0123456789abcdef/owner.json
echo $p`, d))
	sleeper, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("stand-in plugin: %q", out)
	}
	alive := func() bool {
		return strings.TrimSpace(onHost(t, h1, fmt.Sprintf("test -d /proc/%d && ! grep -q '^State:.Z' /proc/%d/status && echo yes || true", sleeper, sleeper))) == "yes"
	}

	res := filepath.Join(t.TempDir(), "res")
	code, stdout, stderr := raftcmp(t, "run", "--plugin-dir", plugins, "--impl", "hashicorp", "--hosts", tb.file, "--client", "external",
		"--threads", "2", "--duration", "1s", "--warmup", "200ms", "--storage", "disk", "--rate", "0", "--out", res)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	want := "raftcmp: host h1: a killed run left 1 plugin process and 1 socket directory and 1 data directory; `raftcmp cleanup --hosts " + tb.file + "` removes them"
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr:\n%s\nwant the line %q", stderr, want)
	}
	rows, err := reports.ReadResults(filepath.Join(res, reports.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Status != reports.StatusOK || rows[0].ClientPath != "ssh" || rows[0].Client != "external" {
		t.Fatalf("rows %+v: want one ok row, external, client_path ssh", rows)
	}

	code, stdout, stderr = raftcmp(t, "cleanup", "--dry-run", "--hosts", tb.file)
	if code != 0 || !strings.Contains(stdout, fmt.Sprintf("h1: would remove plugin process pid %d", sleeper)) || !alive() {
		t.Fatalf("cleanup --dry-run: status %d, alive %v\n%s%s", code, alive(), stdout, stderr)
	}

	// The same hosts and one nobody answers for.
	var b strings.Builder
	b.WriteString("hosts:\n")
	for _, h := range tb.hosts {
		fmt.Fprintf(&b, "  - name: %s\n    ssh: %s\n    user: %s\n    key: %s\n    known_hosts: %s\n    dir: %s\n", h.Name, h.SSH, h.User, h.Key, h.KnownHosts, h.Dir)
	}
	b.WriteString("  - name: gone\n    ssh: 127.0.0.1:1\n    user: root\n    key: " + tb.hosts[0].Key + "\n    known_hosts: insecure-accept-any\n    dir: /srv/raftcmp\n")
	file := filepath.Join(t.TempDir(), "hosts.yaml")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = raftcmp(t, "cleanup", "--hosts", file)
	t.Logf("cleanup --hosts:\n%s%s", stdout, stderr)
	if lines := strings.Split(strings.TrimSpace(stderr), "\n"); code != 1 || len(lines) != 1 || !strings.Contains(lines[0], "host gone (127.0.0.1:1): unreachable") {
		t.Errorf("status %d, stderr %q: want 1 and one line for the unreachable host", code, stderr)
	}
	for _, w := range []string{
		fmt.Sprintf("h1: removed plugin process pid %d (left by pid 2147480000)", sleeper),
		"h1: removed socket directory " + d + "/run/0123456789abcdef",
		"h1: removed data directory " + d + "/data/raftcmp-killed",
		"h1: left alone: data directory " + d + "/data/raftcmp-look-alike: not marked as raftcmp's own",
		"h2: nothing to clean up", "h3: nothing to clean up",
	} {
		if !strings.Contains(stdout, w) {
			t.Errorf("cleanup --hosts output lacks %q", w)
		}
	}
	if alive() {
		t.Errorf("the stand-in plugin %d still runs", sleeper)
	}
	if left := leftOn(t, h1, d+"/data/raftcmp-look-alike"); len(left) != 0 {
		t.Errorf("left on h1: %v", left)
	}
}
