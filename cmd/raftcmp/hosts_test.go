package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftcmp/raftcmp/reports"
)

// A run with --hosts that cannot start is refused before anything starts:
// one line, status 2, no results directory.
func TestHostsRefused(t *testing.T) {
	dir := pluginDir(t)
	tmp := t.TempDir()
	// Never read: the host is refused as unreachable first.
	key := filepath.Join(tmp, "key")
	if err := os.WriteFile(key, []byte("not read"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(tmp, "hosts.yaml")
	// Nothing listens on port 1: the host is unreachable.
	hostsYAML := fmt.Sprintf("hosts:\n  - name: gone\n    ssh: 127.0.0.1:1\n    user: root\n    key: %s\n    known_hosts: insecure-accept-any\n    dir: /srv/raftcmp\n", key)
	if err := os.WriteFile(file, []byte(hostsYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"a network fault, unreachable host", []string{"--fault", "net-delay:follower"}, "--hosts " + file + ": host gone (127.0.0.1:1): unreachable: "},
		{"a cgroup fault, unreachable host", []string{"--fault", "cpu-slow:follower"}, "--hosts " + file + ": host gone (127.0.0.1:1): unreachable: "},
		{"tmpfs storage", []string{"--storage", "tmpfs"}, "--storage tmpfs: not supported with --hosts yet"},
		{"unreachable host", nil, "--hosts " + file + ": host gone (127.0.0.1:1): unreachable: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			args := append([]string{"run", "--plugin-dir", dir, "--impl", "hashicorp", "--threads", "1", "--hosts", file, "--out", out}, tc.args...)
			code, stdout, stderr := raftcmp(t, args...)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if code != exitUsage || len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Errorf("status %d, stderr %q; want %d and one line with %q", code, stderr, exitUsage, tc.want)
			}
			if strings.Contains(stderr+stdout, "goroutine") {
				t.Errorf("a stack trace: %s", stderr)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a refused run made %s", out)
			}
		})
	}
}

// raftcmp run --hosts on a testbed: every node on its own host, the row
// ok, the hosts in meta.json, nothing left on the hosts.
func TestRunOnHosts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("runs on testbed hosts need root: skipped for a non-root user")
	}
	dir := pluginDir(t)
	tb := filepath.Join(t.TempDir(), "tb")
	if code, _, stderr := raftcmp(t, "testbed", "up", "--hosts", "3", "--dir", tb); code != 0 {
		t.Fatalf("testbed up: status %d: %s", code, stderr)
	}
	t.Cleanup(func() {
		if code, _, stderr := raftcmp(t, "testbed", "down", "--dir", tb); code != 0 {
			t.Errorf("testbed down: status %d: %s", code, stderr)
		}
	})
	out := filepath.Join(t.TempDir(), "res")
	hostsFile := filepath.Join(tb, "hosts.yaml")
	code, stdout, stderr := raftcmp(t, "run", "--plugin-dir", dir, "--impl", "hashicorp", "--hosts", hostsFile, "--threads", "2",
		"--duration", "1s", "--warmup", "200ms", "--interval", "250ms", "--storage", "disk", "--rate", "0", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if want := "node 1 on h1, node 2 on h2, node 3 on h3 (each node on its own host)"; !strings.Contains(stderr, want) {
		t.Errorf("stderr %q: want %q", stderr, want)
	}
	rows, err := reports.ReadResults(filepath.Join(out, reports.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Status != reports.StatusOK || rows[0].ThroughputOps <= 0 {
		t.Fatalf("rows %+v: want one ok row with throughput", rows)
	}
	// Testbed hosts are namespaces of this one machine: the run says so,
	// and so does the row, rather than claim separate machines.
	if rows[0].NodeHosts != "1=h1;2=h2;3=h3" || rows[0].Placement != reports.PlacementSharedMachine {
		t.Errorf("row node_hosts %q, placement %q: want 1=h1;2=h2;3=h3 and %s", rows[0].NodeHosts, rows[0].Placement, reports.PlacementSharedMachine)
	}
	if want := "hosts h1, h2, h3 are one machine (the same kernel)"; !strings.Contains(stderr, want) {
		t.Errorf("stderr %q: want %q", stderr, want)
	}
	meta, err := reports.ReadMeta(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(meta.Hosts) != 3 {
		t.Fatalf("meta.json hosts %+v: want 3", meta.Hosts)
	}
	for i, h := range meta.Hosts {
		if h.Node != i+1 || h.Host != fmt.Sprintf("h%d", i+1) || !strings.HasSuffix(h.SSH, ":22") || h.DataAddr == "" || h.Machine == "" {
			t.Errorf("meta.json host of node %d: %+v", i+1, h)
		}
	}
}
