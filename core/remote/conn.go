package remote

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/raftcmp/raftcmp/core/hosts"
)

// Deadlines of the SSH connection.
const (
	dialTimeout    = 15 * time.Second // TCP connect and SSH handshake
	keepaliveEvery = 5 * time.Second  // default Config.Keepalive; unanswered for twice that, a connection ends
)

// HostError is a host refused or failed: unreachable, refusing the key, a
// host key that does not match, a binary that does not verify. Its
// message is one line naming the host.
type HostError struct {
	Host   string // the host's name in the hosts file
	SSH    string // its SSH address
	Reason string
	Err    error // the underlying error, if any
}

// Error is "host NAME (ADDR): REASON".
func (e *HostError) Error() string {
	return fmt.Sprintf("host %s (%s): %s", e.Host, e.SSH, e.Reason)
}

// Unwrap returns the underlying error.
func (e *HostError) Unwrap() error { return e.Err }

// hostError wraps err as a failure of host h, with what was being done.
func hostError(h hosts.Host, err error, format string, args ...any) error {
	var he *HostError
	if errors.As(err, &he) {
		return err // already names the host
	}
	reason := fmt.Sprintf(format, args...)
	if err != nil {
		reason += ": " + oneLine(err.Error())
	}
	return &HostError{Host: h.Name, SSH: h.SSH, Reason: reason, Err: err}
}

// oneLine keeps a message on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// conn is the one SSH connection to a host that everything raftcmp does
// there shares: the nodes' sessions, their forwarded sockets, SFTP and the
// helper's operations. A keepalive closes it when the host stops
// answering, which ends every session on it.
type conn struct {
	host   hosts.Host
	client *ssh.Client
	raw    net.Conn      // the TCP connection under client
	gone   chan struct{} // closed once the connection has ended

	sftpMu sync.Mutex
	sftp   *sftp.Client
}

// Dial connects to h as a run does (same user, key and host key checks,
// same refusals) and returns a plain SSH client, for tools and tests that
// look at a host the way raftcmp reaches it. The caller closes it.
func Dial(ctx context.Context, h hosts.Host) (*ssh.Client, error) {
	c, err := dial(ctx, h, keepaliveEvery)
	if err != nil {
		return nil, err
	}
	return c.client, nil
}

// dial connects to h as the hosts file says: its user, its key (or the
// SSH agent's keys) and its host key checked against its known_hosts file
// (unless it says insecure-accept-any). Every failure is a *HostError
// saying why: unreachable, unknown or mismatched host key, key refused.
func dial(ctx context.Context, h hosts.Host, keepalive time.Duration) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", h.SSH)
	if err != nil {
		return nil, hostError(h, err, "unreachable")
	}
	auth, closeAuth, err := authMethod(h)
	if err != nil {
		raw.Close()
		return nil, hostError(h, err, "key")
	}
	defer closeAuth()
	check, algos, err := hostKeyCheck(h, raw.RemoteAddr())
	if err != nil {
		raw.Close()
		return nil, hostError(h, err, "known_hosts %s", h.KnownHosts)
	}
	cfg := &ssh.ClientConfig{
		User:              h.User,
		Auth:              []ssh.AuthMethod{auth},
		HostKeyCallback:   check,
		HostKeyAlgorithms: algos,
	}
	// The handshake has no context of its own: a deadline on the socket
	// bounds it, and cancelling ctx moves the deadline to now.
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Now()) })
	cc, chans, reqs, err := ssh.NewClientConn(raw, h.SSH, cfg)
	stop()
	if err != nil {
		raw.Close()
		return nil, handshakeError(h, err)
	}
	raw.SetDeadline(time.Time{})
	c := &conn{host: h, client: ssh.NewClient(cc, chans, reqs), raw: raw, gone: make(chan struct{})}
	go func() {
		c.client.Wait()
		close(c.gone)
	}()
	go c.keepalive(keepalive)
	return c, nil
}

// authMethod is the host's key file, or the SSH agent's keys. The
// returned func releases the agent connection once the handshake is done.
func authMethod(h hosts.Host) (ssh.AuthMethod, func(), error) {
	if h.Key != "" {
		b, err := os.ReadFile(h.Key)
		if err != nil {
			return nil, nil, err
		}
		signer, err := ssh.ParsePrivateKey(b)
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, nil, fmt.Errorf("%s is protected by a passphrase: load it into the SSH agent and write key: %s", h.Key, hosts.Agent)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", h.Key, err)
		}
		return ssh.PublicKeys(signer), func() {}, nil
	}
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, nil, fmt.Errorf("%s, but SSH_AUTH_SOCK is not set: start an SSH agent, or name a key file", hosts.Agent)
	}
	ac, err := net.Dial("unix", sock)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: SSH_AUTH_SOCK %s: %w", hosts.Agent, sock, err)
	}
	return ssh.PublicKeysCallback(agent.NewClient(ac).Signers), func() { ac.Close() }, nil
}

