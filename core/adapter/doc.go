// Package adapter is the contract between raftcmp and a Raft backend.
//
// A backend is one small program: a type that implements Node for one Raft
// library, and a main that calls Serve. raftcmp starts that program once per
// cluster member (a hashicorp/go-plugin subprocess speaking gRPC), so each
// node is its own OS process that a fault can slow, pause or kill, and all
// harness logic (launching, waiting, load, faults, safety checks, reports)
// stays in raftcmp. The smallest correct main is:
//
//	package main
//
//	import "github.com/raftcmp/raftcmp/core/adapter"
//
//	func main() { adapter.Serve(mybackend.New()) }
//
// # Lifecycle
//
// raftcmp calls Describe and Settings at any time, then Start exactly once, then any
// number of concurrent Propose, Read and Status calls, then Stop. Status must keep
// answering while proposals are in flight; Stop may be called with proposals
// in flight and must make them return.
//
// # What each method promises
//
// Start creates the node described by Config, or recovers it from
// Config.DataDir if that holds state from an earlier Start, binds
// Config.ListenAddr() and joins the cluster of Config.Peers. A fresh cluster's
// membership is exactly the ids in Peers (every node is given the same ids).
// The address of a peer in Peers is how this node reaches it, which may
// differ per node (raftcmp proxies each directed link for network faults):
// dial peers by id through Peers, never by an address learnt from another
// node or from the replicated configuration. Start returns once the node
// runs; it need not wait for an election: raftcmp waits, with a deadline,
// for Status to show a leader.
//
// Propose replicates one payload. It returns without error only once the
// payload's entry is committed and applied to this node's state machine, so
// such a return is an acknowledged write that must survive. It returns the
// payload's position: its 1-based rank among the user payloads this node's
// state machine has applied (Status.AppliedPayloads right after applying
// it), which raftcmp's staleness check compares reads against. A node that does not
// accept proposals returns a *NotLeaderError carrying the id of the leader
// it believes in (0 if none), unless its Description says it forwards
// proposals, in which case it forwards and still returns only after the
// entry is applied locally. The node may keep payload; the caller never
// reuses it.
//
// Read serves one read and returns the ReadState it was served from: the
// count and Digest of the user payloads applied (as in Status) at the
// moment the read was answered. Modes (ReadMode): ReadLinearizable goes
// through the library's own linearizable read path and must reflect every
// write acknowledged before Read was called; ReadLease is the library's
// lease-based read, offered only where the library has one; ReadStale
// answers from the local state machine at once. A backend declares the
// modes it serves in Capabilities.ReadModes and returns ErrUnsupported
// (wrapped) for the others; raftcmp records such a point as unsupported,
// never emulates a mode. A node that can serve a mode only as leader returns
// a *NotLeaderError elsewhere. Config.ReadMode names the consistent mode
// (linearizable or lease) the experiment reads in, for a library whose read
// path is a setting of the node rather than of the read (etcd raft's
// ReadOnlyOption): such a node serves that one and refuses the other with
// ErrUnsupported.
//
// Status is the node's own view: its role, the leader it follows, its term,
// commit index and applied index in the library's own numbering, and the
// count and Digest of the user payloads its state machine has applied, in
// order. The digest covers only payloads given to Propose (never the
// library's no-op, configuration or bootstrap entries), so two nodes that
// applied the same proposals in the same order have equal digests whatever
// the library logged around them. raftcmp's safety check compares these
// across nodes after every point.
//
// Stop shuts the node down and releases its ports, files and goroutines. The
// process itself is ended by raftcmp afterwards.
//
// # Membership changes
//
// A backend that declares Capabilities.Membership also implements
// Reconfigurer: ChangeMembership adds or removes one voter through the
// library's own membership API and returns once the new configuration is
// committed (a node that is not the leader returns a *NotLeaderError);
// SetPeers replaces the node's address book, which it keeps dialling by
// id. A node started with Config.Join joins a running cluster instead of
// forming one: it bootstraps no membership and waits for the leader to add
// it. raftcmp adds a node by starting it with Join, calling SetPeers on
// every running member and then ChangeMembership on the leader; it removes
// one with ChangeMembership on the leader, then stops its process and
// calls SetPeers on the others. A backend without Membership is refused
// the membership fault before the run starts.
//
// # Storage modes
//
// Config.Storage is one of StorageDisk (the library's standard durable store
// in DataDir, syncing as it does by default), StorageTmpfs (the same store;
// raftcmp places DataDir on a RAM file system) and StorageMemory (the
// library's in-memory log). A backend lists the modes it supports in its
// Description and returns ErrUnsupported from Start for the others; raftcmp
// records such a point as unsupported, never substitutes another mode.
//
// # Limits
//
// What a backend can never do is declared in its Description's
// Capabilities, so that raftcmp refuses an impossible experiment before it
// starts anything (with a hint) instead of running points that all end
// unsupported: the storage modes above, and MaxNodes, the largest cluster it
// forms (0: no limit). Start still returns ErrUnsupported for a cluster
// larger than MaxNodes, whoever calls it; the conformance kit checks that.
//
// # Settings and the shared Raft knobs
//
// Config.Raft carries the knobs every Raft library has in some form
// (election timeout, heartbeat interval, pre-vote, check quorum, entries per
// append, appends in flight, snapshot interval), set once for all backends
// by --raft. An unset knob means the backend's production value: what the
// library's maintainers run (etcd's server, Consul), else the library's
// default, else raftcmp's choice with its reason. A backend converts each
// set knob into its library's units and, where the library has no
// equivalent or cannot take the value exactly (a heartbeat derived from
// another timeout, a fixed pipeline depth), runs its nearest value and
// reports the knob as Unhonoured with the reason.
//
// Settings returns the table Start would run: one Setting per shared knob
// the library has an equivalent of (Knob set, Value spelt as --raft spells
// it), then the backend's own settings that matter for a comparison
// (batching, fsync policy, transport, state machine path), each with its
// Source and a Note that cites it. It must be a pure function of the
// Config: raftcmp records its answer in every row and `raftcmp list
// --settings` prints it, so what Settings says and what Start does must be
// computed by the same code.
//
// # Options
//
// Config.Options carries backend-specific tuning from the experiment
// (--opt hashicorp.max_append_entries=64 arrives as max_append_entries=64).
// Read them with Options.Reader, which rejects unknown keys and bad values
// with an error naming the option, so a typo never silently runs defaults.
package adapter
