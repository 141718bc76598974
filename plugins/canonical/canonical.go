//go:build cgo

// Package canonical adapts canonical raft (libraft, the C library dqlite and
// LXD run on) to raftcmp's adapter.Node through cgo. It is the only backend
// built with cgo; see docs/writing-an-adapter.md for the route it shows.
//
// # Threads and memory across the boundary
//
// libraft runs on a libuv loop; every call into it happens on the loop's
// thread. Start opens the node on the calling goroutine (before the loop
// runs) and then runs the loop (rc_run, glue.c) in a goroutine of its own,
// which holds one OS thread inside C for the node's lifetime. Propose and
// Read never call libraft: rc_submit copies the payload into memory from
// raft_malloc, queues the request under a mutex and wakes the loop with
// uv_async_send; the loop calls raft_apply (or raft_barrier) and, from its
// callback, hands the result back to Go through an exported function with
// a cgo.Handle naming the caller's channel. Every request completes exactly
// once, and its completion deletes the handle. The state machine's apply,
// snapshot and restore are Go functions called from the loop thread (one
// cgo call per applied entry) on a Go fsm found through its own cgo.Handle.
// Status reads a copy of libraft's state that the loop refreshes after
// every iteration (a uv_check_t), never libraft's struct itself.
//
// Stop sets a stopping flag, wakes the loop, which fails every queued
// request and calls raft_close (libraft fails the requests it holds), then
// closes its handles and the transport; uv_run returns, the loop is closed,
// the goroutine returns and Stop frees the node. No C memory, handle, file
// or thread outlives Stop (TestStartStopCyclesLeakNothing).
//
// # Choices a reader of a report should know
//
//   - Storage disk and tmpfs: libraft's libuv disk I/O (raft_uv) in DataDir.
//     Storage memory is not supported: libraft's only in-memory raft_io is
//     the test fixture's stub, which connects nodes inside one process and
//     cannot serve a cluster of separate processes.
//   - Peers are dialled by id at the address in this node's own peer list,
//     through a wrapper around libraft's TCP transport: libraft dials the
//     address it finds in its replicated configuration, which each node
//     bootstraps from its own peer list but which a snapshot from the
//     leader would replace with the leader's addresses.
//   - Production profile: what dqlite runs (src/server.c, dqlite__init).
//   - TCP_NODELAY on every connection between nodes: libraft's raft_uv_tcp
//     leaves Nagle's algorithm on, which holds each append behind the ACK
//     of the previous one once several are in flight (35 times slower,
//     measured); dqlite in production dials with Go's net package, which
//     sets it. Option tcp_nodelay=false gives the library's behaviour.
//   - Every payload is padded to a multiple of 8 bytes (1 to 8 bytes, each
//     holding the pad's length; apply strips it): libraft 0.15 sends the
//     entries of an AppendEntries back to back but decodes each at an
//     8-byte boundary, so several entries of other lengths in one message
//     reach a follower at the wrong offsets, and its disk log cannot be
//     read back after a restart (glue.c, fsm_apply). dqlite's
//     commands are always a multiple of 8 bytes.
//   - Snapshot counters: Snapshots counts the FSM snapshots libraft asks
//     for; SnapshotInstalls the FSM restores after raft_start returned
//     (a snapshot from a leader; the restore of the node's own snapshot
//     inside raft_start is not one); SnapshotTime runs from the FSM
//     snapshot call to libraft's completion of it (snapshot written by
//     raft_uv and the log compacted: r->snapshot.pending cleared), as the
//     loop sees it after each iteration.
//   - Membership through libraft's API, as dqlite does it: raft_add (a
//     spare), then raft_assign to voter, which catches the new server up
//     before it counts; raft_remove. A joining node bootstraps nothing.
//   - No forwarding: a follower returns NotLeaderError with the leader.
//   - Reads: libraft has no ReadIndex and no lease read; a linearizable read
//     is a raft_barrier, as dqlite makes its reads linearizable; stale reads
//     the local state machine.
package canonical