// probeKey is a key no host has: offered to a known_hosts callback, it
// makes the callback list the keys it knows for the host.
var probeKey, _ = ssh.NewPublicKey(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)))

// hostKeyCheck returns the host key callback for h and the host key
// algorithms to ask for: those of the keys known_hosts lists for the host,
// so that a host with several keys presents one known_hosts can check
// (otherwise the server picks its preferred type and a host known by
// another key type fails as a mismatch).
func hostKeyCheck(h hosts.Host, remote net.Addr) (ssh.HostKeyCallback, []string, error) {
	if h.InsecureAcceptAny {
		return ssh.InsecureIgnoreHostKey(), nil, nil
	}
	check, err := knownhosts.New(h.KnownHosts)
	if err != nil {
		return nil, nil, err
	}
	var ke *knownhosts.KeyError
	if err := check(h.SSH, remote, probeKey); !errors.As(err, &ke) {
		return check, nil, nil
	}
	var algos []string
	for _, k := range ke.Want {
		t := k.Key.Type()
		if t == ssh.KeyAlgoRSA { // an RSA key signs with these
			algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		} else {
			algos = append(algos, t)
		}
	}
	slices.Sort(algos)
	return check, slices.Compact(algos), nil
}

// handshakeError says why the SSH handshake with h failed, in the words a
// user acts on.
func handshakeError(h hosts.Host, err error) error {
	var ke *knownhosts.KeyError
	switch {
	case errors.As(err, &ke) && len(ke.Want) > 0:
		return hostError(h, nil, "host key does not match %s (line %d): refused (a reinstalled host, or another machine at this address)", ke.Want[0].Filename, ke.Want[0].Line)
	case errors.As(err, &ke):
		return hostError(h, nil, "host key unknown: %s has no key for %s: refused (add it, e.g. with ssh-keyscan, after checking its fingerprint)", h.KnownHosts, h.SSH)
	case strings.Contains(err.Error(), "unable to authenticate"):
		if h.Key != "" {
			return hostError(h, nil, "refused the key %s for user %s", h.Key, h.User)
		}
		return hostError(h, nil, "refused every key of the SSH agent for user %s", h.User)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return hostError(h, nil, "unreachable: no SSH handshake within %v", dialTimeout)
	}
	return hostError(h, err, "ssh")
}

// keepalive asks the server for a reply every interval and closes the
// connection when one does not come within two intervals: a host that
// vanished without closing the TCP connection is noticed, and every
// session on it ends.
func (c *conn) keepalive(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.gone:
			return
		case <-t.C:
		}
		reply := make(chan error, 1)
		go func() {
			// A server that does not know the request still answers
			// (with a failure): any answer proves the connection alive.
			_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		timeout := time.NewTimer(2 * interval)
		select {
		case err := <-reply:
			timeout.Stop()
			if err != nil {
				c.raw.Close()
				return
			}
		case <-timeout.C:
			c.raw.Close()
			return
		case <-c.gone:
			timeout.Stop()
			return
		}
	}
}

// alive reports whether the connection has not ended.
func (c *conn) alive() bool {
	select {
	case <-c.gone:
		return false
	default:
		return true
	}
}

// close ends the connection and everything on it.
func (c *conn) close() error {
	c.sftpMu.Lock()
	if c.sftp != nil {
		c.sftp.Close()
		c.sftp = nil
	}
	c.sftpMu.Unlock()
	err := c.client.Close()
	<-c.gone
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// run executes one command on the host (args, quoted for its shell) and
// returns what it wrote to stdout. If it fails, the error is what it
// wrote to stderr. Cancelling ctx ends the session.
func (c *conn) run(ctx context.Context, args ...string) ([]byte, error) {
	s, err := c.client.NewSession()
	if err != nil {
		return nil, fmt.Errorf("open session: %w", err)
	}
	defer s.Close()
	var out, errb bytes.Buffer
	s.Stdout, s.Stderr = &out, &errb
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	if err := s.Run(shellQuote(args...)); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if msg := oneLine(errb.String()); msg != "" {
			return nil, errors.New(msg)
		}
		return nil, err
	}
	return out.Bytes(), nil
}

// files returns the connection's SFTP client, started on first use.
func (c *conn) files() (*sftp.Client, error) {
	c.sftpMu.Lock()
	defer c.sftpMu.Unlock()
	if c.sftp == nil {
		fc, err := sftp.NewClient(c.client, sftp.UseConcurrentWrites(true))
		if err != nil {
			return nil, fmt.Errorf("start sftp (the host's sshd needs an sftp subsystem): %w", err)
		}
		c.sftp = fc
	}
	return c.sftp, nil
}
