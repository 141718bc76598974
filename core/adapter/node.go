package adapter

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Node is one member of a Raft cluster, hosted in its own plugin process.
// The package documentation states the contract of each method.
type Node interface {
	// Describe says what this backend is. It is called before Start and
	// must not block.
	Describe() Description
	// Settings is the configuration Start(cfg) would run: the values a
	// comparison depends on, each with its source, and the knobs of
	// cfg.Raft it cannot honour as given. It starts nothing and may be
	// called before Start, more than once.
	Settings(cfg Config) (Settings, error)
	// Start creates or recovers the node described by cfg and joins its
	// cluster.
	Start(ctx context.Context, cfg Config) error
	// Propose returns once payload is committed and applied on this node,
	// with its position: the 1-based rank of this payload among the
	// payloads this node's state machine applied (Status.AppliedPayloads
	// right after applying it). A node that does not take proposals
	// returns a *NotLeaderError.
	Propose(ctx context.Context, payload []byte) (uint64, error)
	// Read serves one read in mode and returns the state machine state it
	// was served from; see ReadMode. A mode the backend does not declare
	// in Capabilities.ReadModes returns ErrUnsupported (wrapped).
	Read(ctx context.Context, mode ReadMode) (ReadState, error)
	// Status is this node's current view; see Status.
	Status(ctx context.Context) (Status, error)
	// Stop shuts the node down and releases everything it holds.
	Stop(ctx context.Context) error
}

// Storage names where a node keeps its log; see the package documentation.
type Storage string

// The storage modes every backend interprets the same way.
const (
	StorageDisk   Storage = "disk"
	StorageTmpfs  Storage = "tmpfs"
	StorageMemory Storage = "memory"
)

// StorageModes lists the valid modes in the order reports show them.
var StorageModes = []Storage{StorageDisk, StorageTmpfs, StorageMemory}

// Durable reports whether the mode keeps the log in files under DataDir.
func (s Storage) Durable() bool { return s == StorageDisk || s == StorageTmpfs }

// Peer is one cluster member as seen from the node being configured: its id
// (1-based, unique) and the address this node dials to reach it.
type Peer struct {
	ID   uint64
	Addr string
}

// Config is everything a node needs to start.
type Config struct {
	// ID is this node's id; it appears in Peers.
	ID uint64
	// Listen is the address this node's Raft transport binds.
	Listen string
	// Peers is the whole cluster, this node included, in id order, with the
	// address this node must dial to reach each peer. That address may
	// differ from the peer's Listen address and from one node to another:
	// raftcmp's network faults put a proxy on every directed link. A
	// backend must therefore dial peers by id through this list, never by
	// an address learnt from another node. This node's own entry holds its
	// Listen address.
	Peers []Peer
	// DataDir is this node's own directory; it exists and is empty on a
	// fresh start. Durable storage lives here, nowhere else.
	DataDir string
	// Storage is the storage mode.
	Storage Storage
	// Options is backend-specific tuning; see Options.
	Options Options
	// Raft is the shared Raft knobs; an unset one is the backend's
	// production value. See Raft and Node.Settings.
	Raft Raft
	// ReadMode is the consistent read mode (ReadLinearizable or
	// ReadLease) the experiment will read in; empty means linearizable.
	// Most libraries choose the read path per read and ignore it; a
	// library whose read path is a setting of the node (etcd raft's
	// ReadOnlyOption) is configured from it, and its Read in the other
	// consistent mode returns ErrUnsupported. ReadStale is always served.
	ReadMode ReadMode
	// Join starts a node that joins a running cluster instead of forming
	// one: it must not bootstrap a membership of its own (not even from
	// Peers) and learns the membership from the leader, which adds it with
	// Reconfigurer.ChangeMembership. Peers then lists the running members
	// and this node, so it can reach them. Only sent to a backend whose
	// Capabilities declare Membership, on an empty DataDir.
	Join bool
}

// ListenAddr is the address this node's Raft transport binds: Listen, or,
// if that is empty, the node's own entry in Peers.
func (c Config) ListenAddr() (string, error) {
	if c.Listen != "" {
		return c.Listen, nil
	}
	self, err := c.Self()
	if err != nil {
		return "", err
	}
	return self.Addr, nil
}

