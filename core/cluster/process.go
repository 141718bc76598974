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

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/raftcmp/raftcmp/core/adapter"
)

// Process is one running plugin process and raftcmp's gRPC handle on it.
type Process struct {
	// Node is the gRPC client of the plugin's adapter.Node.
	Node *adapter.Client
	// Desc is the plugin's own description (name, library version, PID).
	Desc adapter.Description

	client *plugin.Client
	tail   *tailWriter
	log    io.Closer
}

// LaunchOptions tune how a plugin process is started.
type LaunchOptions struct {
	// Checksum, if set, is the SHA-256 the binary must have (Verify).
	Checksum []byte
	// LogPath, if set, receives the plugin's stderr and go-plugin's own
	// messages about it. The last lines are kept in memory either way.
	LogPath string
	// StartTimeout bounds the plugin's start-up handshake (default 30 s).
	StartTimeout time.Duration
	// GOMAXPROCS, if positive, is set in the plugin's environment.
	GOMAXPROCS int
}

// Launch starts the plugin binary at path and connects to it. The caller
// must Kill the process, whatever happens afterwards.
func Launch(ctx context.Context, path string, opts LaunchOptions) (*Process, error) {
	p := &Process{tail: newTailWriter(tailLines)}
	var sink io.Writer = p.tail
	if opts.LogPath != "" {
		f, err := os.OpenFile(opts.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open plugin log: %w", err)
		}
		p.log = f
		sink = io.MultiWriter(f, p.tail)
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 30 * time.Second
	}
	cmd := exec.Command(path)
	cmd.Env = os.Environ()
	if opts.GOMAXPROCS > 0 {
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(opts.GOMAXPROCS))
	}
	// If raftcmp dies without reaping (SIGKILL), the kernel kills the plugin
	// too, so no node outlives its harness.
	// Its own process group: a Ctrl-C at the terminal is raftcmp's to
	// handle (finish the point, then tear down), and must not kill a node
	// that has not yet installed go-plugin's handler.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  adapter.Handshake,
		VersionedPlugins: adapter.ClientPlugins(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     opts.StartTimeout,
		Stderr:           sink,
		// The plugin's os.Stdout/os.Stderr (go-plugin swaps them for pipes
		// to these) end up in the log and the tail too.
		SyncStdout:      sink,
		SyncStderr:      sink,
		Logger:          hclog.New(&hclog.LoggerOptions{Name: "go-plugin", Level: hclog.Info, Output: sink}),
		GRPCDialOptions: adapter.GRPCDialOptions(),
	}
	if opts.Checksum != nil {
		cfg.SecureConfig = &plugin.SecureConfig{Checksum: opts.Checksum, Hash: sha256.New()}
	}
	p.client = plugin.NewClient(cfg)
	rpc, err := p.client.Client()
	if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
		p.Kill()
		return nil, fmt.Errorf("start plugin %s: refused: the file no longer has the SHA-256 it was verified with (was it rebuilt during the run?): %w", path, err)
	}
	if err != nil {
		p.Kill()
		return nil, fmt.Errorf("start plugin %s: %w%s", path, err, p.StderrTail())
	}
	raw, err := rpc.Dispense(adapter.PluginName)
	if err != nil {
		p.Kill()
		return nil, fmt.Errorf("dispense plugin %s: %w", path, err)
	}
	p.Node = raw.(*adapter.Client)
	if p.Desc, err = p.Node.Describe(ctx); err != nil {
		p.Kill()
		return nil, fmt.Errorf("describe plugin %s: %w", path, err)
	}
	return p, nil
}

// Exited reports whether the plugin process has ended.
func (p *Process) Exited() bool { return p.client.Exited() }

// Kill ends the process (gracefully if it answers, with SIGKILL after two
// seconds otherwise) and waits until it is reaped. Safe to call twice.
func (p *Process) Kill() {
	p.client.Kill()
	if p.log != nil {
		p.log.Close()
		p.log = nil
	}
}

// WaitExit waits up to d for the process to end (a failed RPC often
// arrives just before the exit is noticed) and, if it ended, reaps it so
// that everything it wrote is in StderrTail. It reports whether it ended.
func (p *Process) WaitExit(d time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if Poll(ctx, "plugin exit", func(context.Context) (bool, string, error) { return p.Exited(), "running", nil }) != nil {
		return false
	}
	p.Kill()
	return true
}

// StderrTail returns the last lines the plugin wrote to stderr (and the
// line that started a panic or fatal error, however long the trace after
// it), formatted to be appended to an error message, or "" if it wrote
// nothing.
func (p *Process) StderrTail() string {
	lines := p.tail.lines()
	if len(lines) == 0 {
		return ""
	}
	return "; plugin stderr: " + strings.Join(lines, " | ")
}

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
	proc, err := Launch(ctx, p.Path, LaunchOptions{Checksum: p.Checksum})
	if err != nil {
		return adapter.Description{}, err
	}
	defer proc.Kill()
	return proc.Desc, nil
}
