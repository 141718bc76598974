package remote

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/adapter/adaptertest"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/hosts"
	"github.com/raftcmp/raftcmp/core/load"
	"github.com/raftcmp/raftcmp/core/testbed"
	"github.com/raftcmp/raftcmp/faults"
)

func TestMain(m *testing.M) {
	faults.MaybeRunHog()   // a fault's hog on a host is the helper re-executed
	testbed.MaybeRunHost() // the testbed hosts' inits are this binary re-executed
	if len(os.Args) > 1 && os.Args[1] == HelperCommand {
		os.Exit(RunHelper(os.Args[2:])) // so is the helper, on the hosts
	}
	if os.Getenv(blockEnv) != "" {
		time.Sleep(time.Hour) // a stand-in plugin that runs until killed
		os.Exit(1)
	}
	code := m.Run()
	if tb != nil {
		if _, err := testbed.Down(context.Background(), tb.Dir); err != nil {
			fmt.Fprintln(os.Stderr, "remove testbed:", err)
			code = 1
		}
	}
	if tbDir != "" {
		os.RemoveAll(tbDir)
	}
	adaptertest.RemoveBuilds()
	os.Exit(code)
}

// One testbed of three hosts serves every test of the package.
var (
	tbOnce  sync.Once
	tbDir   string
	tb      *testbed.Testbed
	tbHosts []hosts.Host
	tbErr   error
)

// testHosts returns the testbed's hosts, made on first use; it skips the
// test for a user other than root.
func testHosts(t *testing.T) []hosts.Host {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("remote launcher tests make testbed hosts (namespaces, links, mounts) and need root: skipped for a non-root user")
	}
	tbOnce.Do(func() {
		if tbDir, tbErr = os.MkdirTemp("", "raftcmp-remote-test-"); tbErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if tb, tbErr = testbed.Up(ctx, filepath.Join(tbDir, "tb"), 3); tbErr != nil {
			return
		}
		var f *hosts.File
		if f, tbErr = hosts.Load(tb.HostsFile); tbErr == nil {
			tbHosts = f.Hosts
		}
	})
	if tbErr != nil {
		t.Fatal(tbErr)
	}
	return tbHosts
}

// buildPlugin builds a backend's plugin and verifies it against its manifest,
// as raftcmp does before a run.
func buildPlugin(t *testing.T, name string) cluster.Plugin {
	t.Helper()
	p := adaptertest.BuildPlugin(t, name, "github.com/raftcmp/raftcmp/plugins/"+name+"/plugin")
	if err := cluster.Verify(&p); err != nil {
		t.Fatal(err)
	}
	return p
}

