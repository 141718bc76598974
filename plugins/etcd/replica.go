package etcd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/raftcmp/raftcmp/core/adapter"
)

// replica is a started node: the raft.Node, its storage and transport, the
// Ready loop that drives them and the state machine it applies to.
type replica struct {
	id    uint64
	set   settings
	rc    raft.Config // as given to raft
	node  raft.Node
	mem   *raft.MemoryStorage
	disk  *diskStore // nil for storage memory
	trans messenger
	log   *slog.Logger

	// The Ready loop publishes these for Propose's fast path.
	state atomic.Uint64 // raft.StateType
	lead  atomic.Uint64
	term  atomic.Uint64

	nextID  atomic.Uint64
	waiters waiters
	reads   waiters // linearizable reads waiting for their read index, by request id

	mu      sync.Mutex // guards applied, digest and wake
	applied uint64
	digest  adapter.Digest
	wake    chan struct{} // closed and replaced when applied grows; nil until asked for
	failure error         // set when the Ready loop died of a storage error

	// Owned by the Ready loop.
	confState    *raftpb.ConfState
	snapIndex    uint64 // the last snapshot saved (to disk, if any) or restored
	memSnapIndex uint64 // the last snapshot of MemoryStorage, whose log is compacted behind it

	// The snapshot counters of adapter.Status, written by the Ready loop.
	snapshots     atomic.Uint64 // snapshots taken every snapshot_entries (not the memory ones)
	installs      atomic.Uint64 // snapshots from a leader (a Ready's Snapshot) restored
	snapshotNanos atomic.Int64  // the snapshots' CreateSnapshot, save to disk and compaction

	stopc    chan struct{} // closed by stop
	loopDone chan struct{} // closed when the Ready loop has returned
	stopOnce sync.Once
	stopErr  error
}

// startReplica opens storage and transport and starts raft and its loop.
func startReplica(cfg adapter.Config, s settings) (r *replica, err error) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("node", cfg.ID)
	r = &replica{
		id:       cfg.ID,
		set:      s,
		mem:      raft.NewMemoryStorage(),
		log:      log,
		waiters:  waiters{m: map[uint64]*waiter{}},
		reads:    waiters{m: map[uint64]*waiter{}},
		stopc:    make(chan struct{}),
		loopDone: make(chan struct{}),
	}
	// Request ids start at a random point so that entries of an earlier
	// run of this node, re-applied after a restart, cannot be mistaken for
	// this run's proposals.
	r.nextID.Store(rand.Uint64() >> 1)

	var snapshot *raftpb.Snapshot
	restart := false
	if cfg.Storage.Durable() {
		r.disk, snapshot, restart, err = openDisk(cfg.DataDir, cfg.ID, r.mem, newZapLogger())
		if err != nil {
			return nil, err
		}
	}
	defer func() {
		if err == nil {
			return
		}
		if r.trans != nil {
			r.trans.close()
		}
		if r.disk != nil {
			r.disk.close()
		}
	}()
	if snapshot != nil {
		if err := r.restoreSnapshot(snapshot); err != nil {
			return nil, err
		}
	}

	// Bind Listen; dial each peer by id at the address this node's own peer
	// list gives (raftcmp may proxy every directed link).
	bind, err := cfg.ListenAddr()
	if err != nil {
		return nil, err
	}
	addrs := map[uint64]string{}
	for _, p := range cfg.Peers {
		addrs[p.ID] = p.Addr
	}
	switch s.transport {
	case transportRafthttp:
		// etcd's ServerConfig.PeerDialTimeout: 1 s plus the election timeout.
		dial := time.Second + time.Duration(s.electionTick)*s.tick
		addrs[cfg.ID] = bind
		var t *httpTransport
		if t, err = listenHTTP(cfg.ID, bind, addrs, dial, newZapLogger()); err == nil {
			r.trans = t
		}
	default:
		var t *transport
		if t, err = listen(cfg.ID, bind, addrs, s.sendQueue, log); err == nil {
			r.trans = t
		}
	}
	if err != nil {
		return nil, err
	}

	rc := s.raftConfig(cfg.ID, r.mem, r.snapIndex, raftLogger{log})
	r.rc = *rc // before raft fills in its defaults
	if restart || cfg.Join {
		// A joining node starts with no membership, as etcd's server joins
		// an existing cluster: it learns it from the leader's log.
		r.node = raft.RestartNode(rc)
	} else {
		peers := make([]raft.Peer, len(cfg.Peers))
		for i, p := range cfg.Peers {
			peers[i] = raft.Peer{ID: p.ID}
		}
		r.node = raft.StartNode(rc, peers)
	}
	r.state.Store(uint64(raft.StateFollower))
	r.trans.run(r.node)
	go r.loop()
	return r, nil
}

