package testbed

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/hosts"
)

func TestMain(m *testing.M) {
	MaybeRunHost() // the hosts' inits are this test binary re-executed
	os.Exit(m.Run())
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("testbed tests need root (namespaces, links, mounts): skipped for a non-root user")
	}
}

// up makes a testbed of n hosts in a fresh directory, removed when the test
// ends whatever happens.
func up(t *testing.T, n int) *Testbed {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tb")
	t.Cleanup(func() {
		if _, err := Down(context.Background(), dir); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tb, err := Up(ctx, dir, n)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// proc names one process: its pid and start time.
type proc struct {
	pid   int
	start uint64
	what  string
}

func (p proc) alive() bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		return false
	}
	st, err := startTime(p.pid)
	// A zombie is dead: its state (after the command name) is Z.
	return err == nil && st == p.start && !bytes.Contains(b[bytes.LastIndexByte(b, ')'):], []byte(") Z "))
}

// procsInPIDNS lists this machine's processes whose PID namespace is ns
// (a /proc/PID/ns/pid link).
func procsInPIDNS(t *testing.T, ns string) []proc {
	t.Helper()
	var out []proc
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); err != nil || l != ns {
			continue
		}
		st, err := startTime(pid)
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		out = append(out, proc{pid, st, string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '}))})
	}
	return out
}

func nsLink(t *testing.T, pid any, kind string) string {
	t.Helper()
	l, err := os.Readlink(fmt.Sprintf("/proc/%v/ns/%s", pid, kind))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// dial connects to a host as the hosts file says, verifying its key
// against the file's known_hosts (strict: an unknown or other key fails).
func dial(t *testing.T, h hosts.Host, knownHostsFile string) (*ssh.Client, error) {
	t.Helper()
	key, err := os.ReadFile(h.Key)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	check, err := knownhosts.New(knownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	return ssh.Dial("tcp", h.SSH, &ssh.ClientConfig{
		User:              h.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   check,
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		Timeout:           10 * time.Second,
	})
}

// run runs a command on a host and returns its trimmed output; it gives up
// (closing the connection) after 20 s.
func run(t *testing.T, c *ssh.Client, cmd string) string {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	timer := time.AfterFunc(20*time.Second, func() { c.Close() })
	defer timer.Stop()
	out, err := s.CombinedOutput(cmd)
	if err != nil {
		t.Fatalf("%q: %v: %s", cmd, err, out)
	}
	return strings.TrimSpace(string(out))
}

// hostFacts prints what TestUpDown checks of a host, one KEY=VALUE a line,
// in one session.
const hostFacts = `echo "hostname=$(hostname)"
for k in net pid mnt uts; do echo "ns.$k=$(readlink /proc/self/ns/$k)"; done
echo "tmp=$(ls -A /tmp | tr '\n' ' ')"
echo "dirfs=$(stat -f -c %T "$1")"
echo "netnsmounts=$(grep -c /run/netns/ /proc/self/mountinfo)"
echo "inet6=$(cat /proc/net/if_inet6 2>/dev/null | wc -l)"
echo "routes=$(tail -n +2 /proc/net/route | awk '{print $1, $2, $8}' | tr '\n' ';')"
`

// facts runs hostFacts on a host (dir as $1) and returns its lines.
func facts(t *testing.T, c *ssh.Client, dir string) map[string]string {
	t.Helper()
	out := run(t, c, "sh -c '"+strings.ReplaceAll(hostFacts, "'", `'"'"'`)+"' facts "+dir)
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(l, "=")
		m[k] = strings.TrimSpace(v)
	}
	return m
}

func poll(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cluster.Poll(ctx, what, func(context.Context) (bool, string, error) {
		ok, st := cond()
		return ok, st, nil
	}); err != nil {
		t.Fatal(err)
	}
}

// assertGone checks that nothing of tb is left: no namespace name, link,
// mount, directory, or any of procs.
func assertGone(t *testing.T, tb *Testbed, procs []proc) {
	t.Helper()
	for _, h := range tb.Hosts {
		if _, err := os.Lstat(filepath.Join("/run/netns", h.Netns)); err == nil {
			t.Errorf("network namespace %s left (ip netns list)", h.Netns)
		}
		if linkExists(h.Veth) {
			t.Errorf("veth %s left", h.Veth)
		}
	}
	if linkExists(tb.Bridge) {
		t.Errorf("bridge %s left", tb.Bridge)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(mounts, []byte(tb.ID)) {
		t.Errorf("a mount of testbed %s left:\n%s", tb.ID, mounts)
	}
	if _, err := os.Stat(tb.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("testbed directory %s left (%v)", tb.Dir, err)
	}
	// The inits are this process's children: reaped a moment after they exit.
	poll(t, "the testbed's processes gone", func() (bool, string) {
		for _, p := range procs {
			if p.alive() {
				return false, fmt.Sprintf("pid %d (%s) alive", p.pid, p.what)
			}
		}
		return true, ""
	})
}

func TestUpDown(t *testing.T) {
	needRoot(t)
	// A file in this process's /tmp, which no host must see.
	if err := os.WriteFile(filepath.Join(t.TempDir(), "outside"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tb := up(t, 3)
	f, err := hosts.Load(tb.HostsFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Hosts) != 3 {
		t.Fatalf("hosts file lists %d hosts, want 3", len(f.Hosts))
	}
	for _, h := range tb.Hosts {
		if _, err := os.Lstat(filepath.Join("/run/netns", h.Netns)); err != nil {
			t.Errorf("ip netns list lacks %s: %v", h.Netns, err)
		}
	}
	own := map[string]string{"net": nsLink(t, "self", "net"), "pid": nsLink(t, "self", "pid"), "mnt": nsLink(t, "self", "mnt"), "uts": nsLink(t, "self", "uts")}
	seenNet := map[string]string{}
	var procs []proc
	clients := make([]*ssh.Client, len(f.Hosts))
	for i, h := range f.Hosts {
		th := tb.Hosts[i]
		if h.Name != th.Name || h.SSH != th.Addr.String()+":22" || h.DataAddr != th.Addr.String() || h.Dir != hostDataDir || h.User != "root" {
			t.Errorf("hosts file entry %+v does not match host %+v", h, th)
		}
		c, err := dial(t, h, h.KnownHosts)
		if err != nil {
			t.Fatalf("ssh to %s: %v", h.Name, err)
		}
		defer c.Close()
		clients[i] = c
		got := facts(t, c, h.Dir)
		if got["hostname"] != h.Name {
			t.Errorf("hostname %q on host %s", got["hostname"], h.Name)
		}
		// The session runs in the init's namespaces, none of them ours.
		for kind, mine := range own {
			ns := got["ns."+kind]
			if ns == mine {
				t.Errorf("host %s shares this process's %s namespace %s", h.Name, kind, ns)
			}
			if want := nsLink(t, th.PID, kind); ns != want {
				t.Errorf("host %s: session's %s namespace %s, its init's %s", h.Name, kind, ns, want)
			}
			if kind == "net" {
				if other, dup := seenNet[ns]; dup {
					t.Errorf("hosts %s and %s share network namespace %s", other, h.Name, ns)
				}
				seenNet[ns] = h.Name
			}
		}
		want := map[string]string{
			"tmp":         "",      // its own /tmp, empty
			"dirfs":       "tmpfs", // the data directory on a tmpfs of its own
			"netnsmounts": "0",     // no other namespace held by its mount table copy
			"inet6":       "0",     // no IPv6 address
			// One route: the testbed's /24 on eth0, nothing else.
			"routes": fmt.Sprintf("eth0 %08X 00FFFFFF;", binary.LittleEndian.Uint32(tb.Subnet.Addr().AsSlice())),
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("host %s: %s = %q, want %q", h.Name, k, got[k], v)
			}
		}
		procs = append(procs, proc{th.PID, 0, "init of " + h.Name})
		procs[len(procs)-1].start, _ = startTime(th.PID)
	}

	// Strict host key checking: host 2's address with host 1's key fails.
	kh, err := os.ReadFile(tb.KnownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(kh)), "\n")
	wrong := filepath.Join(t.TempDir(), "known_hosts")
	swapped := strings.Replace(lines[0], tb.Hosts[0].Addr.String(), tb.Hosts[1].Addr.String(), 1)
	if err := os.WriteFile(wrong, []byte(swapped+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var keyErr *knownhosts.KeyError
	if c, err := dial(t, f.Hosts[1], wrong); err == nil {
		c.Close()
		t.Error("host 2 accepted with host 1's key in known_hosts")
	} else if !errors.As(err, &keyErr) || len(keyErr.Want) == 0 {
		t.Errorf("host 2 with host 1's key: %v, want a key mismatch", err)
	}

	// Host 1 reaches host 2 over the bridge: host 2's sshd greets it.
	got := run(t, clients[0], fmt.Sprintf("timeout 5 bash -c 'exec 3<>/dev/tcp/%s/22 && head -c 4 <&3'", tb.Hosts[1].Addr))
	if got != "SSH-" {
		t.Errorf("host 1 -> host 2:22 read %q, want SSH-", got)
	}

	// A process started on host 3 runs in its namespaces and ends with it.
	marker := fmt.Sprintf("600.%d", rand.IntN(1e9))
	run(t, clients[2], "setsid sleep "+marker+" </dev/null >/dev/null 2>&1 & echo started")
	var sleeper proc
	poll(t, "the sleep on host 3", func() (bool, string) {
		for _, p := range procsInPIDNS(t, nsLink(t, tb.Hosts[2].PID, "pid")) {
			if p.what == "sleep "+marker+" " {
				sleeper = p
				return true, ""
			}
		}
		return false, "not found"
	})
	if got, want := nsLink(t, sleeper.pid, "net"), nsLink(t, tb.Hosts[2].PID, "net"); got != want {
		t.Errorf("sleep on host 3 in network namespace %s, want the host's %s", got, want)
	}
	for _, h := range tb.Hosts {
		procs = append(procs, procsInPIDNS(t, nsLink(t, h.PID, "pid"))...) // sshd, sessions, the sleep
	}
	for _, c := range clients {
		c.Close()
	}

	gone, err := Down(context.Background(), tb.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if gone == nil || gone.ID != tb.ID {
		t.Fatalf("Down removed %+v, want testbed %s", gone, tb.ID)
	}
	if sleeper.alive() {
		t.Errorf("the sleep started on host 3 (pid %d) outlived the testbed", sleeper.pid)
	}
	assertGone(t, tb, procs)
}

func TestDownAfterInitsKilled(t *testing.T) {
	needRoot(t)
	tb := up(t, 2)
	var procs []proc
	for _, h := range tb.Hosts {
		procs = append(procs, procsInPIDNS(t, nsLink(t, h.PID, "pid"))...)
	}
	for _, h := range tb.Hosts {
		if err := syscall.Kill(h.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	poll(t, "the killed inits gone", func() (bool, string) {
		for _, p := range procs {
			if p.alive() {
				return false, fmt.Sprintf("pid %d (%s) alive", p.pid, p.what)
			}
		}
		return true, ""
	})
	gone, err := Down(context.Background(), tb.Dir)
	if err != nil || gone == nil {
		t.Fatalf("Down after SIGKILL: %+v, %v", gone, err)
	}
	assertGone(t, tb, procs)
	// Down again: nothing to do, no error.
	if again, err := Down(context.Background(), tb.Dir); again != nil || err != nil {
		t.Errorf("second Down: %+v, %v; want nothing and no error", again, err)
	}
}

func TestHalfFailedUp(t *testing.T) {
	needRoot(t)
	injected := errors.New("injected failure after host 2")
	afterHost = func(i int) error {
		if i == 2 {
			return injected
		}
		return nil
	}
	t.Cleanup(func() { afterHost = nil })

	// As if `up` died after its second host: nothing cleaned up yet.
	dir := filepath.Join(t.TempDir(), "tb")
	t.Cleanup(func() { Down(context.Background(), dir) })
	if _, err := create(context.Background(), dir, 3); !errors.Is(err, injected) {
		t.Fatalf("create: %v, want the injected failure", err)
	}
	st, err := loadState(dir)
	if err != nil || st == nil || len(st.Hosts) != 2 {
		t.Fatalf("state after a half-failed up: %+v, %v; want 2 hosts recorded", st, err)
	}
	tb := st.testbed()
	var procs []proc
	for _, h := range tb.Hosts {
		procs = append(procs, procsInPIDNS(t, nsLink(t, h.PID, "pid"))...)
	}
	if _, err := Down(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	assertGone(t, tb, procs)

	// Up itself removes what it made when it fails.
	dir2 := filepath.Join(t.TempDir(), "tb")
	t.Cleanup(func() { Down(context.Background(), dir2) })
	_, upErr := Up(context.Background(), dir2, 3)
	if !errors.Is(upErr, injected) {
		t.Fatalf("Up: %v, want the injected failure", upErr)
	}
	if _, err := os.Stat(dir2); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed Up left %s (stat: %v; Up: %v)", dir2, err, upErr)
	}
}

// A host whose `up` dies before configuring its network ends by itself:
// the init sees the go pipe close.
func TestInitEndsWithoutUp(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	st := &state{ID: "test00", dir: dir}
	h := hostState{Name: "h1", Dir: filepath.Join(dir, "h1")}
	_, pub, err := newKey("client")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writeHostFiles(h, hostAddr(benchRange, 1), pub); err != nil {
		t.Fatal(err)
	}
	r, err := startInit(context.Background(), st, &h)
	if r != nil {
		t.Cleanup(func() { syscall.Kill(h.PID, syscall.SIGKILL); <-r.exited })
	}
	if err != nil {
		t.Fatal(err)
	}
	if !h.isInit() {
		t.Fatalf("pid %d is not recognised as the host's init", h.PID)
	}
	r.close()
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the init outlived its up by 10 s")
	}
	if h.isInit() {
		t.Errorf("pid %d still taken for the init after it exited", h.PID)
	}
}

// Two testbeds made at the same time take different /24s and both work.
func TestTwoTestbeds(t *testing.T) {
	needRoot(t)
	tbs := make([]*Testbed, 2)
	errs := make(chan error, 2)
	for i := range tbs {
		dir := filepath.Join(t.TempDir(), "tb")
		t.Cleanup(func() { Down(context.Background(), dir) })
		go func() {
			var err error
			tbs[i], err = Up(context.Background(), dir, 1)
			errs <- err
		}()
	}
	for range tbs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if tbs[0].Subnet == tbs[1].Subnet || tbs[0].Bridge == tbs[1].Bridge {
		t.Fatalf("two testbeds share %s / %s", tbs[0].Subnet, tbs[0].Bridge)
	}
	for _, tb := range tbs {
		f, err := hosts.Load(tb.HostsFile)
		if err != nil {
			t.Fatal(err)
		}
		c, err := dial(t, f.Hosts[0], f.Hosts[0].KnownHosts)
		if err != nil {
			t.Fatalf("testbed %s: %v", tb.ID, err)
		}
		c.Close()
		if _, err := Down(context.Background(), tb.Dir); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	full := filepath.Join(dir, "full")
	held := filepath.Join(dir, "held")
	for _, d := range []string{full, held} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{file, filepath.Join(full, "x"), filepath.Join(held, StateFile)} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		dir  string
		n    int
		want string
	}{
		{"no hosts", dir + "/new", 0, "--hosts 0: want 1..64"},
		{"too many hosts", dir + "/new", 65, "--hosts 65: want 1..64"},
		{"no dir", "", 3, "--dir: missing"},
		{"dir is a file", file, 3, "--dir " + file + ": not a directory"},
		{"dir not empty", full, 3, "--dir " + full + ": not empty"},
		{"dir holds a testbed", held, 3, "--dir " + held + ": holds a testbed: run raftcmp testbed down --dir " + held + " first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.dir, tt.n)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Check(%q, %d) = %v, want one line with %q", tt.dir, tt.n, err, tt.want)
			}
		})
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{`/run/netns/a`: "/run/netns/a", `/a\040b`: "/a b", `/x\134y`: `/x\y`, `/t\`: `/t\`} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}
