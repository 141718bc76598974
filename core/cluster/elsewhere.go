package cluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/raftcmp/raftcmp/core/adapter"
)

// DataRemover is implemented by a Launcher whose nodes keep their data
// directories somewhere Stop cannot reach with os.RemoveAll (on remote
// hosts). Stop calls RemoveData with the cluster's data directory, the
// parent of every LaunchRequest.DataDir it launched, once every node
// process has ended, unless the spec keeps the data. (A Process cannot do
// it in Close: a stopped or killed member restarts on its data.)
type DataRemover interface {
	RemoveData(ctx context.Context, clusterDir string) error
}

// StderrTail keeps the last lines a node process wrote to stderr (and the
// line that started a panic), for Process.StderrTail: a Launcher other
// than LocalLauncher writes the process's stderr to it and gets the same
// form of error suffix. Safe for concurrent use.
type StderrTail struct{ w *tailWriter }

// NewStderrTail returns an empty tail.
func NewStderrTail() *StderrTail { return &StderrTail{w: newTailWriter(tailLines)} }

// Write takes more of the process's stderr.
func (s *StderrTail) Write(b []byte) (int, error) { return s.w.Write(b) }

// String is "; plugin stderr: LINE | LINE ...", to be appended to an error
// message, or "" if nothing was written.
func (s *StderrTail) String() string { return formatTail(s.w.lines()) }

// formatTail formats a process's last stderr lines as an error suffix.
func formatTail(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return "; plugin stderr: " + strings.Join(lines, " | ")
}

// PluginOutput opens a node process's log file (LaunchRequest.LogPath) for
// appending and returns where the process's output goes: the log and tail
// together, or tail alone when logPath is "". log, nil without a log file,
// is to be closed when the process has ended.
func PluginOutput(logPath string, tail io.Writer) (out io.Writer, log io.Closer, err error) {
	if logPath == "" {
		return tail, nil, nil
	}
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("open plugin log: %w", err)
	}
	return io.MultiWriter(f, tail), f, nil
}

// PluginClientConfig is go-plugin's client configuration for a node
// process, whatever launches it: raftcmp's handshake and plugin set, gRPC
// only, and the process's stderr, its redirected stdout and stderr
// (go-plugin swaps the plugin's os.Stdout/os.Stderr for pipes to these)
// and go-plugin's own log all written to out. The caller says how the
// process starts (Cmd or RunnerFunc) and may add to the rest.
func PluginClientConfig(out io.Writer, startTimeout time.Duration) *plugin.ClientConfig {
	return &plugin.ClientConfig{
		HandshakeConfig:  adapter.Handshake,
		VersionedPlugins: adapter.ClientPlugins(),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     startTimeout,
		Stderr:           out,
		SyncStdout:       out,
		SyncStderr:       out,
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "go-plugin", Level: hclog.Info, Output: out}),
		GRPCDialOptions:  adapter.GRPCDialOptions(),
	}
}
