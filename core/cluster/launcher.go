package cluster

import (
	"context"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/load"
)

// Launcher starts the processes that host a cluster's nodes. The cluster
// does everything it does to a node's process (kill, reap, pin, read its
// usage, quote its stderr) through the Process its launcher returned, so
// where and how nodes run is the launcher's business alone.
// LocalLauncher, the default, runs each node as a plugin process on this
// machine; core/inproc runs every node inside the calling process.
type Launcher interface {
	// Addrs returns the Raft listen addresses of n nodes, in id order. A
	// node keeps its address for the life of the cluster, restarts too.
	Addrs(n int) ([]string, error)
	// Launch starts the process of one node, creating req.DataDir if it
	// does not exist, and returns once the process answers; the node in it
	// is not started yet. On error nothing of that process is left.
	Launch(ctx context.Context, req LaunchRequest) (Process, error)
}

// LaunchRequest is what a Launcher is told about the node to launch.
type LaunchRequest struct {
	// Plugin is the backend's binary.
	Plugin Plugin
	// ID is the node's id; DataDir is its data directory.
	ID      uint64
	DataDir string
	// LogPath, if set, receives the process's stderr.
	LogPath string
	// GOMAXPROCS, if positive, is the process's GOMAXPROCS.
	GOMAXPROCS int
}

// Process is one running node process as its Launcher manages it. Its
// methods are safe for concurrent use.
type Process interface {
	// Node is the node the process hosts.
	Node() Node
	// PID is the process id where the process runs.
	PID() int
	// Exited reports whether the process has ended.
	Exited() bool
	// Kill ends the process at once (SIGKILL), as a crash would, and reaps
	// it.
	Kill() error
	// Close ends the process (gracefully if it still answers, forcibly
	// after a grace period) and reaps it; an error says it outlived that.
	// Safe to call more than once.
	Close() error
	// StderrTail returns the last lines the process wrote to stderr,
	// formatted to be appended to an error message, or "".
	StderrTail() string
	// Pin restricts every thread of the process to one CPU.
	Pin(cpu int) error
	// Usage is what the process has used so far; an error once it ended.
	Usage() (Usage, error)
}

// Node is a member's node as the cluster drives it: the contract every
// backend implements (the gRPC client of a plugin process implements it
// too), and the load generator run beside the node, in its process.
type Node interface {
	adapter.Node
	// RunLoad runs the load generator in the node's process against the
	// node (the embedded client) and returns what it measured.
	RunLoad(ctx context.Context, spec load.Spec) (*load.Result, error)
}

// Hooks let the caller act around each node's life without the cluster
// knowing how: package faults uses them to put every node process in a
// cgroup of its own and a proxy on every link between nodes. Every field
// is optional.
type Hooks struct {
	// Prepare is called once every node has its id and listen address,
	// before any process starts.
	Prepare func(ctx context.Context, nodes []adapter.Peer) error
	// Started is called whenever a node's process has started (in Start,
	// and again after RestartMember), before the node in it is started.
	// Its error fails the start; the cluster names the node.
	Started func(ctx context.Context, id uint64, p Process) error
	// PeerAddr returns the address node from dials to reach node to; ""
	// (or a nil PeerAddr) means to's own listen address.
	PeerAddr func(from, to uint64) string
	// Teardown is called by Stop (and so on every failed Start) once every
	// node process has ended, to remove what Prepare and Started made.
	Teardown func() error
}