// loop is the Ready loop: ticks, and each Ready handled by handle.
func (r *replica) loop() {
	defer close(r.loopDone)
	ticker := time.NewTicker(r.set.tick)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			r.node.Tick()
		case rd := <-r.node.Ready():
			if err := r.handle(rd); err != nil {
				r.log.Error("node halted", "err", err)
				r.mu.Lock()
				r.failure = err
				r.mu.Unlock()
				r.waiters.failAll(err)
				r.reads.failAll(err)
				r.node.Stop()
				return
			}
			r.node.Advance()
		case <-r.stopc:
			return
		}
	}
}

// handle processes one Ready in the configured order (see the package
// documentation): etcd's server's, or persist-first.
func (r *replica) handle(rd raft.Ready) error {
	if rd.SoftState != nil {
		r.lead.Store(rd.Lead)
		r.state.Store(uint64(rd.RaftState))
		if rd.RaftState != raft.StateLeader {
			r.waiters.failAll(errLeadershipLost)
		}
	}
	if rd.HardState != nil && rd.HardState.GetTerm() > r.term.Load() {
		r.term.Store(rd.HardState.GetTerm())
		r.waiters.failBefore(rd.HardState.GetTerm(), errLeadershipLost)
		r.reads.failBefore(rd.HardState.GetTerm(), errLeadershipLost)
	}
	for _, rs := range rd.ReadStates {
		if len(rs.RequestCtx) == 8 {
			r.reads.settle(binary.BigEndian.Uint64(rs.RequestCtx), result{pos: rs.Index})
		}
	}
	hasSnap := !raft.IsEmptySnap(rd.Snapshot)

	if r.set.readyOrder == orderPersistFirst {
		// The library's documented order for every role: everything the
		// messages promise is durable before they leave.
		if err := r.persist(rd, hasSnap); err != nil {
			return err
		}
		r.trans.send(rd.Messages)
		if err := r.applyReady(rd, hasSnap); err != nil {
			return err
		}
		if hasSnap {
			r.installs.Add(1)
		}
		return r.maybeSnapshot()
	}

	// etcd's server (etcdserver/raft.go, raftNode.start). It hands the
	// committed entries to its apply goroutine first, so that applying
	// overlaps this Ready's disk write; a Ready that carries a snapshot
	// has no committed entries (raft withholds them until the snapshot is
	// applied), and the snapshot is applied only once it is durable.
	if !hasSnap {
		if err := r.apply(rd.CommittedEntries); err != nil {
			return err
		}
	}
	// A leader sends before it persists: it may write its log in parallel
	// with its followers (Raft thesis 10.2.1); raft counts the leader's
	// own copy only after Advance, i.e. once it is durable. Anyone else
	// persists first: a follower must not acknowledge an entry, nor a
	// candidate ask for a vote, before its log and term are on disk.
	leader := raft.StateType(r.state.Load()) == raft.StateLeader
	msgs := oneAppResp(rd.Messages)
	if leader {
		r.trans.send(msgs)
	}
	if err := r.persist(rd, hasSnap); err != nil {
		return err
	}
	if !leader {
		r.trans.send(msgs)
	}
	if hasSnap {
		if err := r.restoreSnapshot(rd.Snapshot); err != nil {
			return err
		}
		r.installs.Add(1)
	}
	return r.maybeSnapshot()
}

// persist makes the Ready durable and gives it to the log raft reads:
// snapshot first (so the WAL never names a missing snapshot), then
// HardState and entries, then MemoryStorage.
func (r *replica) persist(rd raft.Ready, hasSnap bool) error {
	if r.disk != nil {
		if hasSnap {
			if err := r.disk.saveSnapshot(rd.Snapshot); err != nil {
				return err
			}
		}
		if err := r.disk.save(rd.HardState, rd.Entries); err != nil {
			return err
		}
	}
	if hasSnap {
		if err := r.mem.ApplySnapshot(rd.Snapshot); err != nil {
			return fmt.Errorf("apply snapshot to memory storage: %w", err)
		}
	}
	if rd.HardState != nil {
		// raft builds a new HardState for every Ready and never changes it.
		if err := r.mem.SetHardState(rd.HardState); err != nil {
			return fmt.Errorf("set hard state: %w", err)
		}
	}
	if err := r.mem.Append(rd.Entries); err != nil {
		return fmt.Errorf("append to memory storage: %w", err)
	}
	return nil
}

