package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/raftcmp/raftcmp/core/adapter"
)

// LocalLauncher runs each node as a plugin process on this machine: a
// hashicorp/go-plugin subprocess speaking gRPC, in a process group of its
// own and killed by the kernel if raftcmp dies (PDEATHSIG). It is the
// default Launcher.
type LocalLauncher struct {
	// StartTimeout bounds a plugin's start-up handshake (default 30 s).
	StartTimeout time.Duration
}

// Addrs returns loopback addresses with ports that were free a moment ago
// (FreeAddrs).
func (LocalLauncher) Addrs(n int) ([]string, error) { return FreeAddrs(n) }

// Launch creates req.DataDir and starts the plugin binary in it.
func (l LocalLauncher) Launch(ctx context.Context, req LaunchRequest) (Process, error) {
	if err := os.MkdirAll(req.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	return l.launch(ctx, req)
}

// launch starts the plugin binary req.Plugin and connects to it. The
// caller must Close the process, whatever happens afterwards.
func (l LocalLauncher) launch(ctx context.Context, req LaunchRequest) (*localProcess, error) {
	p := &localProcess{tail: newTailWriter(tailLines)}
	sink, log, err := PluginOutput(req.LogPath, p.tail)
	if err != nil {
		return nil, err
	}
	p.log = log
	if l.StartTimeout == 0 {
		l.StartTimeout = 30 * time.Second
	}
	path := req.Plugin.Path
	cmd := exec.Command(path)
	cmd.Env = os.Environ()
	if req.GOMAXPROCS > 0 {
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(req.GOMAXPROCS))
	}
	// If raftcmp dies without reaping (SIGKILL), the kernel kills the plugin
	// too, so no node outlives its harness.
	// Its own process group: a Ctrl-C at the terminal is raftcmp's to
	// handle (finish the point, then tear down), and must not kill a node
	// that has not yet installed go-plugin's handler.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cfg := PluginClientConfig(sink, l.StartTimeout)
	cfg.Cmd = cmd
	if req.Plugin.Checksum != nil {
		cfg.SecureConfig = &plugin.SecureConfig{Checksum: req.Plugin.Checksum, Hash: sha256.New()}
	}
	p.client = plugin.NewClient(cfg)
	rpc, err := p.client.Client()
	if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
		p.Close()
		return nil, fmt.Errorf("start plugin %s: refused: the file no longer has the SHA-256 it was verified with (was it rebuilt during the run?): %w", path, err)
	}
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("start plugin %s: %w%s", path, err, p.StderrTail())
	}
	raw, err := rpc.Dispense(adapter.PluginName)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("dispense plugin %s: %w", path, err)
	}
	p.node = raw.(*adapter.Client)
	p.pid = cmd.Process.Pid // the child raftcmp started, whatever the plugin says
	if _, err := p.node.Identify(ctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("describe plugin %s: %w", path, err)
	}
	return p, nil
}

// localProcess is a plugin process on this machine and raftcmp's gRPC
// handle on it.
type localProcess struct {
	node   *adapter.Client
	pid    int // 0 until connected
	client *plugin.Client
	tail   *tailWriter

	mu  sync.Mutex
	log io.Closer
}

func (p *localProcess) Node() Node   { return p.node }
func (p *localProcess) PID() int     { return p.pid }
func (p *localProcess) Exited() bool { return p.client.Exited() }

// Kill sends SIGKILL, then reaps.
func (p *localProcess) Kill() error {
	var err error
	if p.pid <= 0 {
		return p.Close()
	}
	if e := syscall.Kill(p.pid, syscall.SIGKILL); e != nil && e != syscall.ESRCH {
		err = fmt.Errorf("kill process %d: %w", p.PID(), e)
	}
	return errors.Join(err, p.Close())
}

// Close ends the process (gracefully if it answers, with SIGKILL after two
// seconds otherwise) and waits until it is reaped.
func (p *localProcess) Close() error {
	p.client.Kill()
	p.mu.Lock()
	if p.log != nil {
		p.log.Close()
		p.log = nil
	}
	p.mu.Unlock()
	if p.pid > 0 && isAlive(p.pid) {
		return fmt.Errorf("process %d still alive after kill", p.PID())
	}
	return nil
}

func (p *localProcess) Pin(cpu int) error { return PinProcess(p.PID(), cpu) }

// Usage reads /proc, unless the process ended (its pid may be reused).
func (p *localProcess) Usage() (Usage, error) {
	if p.Exited() {
		return Usage{}, fmt.Errorf("process %d has ended", p.PID())
	}
	return ProcUsage(p.PID())
}

// StderrTail returns the last lines the plugin wrote to stderr (and the
// line that started a panic or fatal error, however long the trace after
// it), formatted to be appended to an error message, or "" if it wrote
// nothing.
func (p *localProcess) StderrTail() string { return formatTail(p.tail.lines()) }

// tailLines is how many stderr lines a Process keeps for error messages.
const tailLines = 8

// tailWriter keeps the last n lines written to it, and the first line
// that announced a crash.
type tailWriter struct {
	mu      sync.Mutex
	n       int
	partial []byte
	buf     []string
	crash   string
}

func newTailWriter(n int) *tailWriter { return &tailWriter{n: n} }

func (t *tailWriter) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, b...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		if line := strings.TrimSpace(string(t.partial[:i])); line != "" {
			if t.crash == "" && (strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ")) {
				t.crash = line
			}
			t.buf = append(t.buf, line)
			if len(t.buf) > t.n {
				t.buf = t.buf[len(t.buf)-t.n:]
			}
		}
		t.partial = t.partial[i+1:]
	}
	return len(b), nil
}

func (t *tailWriter) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	if t.crash != "" && !slices.Contains(t.buf, t.crash) {
		out = append(out, t.crash, "...")
	}
	out = append(out, t.buf...)
	if s := strings.TrimSpace(string(t.partial)); s != "" {
		out = append(out, s)
	}
	return out
}

// Describe starts the plugin just long enough to ask for its description.
func Describe(ctx context.Context, p Plugin) (adapter.Description, error) {
	proc, err := LocalLauncher{}.launch(ctx, LaunchRequest{Plugin: p})
	if err != nil {
		return adapter.Description{}, err
	}
	defer proc.Close()
	return proc.node.Describe(), nil
}

// Settings starts the plugin just long enough to ask what node 1 of a
// cluster of the given size would run under cfg (adapter.Node.Settings),
// and what the plugin is. cfg's ID and Peers are filled in here, with
// placeholder addresses: Settings starts nothing, so none is dialled.
func Settings(ctx context.Context, p Plugin, nodes int, cfg adapter.Config) (adapter.Description, adapter.Settings, error) {
	cfg.ID, cfg.Peers = 1, nil
	for id := uint64(1); id <= uint64(nodes); id++ {
		cfg.Peers = append(cfg.Peers, adapter.Peer{ID: id, Addr: fmt.Sprintf("127.0.0.1:%d", 7000+id)})
	}
	proc, err := LocalLauncher{}.launch(ctx, LaunchRequest{Plugin: p})
	if err != nil {
		return adapter.Description{}, adapter.Settings{}, err
	}
	defer proc.Close()
	set, err := proc.node.Settings(cfg)
	if err != nil {
		return adapter.Description{}, adapter.Settings{}, fmt.Errorf("settings of %s: %w", p.Name, err)
	}
	return proc.node.Describe(), set, nil
}
