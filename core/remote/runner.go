package remote

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin/runner"
	"golang.org/x/crypto/ssh"
)

// Liveness of a node's session: raftcmp writes a byte to the helper's
// stdin every heartbeatEvery; the helper kills the node after
// heartbeatSilence without one (a connection that died without closing,
// which the host's sshd may take long to notice).
const (
	heartbeatEvery   = time.Second
	heartbeatSilence = 10 * time.Second
	// killTimeout bounds the wait for a node's session to end once its
	// stdin is closed (the helper kills and reaps the node at once).
	killTimeout = 10 * time.Second
	// killByte, written before closing the helper's stdin, says raftcmp
	// ends the node on purpose; a session that ends without it was lost,
	// and the helper also removes the node's data (heartbeats are 0).
	killByte = 'k'
)

// sessionRunner is go-plugin's runner.Runner for a plugin on a host: the
// host-side helper's run-plugin, started over an SSH session of the
// host's connection. go-plugin reads the handshake from the session's
// stdout and dials the plugin's unix socket through PluginToHost, which
// forwards a local unix socket to it over the same connection (OpenSSH
// streamlocal forwarding): nothing but SSH is needed on the host.
//
// Kill closes the session's stdin, on which the helper kills the node and
// reaps it. go-plugin does not re-establish a lost connection: when the
// SSH connection ends, the session ends, the helper kills the node, and
// go-plugin reports the process exited.
type sessionRunner struct {
	c       *conn
	cmdline string // the helper's command line, quoted
	name    string // host:plugin path, for go-plugin's logs
	// dir is go-plugin's temporary directory for this plugin on this
	// machine (the forwarded socket's). go-plugin removes it only when it
	// kills a process it saw start; process.Close removes it always.
	dir string

	sess   *ssh.Session
	stdout io.Reader
	stderr io.Reader
	pid    int
	start  uint64 // the process's start time, with pid its identity

	stdinMu sync.Mutex
	stdin   io.WriteCloser // nil once closed

	done    chan struct{} // closed when the session has ended
	waitErr error

	fwdMu sync.Mutex
	fwd   *forwarder
	sock  string // the local socket go-plugin dials
}

var _ runner.Runner = (*sessionRunner)(nil)

// newSessionRunner prepares (does not start) the helper command line on
// c; localDir is go-plugin's temporary directory on this machine, where
// the forwarded socket goes.
func newSessionRunner(c *conn, cmdline, name, localDir string) *sessionRunner {
	return &sessionRunner{c: c, cmdline: cmdline, name: name, dir: localDir, sock: filepath.Join(localDir, "plugin.sock"), done: make(chan struct{})}
}

// Start runs the helper and reads its pid line. A helper that refuses
// (the plugin does not verify) or fails ends the session; its stderr is
// the error.
func (r *sessionRunner) Start(ctx context.Context) error {
	sess, err := r.c.client.NewSession()
	if err != nil {
		return fmt.Errorf("open session: %w", err)
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		sess.Close()
		return err
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		sess.Close()
		return err
	}
	stderr, err := sess.StderrPipe()
	if err != nil {
		sess.Close()
		return err
	}
	if err := sess.Start(r.cmdline); err != nil {
		sess.Close()
		return fmt.Errorf("start helper: %w", err)
	}
	r.sess, r.stdin, r.stderr = sess, stdin, stderr
	out := bufio.NewReader(stdout)
	r.stdout = out
	go func() {
		r.waitErr = sess.Wait()
		close(r.done)
	}()

	line := make(chan string, 1)
	go func() {
		l, _ := out.ReadString('\n')
		line <- l
	}()
	var first string
	select {
	case first = <-line:
	case <-ctx.Done():
		sess.Close()
		return fmt.Errorf("start helper: %w", ctx.Err())
	}
	if err := r.parsePID(first); err != nil {
		// The helper said why on stderr and is ending the session.
		var msg []byte
		t := time.NewTimer(killTimeout)
		select {
		case <-r.done: // the channel is closed: its stderr ends
			msg, _ = io.ReadAll(io.LimitReader(stderr, 4096))
		case <-t.C:
		}
		t.Stop()
		sess.Close()
		if s := oneLine(string(msg)); s != "" {
			return errors.New(s)
		}
		return err
	}
	go r.heartbeat()
	return nil
}

// parsePID reads "raftcmp-host-pid PID STARTTIME".
func (r *sessionRunner) parsePID(line string) error {
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != pidPrefix {
		return fmt.Errorf("the helper did not start the plugin (it said %q)", strings.TrimSpace(line))
	}
	pid, err1 := strconv.Atoi(f[1])
	start, err2 := strconv.ParseUint(f[2], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 {
		return fmt.Errorf("the helper said %q, want %s PID STARTTIME", strings.TrimSpace(line), pidPrefix)
	}
	r.pid, r.start = pid, start
	return nil
}

// heartbeat tells the helper raftcmp is still there, until the session
// ends or its stdin is closed.
func (r *sessionRunner) heartbeat() {
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-t.C:
		}
		r.stdinMu.Lock()
		if r.stdin == nil {
			r.stdinMu.Unlock()
			return
		}
		_, err := r.stdin.Write([]byte{0})
		r.stdinMu.Unlock()
		if err != nil {
			return
		}
	}
}