// newLauncher connects to the hosts for n nodes; closed when the test ends.
func newLauncher(t *testing.T, hs []hosts.Host, n int) *Launcher {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := New(ctx, Config{Hosts: hs, Nodes: n})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// onHost runs a shell command on h over a fresh connection of its own (not
// the launcher's) and returns its trimmed output.
func onHost(t *testing.T, h hosts.Host, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := dial(ctx, h, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	out, err := c.run(ctx, "sh", "-c", script)
	if err != nil {
		t.Fatalf("on host %s: %q: %v", h.Name, script, err)
	}
	return strings.TrimSpace(string(out))
}

// pluginProcs lists, on h, the processes whose command line mentions a
// plugin binary (a plugin or a helper running one), "PID CMDLINE" a line.
// (The prefix is split so that the script does not match itself.)
const pluginProcs = `pre=raftcmp-plugin; for p in /proc/[0-9]*; do c=$(tr '\0' ' ' < $p/cmdline 2>/dev/null); case "$c" in *"$pre"-*) echo "${p#/proc/} $c";; esac; done`

// assertNothingLeft checks that no plugin process, socket or data dir is
// left on any host.
func assertNothingLeft(t *testing.T, hs []hosts.Host) {
	t.Helper()
	for _, h := range hs {
		if procs := onHost(t, h, pluginProcs); procs != "" {
			t.Errorf("host %s: plugin processes left: %s", h.Name, procs)
		}
		for _, sub := range []string{runSubdir, dataSubdir} {
			d := path.Join(h.Dir, sub)
			if left := onHost(t, h, "ls -A "+shellQuote(d)+" 2>/dev/null || true"); left != "" {
				t.Errorf("host %s: %s holds %s", h.Name, d, left)
			}
		}
	}
}

// startCluster starts a 3-node cluster of plugin p through l.
func startCluster(t *testing.T, l *Launcher, p cluster.Plugin) *cluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Spec{
		Plugin: p, Nodes: 3, Storage: adapter.StorageDisk, DataRoot: t.TempDir(), LogDir: t.TempDir(),
		Launcher: l, ReadyTimeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	return c
}

// applyLoad runs a short embedded load on the leader and checks that every
// node applied the same log, at least every acknowledged proposal.
func applyLoad(t *testing.T, c *cluster.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := leader.Node().RunLoad(ctx, load.Spec{Threads: 2, PayloadBytes: 128, Duration: time.Second, OpTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Acked == 0 {
		t.Fatalf("no proposal acknowledged: %+v", res)
	}
	st, err := c.Converge(ctx, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.AppliedPayloads < res.Acked {
			t.Errorf("node %d applied %d payloads, %d were acknowledged", s.ID, s.AppliedPayloads, res.Acked)
		}
	}
}

// assertOnHost checks that node m's process runs on host h: its pid, on
// the host, is the plugin, in the host's PID and network namespaces.
func assertOnHost(t *testing.T, m *cluster.Member, h hosts.Host, pluginName string) {
	t.Helper()
	pid := strconv.Itoa(m.PID())
	facts := strings.Fields(onHost(t, h, fmt.Sprintf(
		"readlink /proc/%[1]s/ns/net /proc/1/ns/net /proc/%[1]s/ns/pid /proc/1/ns/pid; tr '\\0' '\\n' < /proc/%[1]s/cmdline | head -n 1", pid)))
	if len(facts) != 5 {
		t.Fatalf("node %d: host %s says %q", m.ID, h.Name, facts)
	}
	if facts[0] != facts[1] {
		t.Errorf("node %d (pid %s) in network namespace %s, host %s's is %s", m.ID, pid, facts[0], h.Name, facts[1])
	}
	if facts[2] != facts[3] {
		t.Errorf("node %d (pid %s) in PID namespace %s, host %s's is %s", m.ID, pid, facts[2], h.Name, facts[3])
	}
	if want := cluster.PluginPrefix + pluginName + "-"; !strings.Contains(path.Base(facts[4]), want) || !strings.HasPrefix(facts[4], h.Dir+"/") {
		t.Errorf("node %d: pid %s on host %s is %s, want the %s copy in %s", m.ID, pid, h.Name, facts[4], want, h.Dir)
	}
	if !strings.HasPrefix(m.Addr, h.DataAddr+":") {
		t.Errorf("node %d listens on %s, want host %s's data address %s", m.ID, m.Addr, h.Name, h.DataAddr)
	}
}

// A real cluster of each backend, one node per host, through cluster.Start:
// ready, applies a load, every node on its host; after Stop, nothing left.
// On hashicorp, also: usage and pinning on the host, Kill and RestartMember.
func TestClusterOnHosts(t *testing.T) {
	hs := testHosts(t)
	for _, name := range []string{"hashicorp", "etcd", "dragonboat"} {
		t.Run(name, func(t *testing.T) {
			p := buildPlugin(t, name)
			l := newLauncher(t, hs, 3)
			c := startCluster(t, l, p)
			for i, m := range c.Members() {
				assertOnHost(t, m, hs[i], name)
			}
			applyLoad(t, c)
			if name == "hashicorp" {
				checkProcessOps(t, c, hs)
			}
			if err := c.Stop(context.Background()); err != nil {
				t.Fatal(err)
			}
			assertNothingLeft(t, hs)
		})
	}
}

// checkProcessOps checks a remote process's usage, pin, kill and restart.
func checkProcessOps(t *testing.T, c *cluster.Cluster, hs []hosts.Host) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, err := leader.Process().Usage()
	if err != nil || u.CPU <= 0 || u.PeakRSS == 0 {
		t.Errorf("leader's usage %+v, %v: want CPU time and memory", u, err)
	}
	if err := leader.Process().Pin(0); err != nil {
		t.Fatal(err)
	}
	h := hs[leader.ID-1]
	if got := onHost(t, h, fmt.Sprintf("cat /proc/%d/task/*/status | grep Cpus_allowed_list | sort -u", leader.PID())); got != "Cpus_allowed_list:\t0" {
		t.Errorf("pinned leader's threads on host %s: %q, want all on CPU 0", h.Name, got)
	}

	// Kill a follower: gone from its host; restarted on its data, it
	// catches up with the others.
	follower := c.Member(leader.ID%3 + 1)
	fh := hs[follower.ID-1]
	pid := follower.PID()
	sockDir := follower.Process().(*process).run.dir
	if err := c.KillMember(follower.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sockDir); !os.IsNotExist(err) {
		t.Errorf("killed node %d: its local socket directory %s is still there (%v)", follower.ID, sockDir, err)
	}
	if procs := onHost(t, fh, pluginProcs); procs != "" {
		t.Errorf("killed node %d (pid %d): host %s still runs %s", follower.ID, pid, fh.Name, procs)
	}
	if u, err := follower.Process().Usage(); err == nil {
		t.Errorf("usage of a killed process: %+v, want an error", u)
	}
	if err := c.RestartMember(ctx, follower.ID); err != nil {
		t.Fatal(err)
	}
	assertOnHost(t, follower, fh, "hashicorp")
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	applyLoad(t, c)
}

// Closing a host's SSH connection abruptly ends every node on that host
// within seconds (their helpers see the session end), and raftcmp sees
// them exit; Stop still leaves nothing anywhere.
func TestConnectionLossEndsNodes(t *testing.T) {
	hs := testHosts(t)
	// Five nodes on three hosts: h2 runs nodes 2 and 5.
	l := newLauncher(t, hs, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Spec{
		Plugin: buildPlugin(t, "hashicorp"), Nodes: 5, Storage: adapter.StorageMemory, DataRoot: t.TempDir(),
		Launcher: l, ReadyTimeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	lost := []*cluster.Member{c.Member(2), c.Member(5)}
	s := l.siteOf("h2")
	s.mu.Lock()
	s.c.raw.Close() // as a dropped network would, without an SSH goodbye
	s.mu.Unlock()

	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	err = cluster.Poll(wctx, "the nodes on h2 gone", func(context.Context) (bool, string, error) {
		if procs := onHost(t, hs[1], pluginProcs); procs != "" {
			return false, "h2 runs " + procs, nil
		}
		for _, m := range lost {
			if !m.Exited() {
				return false, fmt.Sprintf("node %d not seen exited", m.ID), nil
			}
		}
		return true, "", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The others, on hosts whose connections live, still answer.
	for _, id := range []uint64{1, 3, 4} {
		if _, err := c.Member(id).Node().Status(ctx); err != nil {
			t.Errorf("node %d: %v", id, err)
		}
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, hs)
}

// A plugin whose copy on a host was changed is refused there, naming host
// and file: by the helper at launch, and by the next run's install.
func TestTamperedPluginRefused(t *testing.T) {
	hs := testHosts(t)
	p := buildPlugin(t, "noop")
	l := newLauncher(t, hs[:1], 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.Install(ctx, p); err != nil {
		t.Fatal(err)
	}
	bin, _, err := l.install(ctx, l.sites[0], p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { onHost(t, hs[0], "rm -f "+shellQuote(bin)) })
	onHost(t, hs[0], "printf x >> "+shellQuote(bin))

	req := cluster.LaunchRequest{Plugin: p, ID: 1, DataDir: filepath.Join(t.TempDir(), "raftcmp-noop-1", "node-1")}
	proc, err := l.Launch(ctx, req)
	if err == nil {
		proc.Close()
		t.Fatal("a tampered plugin was launched")
	}
	for _, want := range []string{"host h1 (", bin + " has SHA-256 ", "refused"} {
		if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("launch error %q: want one line with %q", err, want)
		}
	}
	l2 := newLauncher(t, hs[:1], 1)
	err = l2.Install(ctx, p)
	var he *HostError
	if !errors.As(err, &he) || he.Host != "h1" || !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), bin) {
		t.Errorf("install over a tampered copy: %v; want a checksum refusal naming h1 and %s", err, bin)
	}
	assertNothingLeft(t, hs[:1])
}

// Hosts that cannot be used are refused by New with one line naming the
// host and the reason.
func TestRefusedHosts(t *testing.T) {
	hs := testHosts(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	known, err := os.ReadFile(hs[0].KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(known)), "\n")
	h1, h2 := hs[0].SSHHost(), hs[1].SSHHost()
	// h1 known by h2's key.
	swapped := write("swapped", strings.Replace(lines[1], h2, h1, 1)+"\n")
	empty := write("empty", "")
	otherKey := write("other_key", newKey(t))

	tests := []struct {
		name  string
		edit  func(h *hosts.Host)
		wants []string
	}{
		{"unreachable", func(h *hosts.Host) { h.SSH = h1 + ":2222" }, []string{"host h1 (" + h1 + ":2222): unreachable", "connection refused"}},
		{"wrong key", func(h *hosts.Host) { h.Key = otherKey }, []string{"host h1 (" + h1 + ":22): refused the key " + otherKey + " for user root"}},
		{"host key mismatch", func(h *hosts.Host) { h.KnownHosts = swapped }, []string{"host h1 (" + h1 + ":22): host key does not match " + swapped}},
		{"host key unknown", func(h *hosts.Host) { h.KnownHosts = empty }, []string{"host h1 (" + h1 + ":22): host key unknown: " + empty + " has no key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := hs[0]
			tt.edit(&h)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			l, err := New(ctx, Config{Hosts: []hosts.Host{h, hs[1]}, Nodes: 2})
			if err == nil {
				l.Close()
				t.Fatal("accepted")
			}
			var he *HostError
			if !errors.As(err, &he) || he.Host != "h1" {
				t.Errorf("%v: want a HostError for h1", err)
			}
			for _, want := range tt.wants {
				if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
					t.Errorf("%q: want one line with %q", err, want)
				}
			}
		})
	}
	// Both hosts bad: one line naming each.
	a, b := hs[0], hs[1]
	a.KnownHosts, b.Key = empty, otherKey
	_, err = New(context.Background(), Config{Hosts: []hosts.Host{a, b}, Nodes: 2})
	if err == nil || !strings.Contains(err.Error(), "host h1 (") || !strings.Contains(err.Error(), "; host h2 (") || strings.Contains(err.Error(), "\n") {
		t.Errorf("two bad hosts: %v; want one line naming h1 and h2", err)
	}
}

// newKey returns a new Ed25519 private key in OpenSSH's PEM form.
func newKey(t *testing.T) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block))
}

// Without root (and without a testbed), an unreachable host is refused the
// same way.
func TestUnreachableHost(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte(newKey(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	h := hosts.Host{Name: "gone", SSH: "127.0.0.1:1", User: "root", Key: key, InsecureAcceptAny: true, Dir: "/srv/raftcmp", DataAddr: "127.0.0.1"}
	_, err := New(context.Background(), Config{Hosts: []hosts.Host{h}, Nodes: 1})
	if err == nil || !strings.HasPrefix(err.Error(), "host gone (127.0.0.1:1): unreachable: ") || strings.Contains(err.Error(), "\n") {
		t.Errorf("%v: want one line, host gone (127.0.0.1:1): unreachable: ...", err)
	}
}

// freezer is a TCP proxy to target that can stop passing bytes without
// closing anything, as a network that silently drops everything would.
type freezer struct {
	ln     net.Listener
	target string
	thaw   chan struct{} // closed at the end of the test: the copies end
	once   sync.Once
	frozen atomic.Bool

	mu    sync.Mutex
	conns []net.Conn
}

func newFreezer(t *testing.T, target string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target, thaw: make(chan struct{})}
	go f.serve()
	t.Cleanup(func() {
		ln.Close()
		close(f.thaw)
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, c := range f.conns {
			c.Close()
		}
	})
	return f
}

func (f *freezer) serve() {
	for {
		a, err := f.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", f.target)
		if err != nil {
			a.Close()
			continue
		}
		f.mu.Lock()
		f.conns = append(f.conns, a, b)
		f.mu.Unlock()
		go f.pass(a, b)
		go f.pass(b, a)
	}
}

// pass copies src to dst until frozen, then holds both open until thawed.
func (f *freezer) pass(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if f.frozen.Load() {
			<-f.thaw
			return
		}
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// A connection that goes silent without closing (the host vanished from
// the network) is noticed by the keepalive, and its node, whose helper
// hears nothing from raftcmp any more, dies on the host by itself.
func TestSilentConnection(t *testing.T) {
	hs := testHosts(t)
	f := newFreezer(t, hs[0].SSH)
	h := hs[0]
	h.SSH, h.InsecureAcceptAny, h.KnownHosts = f.ln.Addr().String(), true, "" // the proxy's address is not in known_hosts
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := New(ctx, Config{Hosts: []hosts.Host{h}, Nodes: 1, Keepalive: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dataDir := filepath.Join(t.TempDir(), "raftcmp-noop-1", "node-1")
	p, err := l.Launch(ctx, cluster.LaunchRequest{Plugin: buildPlugin(t, "noop"), ID: 1, DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if procs := onHost(t, hs[0], pluginProcs); procs == "" {
		t.Fatal("no plugin process on h1")
	}
	s := l.siteOf("h1")
	f.frozen.Store(true)
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	err = cluster.Poll(wctx, "the silent connection dropped and its node gone", func(context.Context) (bool, string, error) {
		s.mu.Lock()
		alive := s.c.alive()
		s.mu.Unlock()
		if alive {
			return false, "the connection is still taken for alive", nil
		}
		if !p.Exited() {
			return false, "the node is not seen exited", nil
		}
		if procs := onHost(t, hs[0], pluginProcs); procs != "" {
			return false, "h1 runs " + procs, nil
		}
		return true, "", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The network is back: the launcher dials anew for what comes next.
	f.frozen.Store(false)
	if err := l.RemoveData(ctx, filepath.Dir(dataDir)); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, hs[:1])
}