// Self returns the Peer entry of this node.
func (c Config) Self() (Peer, error) {
	for _, p := range c.Peers {
		if p.ID == c.ID {
			return p, nil
		}
	}
	return Peer{}, fmt.Errorf("node %d is not among its peers", c.ID)
}

// Reconfigurer is what a backend whose Capabilities declare Membership
// implements besides Node: a membership change through the leader, and an
// address book raftcmp can replace while the node runs. raftcmp adds a
// node by starting a fresh one with Config.Join, giving every running
// member the new peer list with SetPeers, then calling ChangeMembership on
// the leader; it removes one with ChangeMembership on the leader, then
// stops its process and gives the others the shorter list.
type Reconfigurer interface {
	// ChangeMembership makes the change through the library's own
	// membership API and returns once the new configuration is committed
	// (and applied on this node). It is called on the leader; any other
	// node returns a *NotLeaderError. One change at a time: raftcmp waits
	// for each before the next.
	ChangeMembership(ctx context.Context, ch MemberChange) error
	// SetPeers replaces the node's address book: peers is every member
	// this node must reach (itself included), with the address to dial,
	// as Config.Peers. A peer no longer listed is no longer dialled.
	// Changing the address of a peer that stays listed may be refused.
	SetPeers(ctx context.Context, peers []Peer) error
}

// MemberOp is the kind of a membership change.
type MemberOp string

// The membership changes.
const (
	// MemberAdd adds MemberChange.Peer as a voter.
	MemberAdd MemberOp = "add"
	// MemberRemove removes the node MemberChange.Peer.ID.
	MemberRemove MemberOp = "remove"
)

// MemberChange is one membership change: add Peer (its id and the address
// the leader dials it at, which a library may also record in its
// replicated configuration), or remove the node Peer.ID.
type MemberChange struct {
	Op   MemberOp
	Peer Peer
}

// String is "add node 4 at ADDR" or "remove node 2".
func (c MemberChange) String() string {
	if c.Op == MemberAdd {
		return fmt.Sprintf("add node %d at %s", c.Peer.ID, c.Peer.Addr)
	}
	return fmt.Sprintf("%s node %d", c.Op, c.Peer.ID)
}

// Role is a node's part in the cluster as the library reports it.
type Role string

// The roles raftcmp distinguishes. A library's other states (pre-candidate,
// learner, shutdown) map to the nearest of these or RoleUnknown.
const (
	RoleLeader    Role = "leader"
	RoleFollower  Role = "follower"
	RoleCandidate Role = "candidate"
	RoleUnknown   Role = "unknown"
)

// Status is a node's view of itself and its cluster.
type Status struct {
	ID     uint64
	Role   Role
	Leader uint64 // 0 when no leader is known
	Term   uint64
	Commit uint64 // highest index known committed
	// Applied is the highest log index applied to the state machine.
	Applied uint64
	// AppliedPayloads counts user payloads applied; Digest chains them.
	AppliedPayloads uint64
	Digest          uint64

	// The snapshot counters count from this node's Start (a restarted
	// node starts again at zero) and only grow.
	//
	// Snapshots is how many snapshots this node took of its own state
	// machine (the library's automatic snapshots, which the snapshot knob
	// paces); a snapshot received from a leader is not one.
	Snapshots uint64
	// SnapshotInstalls is how many snapshots this node received from a
	// leader and restored into its state machine, replacing its state; a
	// node restoring its own snapshot from disk at Start does not count.
	SnapshotInstalls uint64
	// SnapshotTime is the time spent taking the Snapshots. Each backend
	// measures what its library lets it see, and its package documentation
	// says what that is: etcd raft, whose snapshots the adapter drives, the
	// whole of them (state machine, snapshot file, WAL record, log
	// compaction); hashicorp/raft from the FSM's Snapshot call to the
	// snapshot sink's Close (file written and synced; the compaction that
	// follows is not seen); dragonboat from the state machine's
	// SaveSnapshot call to the library's SnapshotCreated event (file, LogDB
	// record, compaction; not the work before SaveSnapshot).
	SnapshotTime time.Duration
}

// ReadMode is how a read is served; see the package documentation.
type ReadMode string

