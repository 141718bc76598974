// Package testbed makes local test hosts on this machine, for trying
// multi-host runs and for their tests (docs/hosts.md, "The testbed"): Up
// creates N hosts and writes a hosts file for them; Down removes all of it.
//
// Each host is a set of fresh namespaces (network, mount, PID, UTS, IPC)
// whose PID 1 is raftcmp itself, re-executed (HostEnv, MaybeRunHost). That
// init gives the host its own /proc, /run, /tmp, /dev/shm and data
// directory (/srv/raftcmp) on tmpfs, sets the hostname to the host's name,
// and runs the distribution's sshd as its child, listening on the host's
// address only. A veth pair joins the host to a bridge of the testbed's
// own, with addresses from 198.18.0.0/15 and no other route.
//
// A re-executed init, rather than ip-netns and a shell, because the kernel
// then does the teardown: when PID 1 of a PID namespace exits, every
// process in it is killed, so stopping one process removes the host's sshd
// and whatever ran there, on every path. The init is detached (its own
// session, no parent death signal) so the hosts outlive `testbed up`.
//
// Everything made carries the testbed's id in its name and is recorded in
// DIR/testbed.json before it is made; Down removes what that file lists,
// never what merely matches a name pattern, and checks that a recorded pid
// is still the testbed's init before signalling it.
package testbed

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/hosts"
)

// Files of the testbed directory.
const (
	StateFile      = "testbed.json" // what Down removes
	HostsFile      = "hosts.yaml"   // the hosts file (core/hosts)
	KeyFile        = "id_ed25519"   // the client's private key; .pub beside it
	KnownHostsFile = "known_hosts"  // the hosts' keys, for strict checking
	hostsSubdir    = "hosts"        // DIR/hosts/NAME: each host's files and log
)

// MaxHosts is the most hosts one testbed has.
const MaxHosts = 64

// Deadlines of the steps that wait on a host.
const (
	handshakeTimeout = 10 * time.Second // the init's mounts, then sshd started
	listenTimeout    = 10 * time.Second // sshd answering on its address
	stopTimeout      = 10 * time.Second // the init gone after SIGTERM (then SIGKILL)
)

// ErrNotRoot is Check's answer for a user other than root.
var ErrNotRoot = errors.New("testbed: needs root (it creates namespaces, links and mounts)")

// Testbed is a testbed as recorded in its directory.
type Testbed struct {
	Dir            string       // absolute testbed directory
	ID             string       // in every name the testbed gives
	Subnet         netip.Prefix // the hosts' /24; the bridge has .1
	Bridge         string       // the bridge's link name
	Hosts          []Host       // in hosts file order
	HostsFile      string       // DIR/hosts.yaml
	KeyFile        string       // DIR/id_ed25519
	KnownHostsFile string       // DIR/known_hosts
}

// Host is one test host.
type Host struct {
	Name  string     // its hostname and its name in the hosts file
	Addr  netip.Addr // its address on the bridge; sshd listens on Addr:22
	Netns string     // its network namespace's name (ip netns list)
	Veth  string     // the root namespace's end of its veth pair
	PID   int        // its init, in this machine's PID namespace
}

// state is DIR/testbed.json. Every resource is recorded before it is made,
// so Down can remove what a half-failed or killed Up left.
type state struct {
	ID      string      `json:"id"`
	MadeDir bool        `json:"made_dir"` // Up created DIR, so Down removes it
	Bridge  string      `json:"bridge,omitempty"`
	Subnet  string      `json:"subnet,omitempty"`
	Hosts   []hostState `json:"hosts,omitempty"`

	dir string
}

type hostState struct {
	Name      string `json:"name"`
	Addr      string `json:"addr"`
	Dir       string `json:"dir"` // DIR/hosts/NAME; the init's HostEnv value
	Netns     string `json:"netns"`
	Veth      string `json:"veth,omitempty"`
	PID       int    `json:"pid,omitempty"`
	StartTime uint64 `json:"start_time,omitempty"` // /proc/PID/stat field 22
}

// files are the files Up writes in DIR (besides hosts/), in the order Down
// removes them; StateFile goes last.
var files = []string{HostsFile, KnownHostsFile, KeyFile, KeyFile + ".pub", StateFile + ".tmp"}

// afterHost, when set by a test, runs after each host is up; an error stops
// Up there, as a failure would.
var afterHost func(i int) error