// Diagnose has nothing to add: the helper's stderr is the plugin's.
func (r *sessionRunner) Diagnose(context.Context) string { return "" }

// Stdout is the session's stdout after the pid line: go-plugin's handshake.
func (r *sessionRunner) Stdout() io.ReadCloser { return io.NopCloser(r.stdout) }

// Stderr is the session's stderr: the plugin's and the helper's.
func (r *sessionRunner) Stderr() io.ReadCloser { return io.NopCloser(r.stderr) }

// Name is host:path.
func (r *sessionRunner) Name() string { return r.name }

// ID is the plugin's pid on its host ("" before it started, which tells
// go-plugin there is nothing to kill).
func (r *sessionRunner) ID() string {
	if r.pid == 0 {
		return ""
	}
	return strconv.Itoa(r.pid)
}

// Wait waits until the session ends: the plugin exited (and the helper
// reaped it), it was killed, or the connection is gone.
func (r *sessionRunner) Wait(ctx context.Context) error {
	select {
	case <-r.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	r.closeForward()
	var missing *ssh.ExitMissingError
	if errors.As(r.waitErr, &missing) {
		return fmt.Errorf("the SSH session to host %s ended without an exit status (connection lost?)", r.c.host.Name)
	}
	return r.waitErr
}

// Kill closes the helper's stdin, on which it kills the plugin's process
// group and reaps it, and waits for the session to end (killTimeout at
// most, then the session is closed from this side).
func (r *sessionRunner) Kill(ctx context.Context) error {
	if r.sess == nil {
		return nil // never started
	}
	r.closeStdin()
	t := time.NewTimer(killTimeout)
	defer t.Stop()
	var err error
	select {
	case <-r.done:
	case <-t.C:
		err = fmt.Errorf("the session of pid %d on host %s did not end within %v of closing it", r.pid, r.c.host.Name, killTimeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	r.sess.Close()
	r.closeForward()
	return err
}

// closeStdin tells the helper to kill the node (killByte, then EOF): a
// node raftcmp ends keeps its data (the run removes it, or restarts the
// node on it).
func (r *sessionRunner) closeStdin() {
	r.stdinMu.Lock()
	defer r.stdinMu.Unlock()
	if r.stdin != nil {
		r.stdin.Write([]byte{killByte})
		r.stdin.Close()
		r.stdin = nil
	}
}

// PluginToHost forwards a local unix socket to the plugin's socket on
// the host and returns the local one, for go-plugin to dial.
func (r *sessionRunner) PluginToHost(network, addr string) (string, string, error) {
	if network != "unix" {
		return "", "", fmt.Errorf("plugin on host %s listens on %s %s; want a unix socket (PLUGIN_UNIX_SOCKET_DIR)", r.c.host.Name, network, addr)
	}
	r.fwdMu.Lock()
	defer r.fwdMu.Unlock()
	if r.fwd != nil {
		return "unix", r.sock, nil
	}
	c := r.c
	f, err := forward(r.sock, func() (net.Conn, error) { return c.client.Dial("unix", addr) })
	if err != nil {
		return "", "", err
	}
	r.fwd = f
	return "unix", r.sock, nil
}

// HostToPlugin is not needed: raftcmp's plugins use no go-plugin broker,
// whose callbacks would have to cross hosts.
func (r *sessionRunner) HostToPlugin(network, addr string) (string, string, error) {
	return "", "", fmt.Errorf("go-plugin broker connections to host %s are not supported", r.c.host.Name)
}

func (r *sessionRunner) closeForward() {
	r.fwdMu.Lock()
	defer r.fwdMu.Unlock()
	if r.fwd != nil {
		r.fwd.close()
	}
}

// forwarder accepts connections on a local unix socket and joins each to
// a new connection from dial (a channel of the SSH connection).
type forwarder struct {
	ln   net.Listener
	dial func() (net.Conn, error)

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// forward starts a forwarder listening on the unix socket path.
func forward(path string, dial func() (net.Conn, error)) (*forwarder, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	f := &forwarder{ln: ln, dial: dial, conns: map[net.Conn]struct{}{}}
	f.wg.Go(f.serve)
	return f, nil
}

func (f *forwarder) serve() {
	for {
		local, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Go(func() { f.join(local) })
	}
}

// join copies both ways between local and a new remote connection, and
// closes both when either side ends.
func (f *forwarder) join(local net.Conn) {
	remote, err := f.dial()
	if err != nil {
		local.Close()
		return
	}
	if !f.track(local, remote) {
		local.Close()
		remote.Close()
		return
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(remote, local); done <- struct{}{} }()
	go func() { io.Copy(local, remote); done <- struct{}{} }()
	<-done
	local.Close()
	remote.Close()
	<-done
	f.untrack(local, remote)
}

func (f *forwarder) track(cs ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	for _, c := range cs {
		f.conns[c] = struct{}{}
	}
	return true
}

func (f *forwarder) untrack(cs ...net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range cs {
		delete(f.conns, c)
	}
}

// close stops accepting, closes every joined connection and waits for
// the copies to end. Safe to call more than once.
func (f *forwarder) close() {
	f.mu.Lock()
	if !f.closed {
		f.closed = true
		f.ln.Close()
		for c := range f.conns {
			c.Close()
		}
	}
	f.mu.Unlock()
	f.wg.Wait()
}