/*
#cgo pkg-config: raft libuv
#cgo CFLAGS: -O2 -Wall
#cgo LDFLAGS: -ldl
#include <malloc.h>
#include <stdlib.h>
#include <uv.h>
#include "glue.h"

// rc_lib_path names the file libraft was loaded from (dladdr on raft_init).
const char *rc_lib_path(void);
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime/cgo"
	"sync"
	"time"
	"unsafe"

	"github.com/raftcmp/raftcmp/core/adapter"
)

// libraftVersion is the release of libraft the plugin was built against,
// from its pkg-config file (the Makefile sets it with -ldflags -X);
// libraft 0.15 has no function that reports its version.
var libraftVersion string

// Version is the libraft this process runs: the release it was built
// against, if known, and the shared object it loaded.
func Version() string {
	lib := filepath.Base(C.GoString(C.rc_lib_path()))
	if p, err := filepath.EvalSymlinks(C.GoString(C.rc_lib_path())); err == nil {
		lib = filepath.Base(p)
	}
	if libraftVersion == "" {
		return lib
	}
	return libraftVersion + " (" + lib + ")"
}

// cHeapInUse is the bytes the C allocator has handed out and not had back
// (glibc's mallinfo2): libraft's, libuv's and the glue's memory, for the
// leak test.
func cHeapInUse() uint64 { return uint64(C.mallinfo2().uordblks) }

// liveObjects is how many nodes, requests and connection attempts the glue
// has allocated and not freed, for the leak tests.
func liveObjects() (nodes, requests, connects int) {
	return int(C.rc_live(0)), int(C.rc_live(1)), int(C.rc_live(2))
}

// Node is one libraft cluster member.
type Node struct {
	// mu guards c: held shared while calling into the node, exclusively
	// by Start and Stop, which create and free it.
	mu       sync.RWMutex
	c        *C.rc_node
	loopDone chan struct{}
	loopErr  C.int
	fsm      *fsm
	fsmH     cgo.Handle
	id       uint64
	applied  resolved
}

// New returns an unstarted node.
func New() *Node { return &Node{} }

// Describe implements adapter.Node.
func (n *Node) Describe() adapter.Description {
	return adapter.Description{
		Name:    "canonical",
		Module:  "github.com/canonical/raft",
		Version: Version(),
		Capabilities: adapter.Capabilities{
			ForwardsProposals: false,
			Storage:           []adapter.Storage{adapter.StorageDisk, adapter.StorageTmpfs},
			ReadModes:         []adapter.ReadMode{adapter.ReadLinearizable, adapter.ReadStale},
			Membership:        true,
		},
	}
}

// Settings implements adapter.Node: the table resolve computes for cfg.
func (n *Node) Settings(cfg adapter.Config) (adapter.Settings, error) {
	res, err := resolve(cfg)
	if err != nil {
		return adapter.Settings{}, err
	}
	return res.report, nil
}

// Start implements adapter.Node.
func (n *Node) Start(ctx context.Context, cfg adapter.Config) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.c != nil || n.loopDone != nil {
		return errors.New("already started")
	}
	if !cfg.Storage.Durable() {
		return fmt.Errorf("storage %q: libraft's only in-memory I/O is its in-process test fixture: %w", cfg.Storage, adapter.ErrUnsupported)
	}
	res, err := resolve(cfg)
	if err != nil {
		return err
	}
	listen, err := cfg.ListenAddr()
	if err != nil {
		return err
	}
	if _, err := cfg.Self(); err != nil {
		return err
	}

	var cc C.rc_config
	cc.id = C.raft_id(cfg.ID)
	cc.address = C.CString(listen)
	defer C.free(unsafe.Pointer(cc.address))
	cc.dir = C.CString(cfg.DataDir)
	defer C.free(unsafe.Pointer(cc.dir))
	np := len(cfg.Peers)
	ids := (*[1 << 20]C.raft_id)(C.calloc(C.size_t(np), C.size_t(unsafe.Sizeof(C.raft_id(0)))))[:np:np]
	defer C.free(unsafe.Pointer(&ids[0]))
	addrs := (*[1 << 20]*C.char)(C.calloc(C.size_t(np), C.size_t(unsafe.Sizeof((*C.char)(nil)))))[:np:np]
	defer C.free(unsafe.Pointer(&addrs[0]))
	for i, p := range cfg.Peers {
		ids[i] = C.raft_id(p.ID)
		addrs[i] = C.CString(p.Addr)
		defer C.free(unsafe.Pointer(addrs[i]))
	}
	cc.n_peers = C.unsigned(np)
	cc.peer_ids = &ids[0]
	cc.peer_addrs = &addrs[0]
	cc.election_ms = C.unsigned(res.election.Milliseconds())
	cc.heartbeat_ms = C.unsigned(res.heartbeat.Milliseconds())
	cc.install_snapshot_ms = C.unsigned(res.install.Milliseconds())
	cc.snapshot_threshold = C.unsigned(res.threshold)
	cc.snapshot_trailing = C.unsigned(res.trailing)
	if res.preVote {
		cc.pre_vote = 1
	}
	cc.connect_retry_ms = C.unsigned(res.retry.Milliseconds())
	if res.nodelay {
		cc.nodelay = 1
	}
	if cfg.Join {
		cc.join = 1
	}

	f := &fsm{}
	h := cgo.NewHandle(f)
	cc.fsm = C.uintptr_t(h)
	var errbuf [256]C.char
	c := C.rc_open(&cc, &errbuf[0], C.size_t(len(errbuf)))
	if c == nil {
		h.Delete()
		return fmt.Errorf("start libraft node %d: %s", cfg.ID, C.GoString(&errbuf[0]))
	}
	n.c, n.fsm, n.fsmH, n.id, n.applied = c, f, h, cfg.ID, res
	n.loopDone = make(chan struct{})
	go func() {
		defer close(n.loopDone)
		n.loopErr = C.rc_run(c)
	}()
	return nil
}

// completion is what the loop hands back for one request.
type completion struct {
	status   int
	position uint64
	leader   uint64
}

// submit queues one request and waits for its completion or ctx.
func (n *Node) submit(ctx context.Context, kind C.int, payload []byte) (completion, error) {
	ch := make(chan completion, 1)
	h := cgo.NewHandle(ch)
	n.mu.RLock()
	if n.c == nil {
		n.mu.RUnlock()
		h.Delete()
		return completion{}, errors.New("node not started")
	}
	var p unsafe.Pointer
	if len(payload) > 0 {
		p = unsafe.Pointer(&payload[0])
	}
	rv := C.rc_submit(n.c, kind, C.uintptr_t(h), p, C.size_t(len(payload)))
	n.mu.RUnlock()
	if rv != 0 {
		h.Delete()
		return completion{}, statusError("submit", int(rv), 0)
	}
	select {
	case c := <-ch:
		return c, nil
	case <-ctx.Done():
		// The completion still comes and deletes the handle; ch is
		// buffered, so it never blocks the loop.
		return completion{}, ctx.Err()
	}
}

// statusError maps a libraft status (or the glue's) to the contract's errors.
func statusError(what string, status int, leader uint64) error {
	switch status {
	case 0:
		return nil
	case C.RAFT_NOTLEADER, C.RAFT_LEADERSHIPLOST:
		return &adapter.NotLeaderError{Leader: leader}
	case C.RC_STOPPED, C.RAFT_SHUTDOWN:
		return fmt.Errorf("%s: node stopped", what)
	}
	return fmt.Errorf("%s: %s", what, C.GoString(C.raft_strerror(C.int(status))))
}

// Propose implements adapter.Node. raft_apply's callback runs once the
// entry is applied to this node's state machine, with the position the
// state machine returned, or with an error when the node is not (or no
// longer) the leader or is closing.
func (n *Node) Propose(ctx context.Context, payload []byte) (uint64, error) {
	c, err := n.submit(ctx, C.RC_APPLY, payload)
	if err != nil {
		return 0, err
	}
	if err := statusError("raft_apply", c.status, c.leader); err != nil {
		return 0, err
	}
	return c.position, nil
}

// Read implements adapter.Node. Stale reads the state machine at once.
// Linearizable appends a barrier (raft_barrier) and answers once it is
// applied: only a leader appends it, it commits in the leader's current
// term, and it is applied after every earlier entry, so the state read then
// covers every write acknowledged before Read was called. It is a log entry
// per read (libraft has no ReadIndex), as dqlite does it.
func (n *Node) Read(ctx context.Context, mode adapter.ReadMode) (adapter.ReadState, error) {
	switch mode {
	case adapter.ReadStale:
		n.mu.RLock()
		f := n.fsm
		n.mu.RUnlock()
		if f == nil {
			return adapter.ReadState{}, errors.New("node not started")
		}
		return f.state(), nil
	case adapter.ReadLinearizable:
	default:
		return adapter.ReadState{}, fmt.Errorf("read mode %q: %w", mode, adapter.ErrUnsupported)
	}
	c, err := n.submit(ctx, C.RC_BARRIER, nil)
	if err != nil {
		return adapter.ReadState{}, err
	}
	if err := statusError("raft_barrier", c.status, c.leader); err != nil {
		return adapter.ReadState{}, err
	}
	return n.fsm.state(), nil
}

// Status implements adapter.Node.
func (n *Node) Status(ctx context.Context) (adapter.Status, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.c == nil {
		return adapter.Status{}, errors.New("node not started")
	}
	st := n.status()
	rs := n.fsm.state()
	return adapter.Status{
		ID:               n.id,
		Role:             role(int(st.state)),
		Leader:           uint64(st.leader),
		Term:             uint64(st.term),
		Commit:           uint64(st.commit),
		Applied:          uint64(st.applied),
		AppliedPayloads:  rs.AppliedPayloads,
		Digest:           rs.Digest,
		Snapshots:        uint64(st.snapshots_taken),
		SnapshotInstalls: uint64(st.snapshots_installed),
		SnapshotTime:     time.Duration(st.snapshot_ns),
	}, nil
}

// snapshots is how many snapshots this node took, restored from its own
// disk at Start, and installed from a leader, since Start.
func (n *Node) snapshots() (taken, restored, installed uint64) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.c == nil {
		return 0, 0, 0
	}
	st := n.status()
	return uint64(st.snapshots_taken), uint64(st.snapshots_restored), uint64(st.snapshots_installed)
}

// status is the loop's latest copy of libraft's state; n.mu held.
func (n *Node) status() C.rc_status {
	var st C.rc_status
	C.rc_get_status(n.c, &st)
	return st
}

// Stop implements adapter.Node: it closes libraft and the loop, waits for
// the loop's goroutine to return and frees the node. Requests in flight
// return an error.
func (n *Node) Stop(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.c == nil {
		return nil
	}
	C.rc_stop(n.c)
	select {
	case <-n.loopDone:
	case <-ctx.Done():
		return fmt.Errorf("stop libraft node %d: the loop did not close: %w", n.id, ctx.Err())
	}
	C.rc_free(n.c)
	n.c = nil
	n.fsmH.Delete()
	if n.loopErr != 0 {
		return fmt.Errorf("stop libraft node %d: close the loop: %s (a handle was left open)", n.id, C.GoString(C.uv_strerror(n.loopErr)))
	}
	return nil
}

func role(state int) adapter.Role {
	switch state {
	case C.RAFT_LEADER:
		return adapter.RoleLeader
	case C.RAFT_FOLLOWER:
		return adapter.RoleFollower
	case C.RAFT_CANDIDATE:
		return adapter.RoleCandidate
	}
	return adapter.RoleUnknown
}

// fsm is the replicated state machine: the digest of applied payloads. The
// loop thread applies; Status and reads take its state concurrently.
type fsm struct {
	mu sync.Mutex
	d  adapter.Digest
}

func (f *fsm) state() adapter.ReadState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return adapter.ReadState{AppliedPayloads: f.d.Count(), Digest: f.d.Sum()}
}

//export rcGoApply
func rcGoApply(h C.uintptr_t, data unsafe.Pointer, n C.size_t) C.uint64_t {
	f := cgo.Handle(h).Value().(*fsm)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.d.Add(unsafe.Slice((*byte)(data), int(n)))
	return C.uint64_t(f.d.Count())
}

//export rcGoSnapshot
func rcGoSnapshot(h C.uintptr_t, sum, count *C.uint64_t) {
	s := cgo.Handle(h).Value().(*fsm).state()
	*sum, *count = C.uint64_t(s.Digest), C.uint64_t(s.AppliedPayloads)
}

//export rcGoRestore
func rcGoRestore(h C.uintptr_t, sum, count C.uint64_t) {
	f := cgo.Handle(h).Value().(*fsm)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.d.Restore(uint64(sum), uint64(count))
}

//export rcGoDone
func rcGoDone(h C.uintptr_t, status C.int, position C.uint64_t, leader C.raft_id) {
	hd := cgo.Handle(h)
	hd.Value().(chan completion) <- completion{status: int(status), position: uint64(position), leader: uint64(leader)}
	hd.Delete()
}