// applyReady applies the Ready's snapshot or committed entries.
func (r *replica) applyReady(rd raft.Ready, hasSnap bool) error {
	if hasSnap {
		if err := r.restoreSnapshot(rd.Snapshot); err != nil {
			return err
		}
	}
	return r.apply(rd.CommittedEntries)
}

// oneAppResp drops every MsgAppResp but the last, as etcd's server does
// (raftNode.processMessages): a later response acknowledges at least what
// an earlier one did. msgs is changed in place.
func oneAppResp(msgs []*raftpb.Message) []*raftpb.Message {
	last := -1
	for i, m := range msgs {
		if m.GetType() == raftpb.MsgAppResp {
			last = i
		}
	}
	if last < 0 {
		return msgs
	}
	out := msgs[:0]
	for i, m := range msgs {
		if m.GetType() != raftpb.MsgAppResp || i == last {
			out = append(out, m)
		}
	}
	return out
}

// Envelope: every proposal is stored as proposer id, request id, payload.
const envelopeLen = 16

func seal(proposer, id uint64, payload []byte) []byte {
	b := make([]byte, envelopeLen, envelopeLen+len(payload))
	binary.BigEndian.PutUint64(b[0:], proposer)
	binary.BigEndian.PutUint64(b[8:], id)
	return append(b, payload...)
}

func open(data []byte) (proposer, id uint64, payload []byte, ok bool) {
	if len(data) < envelopeLen {
		return 0, 0, nil, false
	}
	return binary.BigEndian.Uint64(data[0:]), binary.BigEndian.Uint64(data[8:]), data[envelopeLen:], true
}

// apply applies committed entries in order: user payloads go into the
// digest and release their waiting Propose; configuration changes go to
// raft, as the library requires the application to do.
func (r *replica) apply(ents []*raftpb.Entry) error {
	for _, e := range ents {
		switch e.GetType() {
		case raftpb.EntryNormal:
			if len(e.GetData()) == 0 {
				break // a new leader's empty entry
			}
			proposer, id, payload, ok := open(e.GetData())
			if !ok {
				return fmt.Errorf("entry %d: %d bytes, shorter than the proposal envelope", e.GetIndex(), len(e.GetData()))
			}
			r.mu.Lock()
			r.digest.Add(payload)
			r.applied = e.GetIndex()
			pos := r.digest.Count()
			r.mu.Unlock()
			if proposer == r.id {
				r.waiters.settle(id, result{pos: pos})
			}
			continue
		case raftpb.EntryConfChange:
			cc := &raftpb.ConfChange{}
			if err := proto.Unmarshal(e.GetData(), cc); err != nil {
				return fmt.Errorf("decode conf change at index %d: %w", e.GetIndex(), err)
			}
			r.confState = r.node.ApplyConfChange(cc)
		case raftpb.EntryConfChangeV2:
			cc := &raftpb.ConfChangeV2{}
			if err := proto.Unmarshal(e.GetData(), cc); err != nil {
				return fmt.Errorf("decode conf change at index %d: %w", e.GetIndex(), err)
			}
			r.confState = r.node.ApplyConfChange(cc)
		}
		r.mu.Lock()
		r.applied = e.GetIndex()
		r.mu.Unlock()
	}
	if len(ents) > 0 {
		r.wakeReaders()
	}
	return nil
}

// wakeReaders tells reads waiting for the applied index that it grew.
func (r *replica) wakeReaders() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.wake != nil {
		close(r.wake)
		r.wake = nil
	}
}

// The state machine's snapshot is its digest: sum and count.
func snapshotData(d *adapter.Digest) []byte {
	b := binary.BigEndian.AppendUint64(nil, d.Sum())
	return binary.BigEndian.AppendUint64(b, d.Count())
}

// restoreSnapshot resets the state machine to s.
func (r *replica) restoreSnapshot(s *raftpb.Snapshot) error {
	data := s.GetData()
	if len(data) != 16 {
		return fmt.Errorf("snapshot at index %d holds %d bytes, want 16", s.GetMetadata().GetIndex(), len(data))
	}
	md := s.GetMetadata()
	r.mu.Lock()
	r.digest.Restore(binary.BigEndian.Uint64(data[0:]), binary.BigEndian.Uint64(data[8:]))
	r.applied = md.GetIndex()
	r.mu.Unlock()
	r.wakeReaders()
	r.confState = proto.Clone(raftpb.EnsureConfState(md.GetConfState())).(*raftpb.ConfState)
	r.snapIndex = md.GetIndex()
	r.memSnapIndex = md.GetIndex()
	return nil
}

