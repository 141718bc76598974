// Package remote runs a cluster's nodes on remote hosts over SSH: a
// cluster.Launcher that starts node i's plugin process on its host from a
// hosts file (core/hosts, docs/hosts.md), so that the runner and the
// cluster do not care where a node runs.
//
// Everything goes through one SSH connection per host (golang.org/x/crypto/
// ssh), with the host key checked against the hosts file's known_hosts and
// a keepalive: nothing but sshd has to be reachable on a host.
//
//   - Binaries: raftcmp itself (the host-side helper) and each plugin are
//     copied to the host's dir over SFTP once per run and host, and their
//     SHA-256 is computed on the host and compared with the one raftcmp
//     verified locally (cluster.Verify); the helper hashes the plugin again
//     right before running exactly the bytes it hashed.
//   - Nodes: go-plugin's RunnerFunc starts `raftcmp host run-plugin` over
//     an SSH session (sessionRunner); the helper starts the plugin as its
//     child and passes its handshake through; the plugin's unix socket on
//     the host is reached through the same connection (OpenSSH streamlocal
//     forwarding) from a local socket go-plugin dials.
//   - A node dies with its session, within seconds: there is no PDEATHSIG
//     across hosts, so the helper kills its node when its stdin (the
//     session's) ends or stays silent for heartbeatSilence.
//   - pid, usage, pin, free ports and data removal are one SSH exec each of
//     the helper (RunHelper), arguments quoted by shellQuote.
//
// go-plugin never re-establishes a lost connection: when a host's SSH
// connection ends, every node on it is gone for the rest of the point (its
// helper kills it; go-plugin reports it exited). The next Launch on that
// host dials a new connection.
package remote

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/adapter/adapterpb"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/hosts"
)

// Config says where a Launcher places nodes and what it runs there.
type Config struct {
	// Hosts, in hosts file order: node i runs on host i, round robin when
	// there are fewer hosts than nodes (hosts.Place).
	Hosts []hosts.Host
	// Nodes is the cluster size: New connects to the hosts these nodes
	// use, and no other.
	Nodes int
	// Helper is the local binary run on every host as the helper
	// (`HELPER host OP ...`): raftcmp itself, statically linked. Default:
	// this process's executable.
	Helper string
	// Keepalive is how often each connection is checked (default 5 s); a
	// connection that does not answer within twice that is closed.
	Keepalive time.Duration
	// StartTimeout bounds a plugin's start-up handshake (default 30 s).
	StartTimeout time.Duration
	// KeepData: the run keeps node data (--keep-data), so it is never
	// marked as raftcmp's on the hosts, nor removed by a helper whose
	// session was lost, nor by `raftcmp cleanup --hosts`.
	KeepData bool
}

// Launcher starts node processes on remote hosts. It implements
// cluster.Launcher and cluster.DataRemover. Safe for concurrent use; Close
// it when the run ends.
type Launcher struct {
	cfg       Config
	helperSum []byte
	sites     []*site // as cfg.Hosts
}

var (
	_ cluster.Launcher    = (*Launcher)(nil)
	_ cluster.DataRemover = (*Launcher)(nil)
)

// site is one host: its current connection and what is installed there.
type site struct {
	host     hosts.Host
	used     bool // a node of the cluster size runs here
	launched bool // a node was launched here (guarded by mu)

	mu     sync.Mutex // guards c (and serialises installs on the host)
	c      *conn
	helper string            // the helper's path on the host
	bins   map[string]string // SHA-256 (hex) -> path on the host
}