// Check refuses what Up cannot do, before anything is made: n outside
// 1..MaxHosts, a dir that is not a new or empty directory, a missing sshd
// or /srv, a user other than root (ErrNotRoot). Each error is one line.
func Check(dir string, n int) error {
	if n < 1 || n > MaxHosts {
		return fmt.Errorf("--hosts %d: want 1..%d", n, MaxHosts)
	}
	if dir == "" {
		return errors.New("--dir: missing: want a new or empty directory for the testbed's keys and hosts.yaml")
	}
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("--dir %s: not a directory", dir)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("--dir %s: %v", dir, err)
		}
		if _, err := os.Stat(filepath.Join(dir, StateFile)); err == nil {
			return fmt.Errorf("--dir %s: holds a testbed: run raftcmp testbed down --dir %s first", dir, dir)
		}
		if len(entries) > 0 {
			return fmt.Errorf("--dir %s: not empty: want a new or empty directory", dir)
		}
	}
	if _, err := os.Stat(sshdPath); err != nil {
		return fmt.Errorf("no %s: the hosts run OpenSSH's sshd (apt-get install openssh-server)", sshdPath)
	}
	if fi, err := os.Stat("/srv"); err != nil || !fi.IsDir() {
		return errors.New("no /srv directory on this machine: each host mounts its data tmpfs there")
	}
	return CheckRoot()
}

// CheckRoot returns ErrNotRoot unless the process runs as root.
func CheckRoot() error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	return nil
}

// Up creates n test hosts and writes DIR/hosts.yaml, DIR/known_hosts and
// the client key DIR/id_ed25519. It returns when every host's sshd answers.
// On failure it removes what it made (as Down) and returns why; input
// errors are Check's.
func Up(ctx context.Context, dir string, n int) (*Testbed, error) {
	if err := Check(dir, n); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("testbed directory: %w", err)
	}
	tb, err := create(ctx, abs, n)
	if err != nil {
		if _, derr := Down(context.WithoutCancel(ctx), abs); derr != nil {
			return nil, fmt.Errorf("%w (and removing what was made: %v)", err, derr)
		}
		return nil, err
	}
	return tb, nil
}

// running is a host whose init `up` started and still talks to.
type running struct {
	goPipe *os.File      // write one byte: the network is configured
	status *os.File      // the init's handshake lines
	lines  *bufio.Reader // over status
	exited chan struct{} // closed when the init has exited (and is reaped)
	log    string        // its log file
}

func (r *running) close() {
	r.goPipe.Close()
	r.status.Close()
}

func create(ctx context.Context, dir string, n int) (*Testbed, error) {
	idb := make([]byte, 3)
	if _, err := rand.Read(idb); err != nil {
		return nil, fmt.Errorf("testbed id: %w", err)
	}
	st := &state{ID: hex.EncodeToString(idb), dir: dir}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create testbed directory: %w", err)
		}
		st.MadeDir = true
	}
	if err := os.Chmod(dir, 0o700); err != nil { // it holds a private key
		return nil, fmt.Errorf("testbed directory: %w", err)
	}
	st.Bridge = "rctb-" + st.ID
	if err := st.save(); err != nil {
		return nil, err
	}
	subnet, err := makeBridge(st.Bridge)
	if err != nil {
		return nil, err
	}
	st.Subnet = subnet.String()
	if err := st.save(); err != nil {
		return nil, err
	}

	clientKey, clientPub, err := newKey("raftcmp-testbed-" + st.ID)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, KeyFile), clientKey, 0o600); err != nil {
		return nil, fmt.Errorf("write client key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, KeyFile+".pub"), ssh.MarshalAuthorizedKey(clientPub), 0o644); err != nil {
		return nil, fmt.Errorf("write client key: %w", err)
	}
	if err := os.Mkdir(filepath.Join(dir, hostsSubdir), 0o700); err != nil {
		return nil, fmt.Errorf("create hosts directory: %w", err)
	}

	var knownHosts strings.Builder
	var hostList []hosts.Host
	var started []*running
	defer func() {
		for _, r := range started {
			r.close()
		}
	}()
	for i := 1; i <= n; i++ {
		r, h, line, err := st.addHost(ctx, i, subnet, clientPub)
		if r != nil {
			started = append(started, r)
		}
		if err != nil {
			return nil, fmt.Errorf("host h%d: %w", i, err)
		}
		knownHosts.WriteString(line)
		hostList = append(hostList, h)
		if afterHost != nil {
			if err := afterHost(i); err != nil {
				return nil, err
			}
		}
	}
	for i, r := range started {
		if err := waitListening(ctx, r, st.Hosts[i].Addr); err != nil {
			return nil, fmt.Errorf("host %s: %w%s", st.Hosts[i].Name, err, logTail(r.log))
		}
	}
	if err := os.WriteFile(filepath.Join(dir, KnownHostsFile), []byte(knownHosts.String()), 0o644); err != nil {
		return nil, fmt.Errorf("write known_hosts: %w", err)
	}
	header := fmt.Sprintf("raftcmp testbed %s: %d local test hosts on %s, made by `raftcmp testbed up`.\n"+
		"Remove them with: raftcmp testbed down --dir %s", st.ID, n, subnet, dir)
	b, err := hosts.Marshal(hostList, header)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, HostsFile), b, 0o644); err != nil {
		return nil, fmt.Errorf("write hosts file: %w", err)
	}
	return st.testbed(), nil
}