// maybeSnapshot does what etcd's server does after applying
// (EtcdServer.snapshotIfNeededAndCompactRaftLog): every snapshot_entries
// applied entries a snapshot saved to disk, and every 100 a snapshot of
// MemoryStorage alone; after either, the in-memory log is compacted to
// snapshot_catchup_entries behind it for slow followers. With snapshots
// off, neither. A snapshot to disk counts in Status.Snapshots, with the
// time from CreateSnapshot to the end of the compaction after it.
func (r *replica) maybeSnapshot() error {
	if r.set.snapshotEntries == 0 {
		return nil
	}
	r.mu.Lock()
	applied := r.applied
	r.mu.Unlock()
	toDisk := applied-r.snapIndex >= r.set.snapshotEntries
	if !toDisk && applied-r.memSnapIndex < memorySnapshotEntries {
		return nil
	}
	began := time.Now()
	r.mu.Lock()
	data := snapshotData(&r.digest)
	r.mu.Unlock()
	s, err := r.mem.CreateSnapshot(applied, r.confState, data)
	if err != nil {
		return fmt.Errorf("create snapshot at %d: %w", applied, err)
	}
	r.memSnapIndex = applied
	if toDisk {
		if r.disk != nil {
			if err := r.disk.saveSnapshot(s); err != nil {
				return err
			}
		}
		r.snapIndex = applied
	}
	if applied > r.set.snapshotCatchUpEntries {
		err := r.mem.Compact(applied - r.set.snapshotCatchUpEntries)
		if err != nil && !errors.Is(err, raft.ErrCompacted) {
			return fmt.Errorf("compact log to %d: %w", applied-r.set.snapshotCatchUpEntries, err)
		}
	}
	if toDisk {
		r.snapshots.Add(1)
		r.snapshotNanos.Add(int64(time.Since(began)))
	}
	return nil
}

// propose implements Node.Propose.
func (r *replica) propose(ctx context.Context, payload []byte) (uint64, error) {
	select {
	case <-r.stopc:
		return 0, errStopped
	default:
	}
	if err := r.failed(); err != nil {
		return 0, err
	}
	if raft.StateType(r.state.Load()) != raft.StateLeader {
		return 0, &adapter.NotLeaderError{Leader: r.lead.Load()}
	}
	id := r.nextID.Add(1)
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := r.waiters.add(id, r.term.Load(), cancel)
	if err := r.node.Propose(pctx, seal(r.id, id, payload)); err != nil {
		if !r.waiters.remove(id) {
			res := <-w.done // settled meanwhile: applied, or failed with a reason
			return res.pos, res.err
		}
		switch {
		case errors.Is(err, raft.ErrProposalDropped):
			// Dropped by raft: this node stopped leading (or is handing
			// leadership over).
			if st := r.node.Status(); st.RaftState != raft.StateLeader {
				return 0, &adapter.NotLeaderError{Leader: st.Lead}
			}
		case errors.Is(err, raft.ErrStopped):
			return 0, errStopped
		}
		return 0, fmt.Errorf("propose: %w", err)
	}
	select {
	case res := <-w.done:
		return res.pos, res.err
	case <-ctx.Done():
		if !r.waiters.remove(id) {
			res := <-w.done
			return res.pos, res.err
		}
		return 0, fmt.Errorf("wait for the entry to be applied: %w", ctx.Err())
	case <-r.stopc:
		return 0, errStopped
	}
}

// readIndex implements Node.Read in mode linearizable: raft.Node.ReadIndex
// (which a follower forwards to its leader), then a wait until this
// replica has applied the index raft returned, as etcd's server serves a
// linearizable read (EtcdServer.linearizableReadLoop).
func (r *replica) readIndex(ctx context.Context) (adapter.ReadState, error) {
	select {
	case <-r.stopc:
		return adapter.ReadState{}, errStopped
	default:
	}
	if err := r.failed(); err != nil {
		return adapter.ReadState{}, err
	}
	if raft.StateType(r.state.Load()) != raft.StateLeader && r.lead.Load() == 0 {
		return adapter.ReadState{}, &adapter.NotLeaderError{}
	}
	id := r.nextID.Add(1)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := r.reads.add(id, r.term.Load(), cancel)
	if err := r.node.ReadIndex(rctx, binary.BigEndian.AppendUint64(nil, id)); err != nil {
		r.reads.remove(id)
		if errors.Is(err, raft.ErrStopped) {
			return adapter.ReadState{}, errStopped
		}
		return adapter.ReadState{}, fmt.Errorf("read index: %w", err)
	}
	var index uint64
	select {
	case res := <-w.done:
		if res.err != nil {
			return adapter.ReadState{}, res.err
		}
		index = res.pos
	case <-ctx.Done():
		if !r.reads.remove(id) {
			if res := <-w.done; res.err != nil {
				return adapter.ReadState{}, res.err
			}
		}
		return adapter.ReadState{}, fmt.Errorf("wait for the read index: %w", ctx.Err())
	case <-r.stopc:
		return adapter.ReadState{}, errStopped
	}
	for {
		r.mu.Lock()
		if r.applied >= index {
			st := adapter.ReadState{AppliedPayloads: r.digest.Count(), Digest: r.digest.Sum()}
			r.mu.Unlock()
			return st, nil
		}
		if r.wake == nil {
			r.wake = make(chan struct{})
		}
		wake := r.wake
		r.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return adapter.ReadState{}, fmt.Errorf("wait to apply read index %d: %w", index, ctx.Err())
		case <-r.stopc:
			return adapter.ReadState{}, errStopped
		}
	}
}