// New connects to every host a node of cfg.Nodes runs on and installs the
// helper there. Anything that stops a host from being used (unreachable,
// key refused, host key unknown or mismatched, its dir not writable, the
// helper not verifying) is refused here, before anything starts, as a
// *HostError; with several such hosts, the error names each.
func New(ctx context.Context, cfg Config) (*Launcher, error) {
	if cfg.Nodes < 1 {
		return nil, fmt.Errorf("nodes: %d, must be at least 1", cfg.Nodes)
	}
	pl, err := hosts.Place(cfg.Hosts, cfg.Nodes)
	if err != nil {
		return nil, err
	}
	if cfg.Helper == "" {
		if cfg.Helper, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find raftcmp's own binary: %w", err)
		}
	}
	if cfg.Keepalive <= 0 {
		cfg.Keepalive = keepaliveEvery
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	l := &Launcher{cfg: cfg}
	if err := checkStatic(cfg.Helper); err != nil {
		return nil, err
	}
	if l.helperSum, err = cluster.FileSum(cfg.Helper); err != nil {
		return nil, fmt.Errorf("hash helper: %w", err)
	}
	for _, h := range cfg.Hosts {
		l.sites = append(l.sites, &site{host: h, bins: map[string]string{}})
	}
	for id := 1; id <= cfg.Nodes; id++ {
		l.siteOf(pl.Host(id).Name).used = true
	}
	if err := l.eachUsed(func(s *site) error { _, err := l.connect(ctx, s); return err }); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// siteOf returns the site of the host named name.
func (l *Launcher) siteOf(name string) *site {
	for _, s := range l.sites {
		if s.host.Name == name {
			return s
		}
	}
	return nil
}

// nodeSite is the site of node id, placed as hosts.Place places it.
func (l *Launcher) nodeSite(id uint64) *site {
	pl, err := hosts.Place(l.cfg.Hosts, int(id))
	if err != nil {
		panic(fmt.Sprintf("remote: node %d: %v", id, err)) // New checked the hosts; ids start at 1
	}
	return l.siteOf(pl.Host(int(id)).Name)
}

// eachUsed runs f for every used host concurrently and joins the errors,
// in hosts file order.
func (l *Launcher) eachUsed(f func(*site) error) error {
	return l.each(func(s *site) bool { return s.used }, f)
}

// each runs f concurrently for every site that which selects, and joins
// the errors, in hosts file order.
func (l *Launcher) each(which func(*site) bool, f func(*site) error) error {
	errs := make([]error, len(l.sites))
	var wg sync.WaitGroup
	for i, s := range l.sites {
		if which(s) {
			wg.Go(func() { errs[i] = f(s) })
		}
	}
	wg.Wait()
	return joinLine(errs)
}

// joinLine joins errors on one line ("; ").
func joinLine(errs []error) error {
	var msgs []string
	var first error
	for _, err := range errs {
		if err != nil {
			msgs = append(msgs, err.Error())
			if first == nil {
				first = err
			}
		}
	}
	if len(msgs) <= 1 {
		return first
	}
	return fmt.Errorf("%w; %s", first, strings.Join(msgs[1:], "; "))
}

// connect returns the site's connection, dialling a new one (and
// verifying the helper on it) if there is none or it has ended.
func (l *Launcher) connect(ctx context.Context, s *site) (*conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c != nil && s.c.alive() {
		return s.c, nil
	}
	if s.c != nil {
		s.c.close()
		s.c = nil
	}
	c, err := dial(ctx, s.host, l.cfg.Keepalive)
	if err != nil {
		return nil, err
	}
	if s.helper, err = c.install(ctx, l.cfg.Helper, l.helperSum); err != nil {
		c.close()
		return nil, hostError(s.host, err, "install the helper")
	}
	s.c = c
	return c, nil
}

// Install copies each plugin to every used host and verifies it there, so
// that a host that cannot run one is refused before anything starts.
// (Launch installs what is missing too.)
func (l *Launcher) Install(ctx context.Context, plugins ...cluster.Plugin) error {
	return l.eachUsed(func(s *site) error {
		for _, p := range plugins {
			if _, _, err := l.install(ctx, s, p); err != nil {
				return err
			}
		}
		return nil
	})
}

// install puts plugin p on s's host, once per run, and returns its path
// there and its SHA-256.
func (l *Launcher) install(ctx context.Context, s *site, p cluster.Plugin) (string, string, error) {
	sum, err := localSum(p.Path, p.Checksum)
	if err != nil {
		return "", "", fmt.Errorf("hash plugin %s: %w", p.Path, err)
	}
	key := hex.EncodeToString(sum)
	c, err := l.connect(ctx, s)
	if err != nil {
		return "", "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if path, ok := s.bins[key]; ok {
		return path, key, nil
	}
	path, err := c.install(ctx, p.Path, sum)
	if err != nil {
		return "", "", hostError(s.host, err, "install plugin %s", p.Name)
	}
	s.bins[key] = path
	return path, key, nil
}

// helperRun runs one helper operation on s's host.
func (l *Launcher) helperRun(ctx context.Context, s *site, args ...string) ([]byte, error) {
	c, err := l.connect(ctx, s)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	helper := s.helper
	s.mu.Unlock()
	return c.run(ctx, append([]string{helper, HelperCommand}, args...)...)
}

// opTimeout bounds one helper operation.
const opTimeout = 30 * time.Second

// Addrs returns, for nodes 1..n, an address on its host's data network
// (data_addr, else the SSH host) with a port that was free on that host a
// moment ago (asked of the host, one exec per host).
func (l *Launcher) Addrs(n int) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	ids := map[*site][]int{}
	for id := 1; id <= n; id++ {
		s := l.nodeSite(uint64(id))
		ids[s] = append(ids[s], id)
	}
	addrs := make([]string, n)
	var mu sync.Mutex
	errs := make([]error, len(l.sites))
	var wg sync.WaitGroup
	for i, s := range l.sites {
		if len(ids[s]) == 0 {
			continue
		}
		wg.Go(func() {
			addr := cmp.Or(s.host.DataAddr, s.host.SSHHost())
			out, err := l.helperRun(ctx, s, opFreePorts, addr, strconv.Itoa(len(ids[s])))
			if err != nil {
				errs[i] = hostError(s.host, err, "find free ports")
				return
			}
			ports := strings.Fields(string(out))
			if len(ports) != len(ids[s]) {
				errs[i] = hostError(s.host, nil, "find free ports: got %q", out)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for j, id := range ids[s] {
				addrs[id-1] = net.JoinHostPort(addr, ports[j])
			}
		})
	}
	wg.Wait()
	if err := joinLine(errs); err != nil {
		return nil, err
	}
	return addrs, nil
}

// remoteDataDir is where node data directory local (CLUSTERDIR/node-N, as
// the cluster names it on this machine) lives on h: DIR/data/CLUSTER/node-N.
func remoteDataDir(h hosts.Host, local string) string {
	return path.Join(h.Dir, dataSubdir, filepath.Base(filepath.Dir(local)), filepath.Base(local))
}

// maxSocketPath is the longest unix socket path Linux accepts (sun_path
// is 108 bytes, with its terminating NUL).
const maxSocketPath = 107

// Launch starts node req.ID's plugin on its host and connects to it. The
// node's data directory there is DIR/data/CLUSTER/node-N (remoteDataDir):
// the node is told that path instead of req.DataDir.
func (l *Launcher) Launch(ctx context.Context, req cluster.LaunchRequest) (cluster.Process, error) {
	s := l.nodeSite(req.ID)
	h := s.host
	bin, sum, err := l.install(ctx, s, req.Plugin)
	if err != nil {
		return nil, err
	}
	c, err := l.connect(ctx, s)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	helper := s.helper
	s.launched = true
	s.mu.Unlock()
	var tag [8]byte
	rand.Read(tag[:])
	sockDir := path.Join(h.Dir, runSubdir, hex.EncodeToString(tag[:]))
	if n := len(sockDir) + len("/plugin") + 10; n > maxSocketPath {
		return nil, hostError(h, nil, "dir %s is too long: node sockets under it would exceed %d bytes", h.Dir, maxSocketPath)
	}
	data := remoteDataDir(h, req.DataDir)

	p := &process{launcher: l, site: s, tail: cluster.NewStderrTail()}
	sink, log, err := cluster.PluginOutput(req.LogPath, p.tail)
	if err != nil {
		return nil, err
	}
	p.log = log
	name := h.Name + ":" + bin
	cfg := cluster.PluginClientConfig(sink, l.cfg.StartTimeout)
	cfg.RunnerFunc = func(_ hclog.Logger, cmd *exec.Cmd, tmpDir string) (runner.Runner, error) {
		args := []string{helper, HelperCommand, opRunPlugin, "--sha256", sum, "--socket-dir", sockDir, "--data-dir", data,
			"--silence", heartbeatSilence.String()}
		if l.cfg.KeepData {
			args = append(args, "--keep-data")
		}
		for _, kv := range pluginEnv(cmd.Env, sockDir, req.GOMAXPROCS) {
			args = append(args, "--env", kv)
		}
		p.run = newSessionRunner(c, shellQuote(append(args, bin)...), name, tmpDir)
		return p.run, nil
	}
	// The plugin's environment is go-plugin's handshake variables only:
	// this machine's environment means nothing on the host.
	cfg.SkipHostEnv = true
	cfg.GRPCDialOptions = append(cfg.GRPCDialOptions, grpc.WithChainUnaryInterceptor(translateDataDir(req.DataDir, data)))
	p.client = plugin.NewClient(cfg)
	rpc, err := p.client.Client()
	if err != nil {
		p.Close()
		return nil, hostError(h, err, "start plugin %s", bin)
	}
	raw, err := rpc.Dispense(adapter.PluginName)
	if err != nil {
		p.Close()
		return nil, hostError(h, err, "dispense plugin %s", bin)
	}
	p.node = raw.(*adapter.Client)
	if _, err := p.node.Identify(ctx); err != nil {
		p.Close()
		return nil, hostError(h, err, "describe plugin %s", bin)
	}
	return p, nil
}

// pluginEnv is the plugin's environment on the host: go-plugin's
// variables (cookie, protocol versions, ports), its socket directory
// moved to the host's, and GOMAXPROCS if set.
func pluginEnv(env []string, sockDir string, gomaxprocs int) []string {
	var out []string
	for _, kv := range env {
		if strings.HasPrefix(kv, plugin.EnvUnixSocketDir+"=") {
			continue
		}
		out = append(out, kv)
	}
	out = append(out, plugin.EnvUnixSocketDir+"="+sockDir)
	if gomaxprocs > 0 {
		out = append(out, "GOMAXPROCS="+strconv.Itoa(gomaxprocs))
	}
	return out
}

// translateDataDir rewrites the data directory the cluster gives a node
// (its path on this machine) to the node's directory on its host, as
// go-plugin's AddrTranslator does for its socket. Any other data
// directory is refused: it would be a path on the wrong machine.
func translateDataDir(local, remote string) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoke grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if r, ok := req.(*adapterpb.StartRequest); ok {
			if r.GetDataDir() != local {
				return fmt.Errorf("data dir %s: this node's is %s (on its host %s)", r.GetDataDir(), local, remote)
			}
			r = proto.Clone(r).(*adapterpb.StartRequest)
			r.DataDir = remote
			req = r
		}
		return invoke(ctx, method, req, reply, cc, opts...)
	}
}