// addHost makes host i: its files, its init in fresh namespaces, its name
// under /run/netns, its veth on the bridge; then it lets the init start
// sshd. It returns the running init (also on a later error), the host's
// hosts file entry and its known_hosts line.
func (st *state) addHost(ctx context.Context, i int, subnet netip.Prefix, client ssh.PublicKey) (*running, hosts.Host, string, error) {
	name := "h" + strconv.Itoa(i)
	addr := hostAddr(subnet, i)
	st.Hosts = append(st.Hosts, hostState{
		Name:  name,
		Addr:  addr.String(),
		Dir:   filepath.Join(st.dir, hostsSubdir, name),
		Netns: "raftcmp-tb-" + st.ID + "-" + name,
		Veth:  "rctv-" + st.ID + "-" + strconv.Itoa(i),
	})
	if err := st.save(); err != nil {
		return nil, hosts.Host{}, "", err
	}
	h := &st.Hosts[len(st.Hosts)-1]
	hostPub, err := writeHostFiles(*h, addr, client)
	if err != nil {
		return nil, hosts.Host{}, "", err
	}
	r, err := startInit(ctx, st, h)
	if err != nil {
		return r, hosts.Host{}, "", err
	}
	if err := bindNetns(h.PID, h.Netns); err != nil {
		return r, hosts.Host{}, "", err
	}
	if err := plugHost(st.Bridge, h.Veth, h.PID, addr, subnet.Bits()); err != nil {
		return r, hosts.Host{}, "", err
	}
	if _, err := r.goPipe.Write([]byte{1}); err != nil {
		return r, hosts.Host{}, "", fmt.Errorf("signal its init: %w%s", err, logTail(r.log))
	}
	if err := await(ctx, r, handshakeTimeout, func() error { return readStatus(r.lines, msgSSHD) }); err != nil {
		return r, hosts.Host{}, "", fmt.Errorf("start sshd: %w%s", err, logTail(r.log))
	}
	entry := hosts.Host{
		Name: name, SSH: net.JoinHostPort(addr.String(), "22"), User: "root",
		Key: filepath.Join(st.dir, KeyFile), KnownHosts: filepath.Join(st.dir, KnownHostsFile),
		Dir: hostDataDir, DataAddr: addr.String(),
	}
	return r, entry, knownHostsLine(addr, hostPub), nil
}

// writeHostFiles writes a host's key, authorized_keys and sshd_config into
// its directory and returns its public host key.
func writeHostFiles(h hostState, addr netip.Addr, client ssh.PublicKey) (ssh.PublicKey, error) {
	if err := os.Mkdir(h.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create host directory: %w", err)
	}
	key, pub, err := newKey("raftcmp-testbed-" + h.Name)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		b    []byte
	}{
		{hostKeyFile, key},
		{authorizedKeysFile, authorizedKeysLine(client)},
		{sshdConfigFile, sshdConfig(h.Name, addr)},
	} {
		if err := os.WriteFile(filepath.Join(h.Dir, f.name), f.b, 0o600); err != nil {
			return nil, fmt.Errorf("write host file: %w", err)
		}
	}
	return pub, nil
}