// The read modes. Each backend serves a mode through its library's own read
// path, or declares it unsupported; raftcmp never emulates one.
const (
	// ReadLinearizable reflects every write acknowledged before the read
	// began: the library's linearizable read path (ReadIndex, leader
	// verification).
	ReadLinearizable ReadMode = "linearizable"
	// ReadLease is a linearizable read that trusts the leader's lease (a
	// bound on clock drift) instead of a round of heartbeats; only for a
	// library that offers it.
	ReadLease ReadMode = "lease"
	// ReadStale is this node's local state, without coordination: it may
	// miss acknowledged writes.
	ReadStale ReadMode = "stale"
)

// ReadModes lists the valid read modes in the order reports show them.
var ReadModes = []ReadMode{ReadLinearizable, ReadLease, ReadStale}

// ParseReadMode returns the mode named s, or an error listing the valid ones.
func ParseReadMode(s string) (ReadMode, error) {
	for _, m := range ReadModes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("read mode %q: want linearizable, lease or stale", s)
}

// ReadState is what a node had applied when it served a read: the count of
// user payloads and their Digest, as in Status.
type ReadState struct {
	AppliedPayloads uint64
	Digest          uint64
}

// Capabilities are the things backends legitimately differ in; reports show
// them beside the numbers.
type Capabilities struct {
	// ForwardsProposals: a follower's Propose forwards to the leader instead
	// of returning *NotLeaderError.
	ForwardsProposals bool
	// Storage lists the supported storage modes.
	Storage []Storage
	// MaxNodes is the largest cluster the backend can form; 0 means no
	// limit. raftcmp refuses an experiment beyond it before starting
	// anything, and Start must return ErrUnsupported for a larger Peers.
	MaxNodes int
	// ReadModes lists the read modes Read serves.
	ReadModes []ReadMode
	// Membership: the node implements Reconfigurer (a membership change
	// through the leader, an address book that can be replaced) and
	// starts with Config.Join. raftcmp refuses a membership fault on a
	// backend without it before the run starts.
	Membership bool
}

// SupportsRead reports whether the backend serves reads in mode m.
func (c Capabilities) SupportsRead(m ReadMode) bool {
	for _, r := range c.ReadModes {
		if r == m {
			return true
		}
	}
	return false
}

// Fits reports whether the backend can run a cluster of the given size.
func (c Capabilities) Fits(nodes int) bool { return c.MaxNodes == 0 || nodes <= c.MaxNodes }

// Supports reports whether the backend supports storage mode s.
func (c Capabilities) Supports(s Storage) bool {
	for _, m := range c.Storage {
		if m == s {
			return true
		}
	}
	return false
}

// Description says what a plugin is. A backend fills Name, Module and
// Capabilities; Serve fills the rest from the running process.
type Description struct {
	// Name is the backend's short name, as used by --impl ("hashicorp").
	Name string
	// Module is the Go module path of the Raft library the backend wraps
	// (for a C library, its source repository); Serve looks its version up
	// in the plugin's build info unless Version is set.
	Module string
	// Version is Module's version as built into the plugin. A backend
	// whose library is not a Go module (a C library linked through cgo)
	// sets it itself, from the library; Serve fills it in otherwise.
	Version string
	// PID is the plugin process's id.
	PID int
	// GoVersion is the Go toolchain that built the plugin.
	GoVersion string
	// Capabilities are what the backend can do.
	Capabilities Capabilities
}

// NotLeaderError is returned by Propose on a node that does not accept
// proposals, and by Read in a mode only the leader serves. Leader is the node it believes leads, or 0 if it knows none.
type NotLeaderError struct {
	Leader uint64
}

func (e *NotLeaderError) Error() string {
	if e.Leader == 0 {
		return "not the leader; no leader known"
	}
	return fmt.Sprintf("not the leader; leader is node %d", e.Leader)
}

// ErrorKind classifies the error for load reports.
func (e *NotLeaderError) ErrorKind() string { return "not_leader" }

// ErrUnsupported is returned (wrapped) by Start for a storage mode or option
// the backend does not support, and by Read for an undeclared read mode.
var ErrUnsupported = errors.New("not supported by this backend")