// RemoveData removes the cluster's data directory (the parent of its
// nodes' data directories on this machine) on every host a node was
// launched on.
func (l *Launcher) RemoveData(ctx context.Context, clusterDir string) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	launched := func(s *site) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.launched
	}
	return l.each(launched, func(s *site) error {
		base := path.Join(s.host.Dir, dataSubdir)
		if _, err := l.helperRun(ctx, s, opRemove, base, path.Join(base, filepath.Base(clusterDir))); err != nil {
			return hostError(s.host, err, "remove data")
		}
		return nil
	})
}

// Close closes every connection. Nodes still running on them die (their
// helpers see the session end).
func (l *Launcher) Close() error {
	var errs []error
	for _, s := range l.sites {
		s.mu.Lock()
		if s.c != nil {
			if err := s.c.close(); err != nil {
				errs = append(errs, hostError(s.host, err, "close connection"))
			}
			s.c = nil
		}
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

// process is a node's plugin process on a host and raftcmp's gRPC handle
// on it.
type process struct {
	launcher *Launcher
	site     *site
	run      *sessionRunner // set when go-plugin starts it
	client   *plugin.Client
	node     *adapter.Client
	tail     *cluster.StderrTail
	log      io.Closer // the node's log file, or nil
	logOnce  sync.Once // closes log
}

func (p *process) Node() cluster.Node { return p.node }

// PID is the process id on its host.
func (p *process) PID() int {
	if p.run == nil {
		return 0
	}
	return p.run.pid
}

func (p *process) Exited() bool { return p.client.Exited() }

// Kill has the helper SIGKILL the process group at once (by closing its
// session's stdin), waits until it is reaped, then closes the process.
func (p *process) Kill() error {
	var err error
	if p.run != nil && p.run.pid > 0 {
		err = p.run.Kill(context.Background())
	}
	return errors.Join(err, p.Close())
}

// Close ends the process: gracefully if it answers (go-plugin), killed by
// the helper after two seconds otherwise, and waits for the session to
// end, which the helper does only once the process is reaped. If the
// connection is gone, so is the process (its helper saw the session end).
func (p *process) Close() error {
	p.client.Kill()
	p.logOnce.Do(func() {
		if p.log != nil {
			p.log.Close()
		}
	})
	var err error
	if p.run != nil && p.run.sess != nil {
		select {
		case <-p.run.done:
		default:
			err = p.run.Kill(context.Background())
		}
	}
	if p.run != nil && p.run.dir != "" {
		// go-plugin leaves its directory behind when the process never
		// started or was killed from outside it.
		err = errors.Join(err, os.RemoveAll(p.run.dir))
	}
	return err
}

func (p *process) StderrTail() string { return p.tail.String() }

// identity is "PID STARTTIME", the process as the helper checks it.
func (p *process) identity() []string {
	return []string{strconv.Itoa(p.run.pid), strconv.FormatUint(p.run.start, 10)}
}

// Pin restricts every thread of the process to one CPU of its host.
func (p *process) Pin(cpu int) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	args := append(append([]string{opPin}, p.identity()...), strconv.Itoa(cpu))
	if _, err := p.launcher.helperRun(ctx, p.site, args...); err != nil {
		return hostError(p.site.host, err, "pin process %d", p.PID())
	}
	return nil
}

// Usage reads the process's counters on its host, unless it ended.
func (p *process) Usage() (cluster.Usage, error) {
	if p.Exited() {
		return cluster.Usage{}, fmt.Errorf("process %d on host %s has ended", p.PID(), p.site.host.Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	out, err := p.launcher.helperRun(ctx, p.site, append([]string{opUsage}, p.identity()...)...)
	if err != nil {
		return cluster.Usage{}, hostError(p.site.host, err, "usage of process %d", p.PID())
	}
	var u cluster.Usage
	if err := json.Unmarshal(out, &u); err != nil {
		return cluster.Usage{}, hostError(p.site.host, err, "usage of process %d: %q", p.PID(), out)
	}
	return u, nil
}