// startInit starts the host's init in fresh namespaces, records its pid and
// waits for it to have set up its file systems.
func startInit(ctx context.Context, st *state, h *hostState) (*running, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	logPath := filepath.Join(h.Dir, hostLogFile)
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open host log: %w", err)
	}
	defer logf.Close()
	goR, goW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	defer goR.Close()
	stR, stW, err := os.Pipe()
	if err != nil {
		goW.Close()
		return nil, fmt.Errorf("pipe: %w", err)
	}
	defer stW.Close()
	cmd := exec.Command(exe)
	cmd.Env = []string{HostEnv + "=" + h.Dir}
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{goR, stW} // fds 3 and 4: goFD, statusFD
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWNET | syscall.CLONE_NEWIPC,
		Setsid:     true,
	}
	if err := cmd.Start(); err != nil {
		goW.Close()
		stR.Close()
		return nil, fmt.Errorf("start host init: %w", err)
	}
	r := &running{goPipe: goW, status: stR, lines: bufio.NewReader(stR), exited: make(chan struct{}), log: logPath}
	go func() {
		cmd.Wait() // reaps it while this process lives; after, its new parent does
		close(r.exited)
	}()
	h.PID = cmd.Process.Pid
	h.StartTime, err = startTime(h.PID)
	if serr := st.save(); serr != nil {
		return r, serr
	}
	if err != nil {
		return r, fmt.Errorf("read start time of init (pid %d): %w", h.PID, err)
	}
	if err := await(ctx, r, handshakeTimeout, func() error { return readStatus(r.lines, msgReady) }); err != nil {
		return r, fmt.Errorf("set up: %w%s", err, logTail(logPath))
	}
	return r, nil
}

// await runs f (which blocks on the init's status pipe) until it returns,
// the init exits, ctx ends or timeout passes.
func await(ctx context.Context, r *running, timeout time.Duration, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("no answer from the host's init within %v", timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitListening waits until sshd answers on addr:22 with its banner.
func waitListening(ctx context.Context, r *running, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, listenTimeout)
	defer cancel()
	target := net.JoinHostPort(addr, "22")
	return cluster.Poll(ctx, "sshd on "+target, func(ctx context.Context) (bool, string, error) {
		select {
		case <-r.exited:
			return false, "", errors.New("the host's init exited")
		default:
		}
		d := net.Dialer{Timeout: time.Second}
		c, err := d.DialContext(ctx, "tcp", target)
		if err != nil {
			return false, err.Error(), nil
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		banner := make([]byte, 4)
		if _, err := io.ReadFull(c, banner); err != nil {
			return false, "no banner: " + err.Error(), nil
		}
		if string(banner) != "SSH-" {
			return false, fmt.Sprintf("answered %q, not an SSH banner", banner), nil
		}
		return true, "", nil
	})
}

// logTail is the end of a host's log, for an error message.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return " (host log " + path + ": " + strings.Join(lines, " | ") + ")"
}

// bindNetns names the network namespace of pid name (/run/netns/NAME, as
// `ip netns add` does), so that ip netns list shows it.
func bindNetns(pid int, name string) error {
	if err := os.MkdirAll("/run/netns", 0o755); err != nil {
		return fmt.Errorf("create /run/netns: %w", err)
	}
	p := filepath.Join("/run/netns", name)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("name network namespace: %w", err)
	}
	f.Close()
	if err := unix.Mount(fmt.Sprintf("/proc/%d/ns/net", pid), p, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind network namespace to %s: %w", p, err)
	}
	return nil
}

// unbindNetns undoes bindNetns; what is already gone is no error.
func unbindNetns(name string) error {
	p := filepath.Join("/run/netns", name)
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", p, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}

func loadState(dir string) (*state, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read testbed state: %w", err)
	}
	st := &state{dir: dir}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, StateFile), err)
	}
	return st, nil
}

// save writes the state atomically: a temporary file renamed over it.
func (st *state) save() error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode testbed state: %w", err)
	}
	tmp := filepath.Join(st.dir, StateFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write testbed state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(st.dir, StateFile)); err != nil {
		return fmt.Errorf("write testbed state: %w", err)
	}
	return nil
}

func (st *state) testbed() *Testbed {
	tb := &Testbed{
		Dir: st.dir, ID: st.ID, Bridge: st.Bridge,
		HostsFile:      filepath.Join(st.dir, HostsFile),
		KeyFile:        filepath.Join(st.dir, KeyFile),
		KnownHostsFile: filepath.Join(st.dir, KnownHostsFile),
	}
	tb.Subnet, _ = netip.ParsePrefix(st.Subnet)
	for _, h := range st.Hosts {
		a, _ := netip.ParseAddr(h.Addr)
		tb.Hosts = append(tb.Hosts, Host{Name: h.Name, Addr: a, Netns: h.Netns, Veth: h.Veth, PID: h.PID})
	}
	return tb
}