// staleRead implements Node.Read in mode stale: the local state machine.
func (r *replica) staleRead() (adapter.ReadState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failure != nil {
		return adapter.ReadState{}, r.failure
	}
	return adapter.ReadState{AppliedPayloads: r.digest.Count(), Digest: r.digest.Sum()}, nil
}

func (r *replica) failed() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failure
}

// status implements Node.Status.
func (r *replica) status() (adapter.Status, error) {
	select {
	case <-r.stopc:
		return adapter.Status{}, errStopped
	default:
	}
	// Read the applied state first and raft's view second: the commit index
	// only grows, so read in this order it is never below applied.
	r.mu.Lock()
	failure, applied, count, sum := r.failure, r.applied, r.digest.Count(), r.digest.Sum()
	r.mu.Unlock()
	if failure != nil {
		return adapter.Status{}, failure
	}
	st := r.node.Status()
	return adapter.Status{
		ID:               r.id,
		Role:             role(st.RaftState),
		Leader:           st.Lead,
		Term:             st.HardState.GetTerm(),
		Commit:           st.HardState.GetCommit(),
		Applied:          applied,
		AppliedPayloads:  count,
		Digest:           sum,
		Snapshots:        r.snapshots.Load(),
		SnapshotInstalls: r.installs.Load(),
		SnapshotTime:     time.Duration(r.snapshotNanos.Load()),
	}, nil
}

// stop shuts everything down in dependency order: the Ready loop, raft,
// the transport, storage; waiting proposals fail.
func (r *replica) stop() error {
	r.stopOnce.Do(func() {
		close(r.stopc)
		<-r.loopDone
		r.node.Stop()
		r.trans.close()
		r.waiters.failAll(errStopped)
		r.reads.failAll(errStopped)
		if r.disk != nil {
			r.stopErr = r.disk.close()
		}
	})
	return r.stopErr
}

// waiters are the proposals of this node waiting for their entries (or the
// reads waiting for their read index).
type waiters struct {
	mu sync.Mutex
	m  map[uint64]*waiter
}

// result is a waiter's outcome: the position of an applied proposal, or a
// read's read index; or the error that ended the wait.
type result struct {
	pos uint64
	err error
}

type waiter struct {
	done   chan result // receives the outcome once
	term   uint64      // a term at or before the one the entry is proposed in
	cancel context.CancelFunc
}

func (ws *waiters) add(id, term uint64, cancel context.CancelFunc) *waiter {
	w := &waiter{done: make(chan result, 1), term: term, cancel: cancel}
	ws.mu.Lock()
	ws.m[id] = w
	ws.mu.Unlock()
	return w
}

// remove unregisters id; false means it was settled already.
func (ws *waiters) remove(id uint64) bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	_, ok := ws.m[id]
	delete(ws.m, id)
	return ok
}

// settle delivers res to id's waiter, if it still waits.
func (ws *waiters) settle(id uint64, res result) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if w, ok := ws.m[id]; ok {
		delete(ws.m, id)
		w.done <- res
		w.cancel()
	}
}

// failBefore fails every proposal made before term: its leader's term has
// ended, so its entry is applied later or never, and nobody would tell it.
func (ws *waiters) failBefore(term uint64, err error) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for id, w := range ws.m {
		if w.term < term {
			delete(ws.m, id)
			w.done <- result{err: err}
			w.cancel()
		}
	}
}

func (ws *waiters) failAll(err error) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for id, w := range ws.m {
		delete(ws.m, id)
		w.done <- result{err: err}
		w.cancel()
	}
}
