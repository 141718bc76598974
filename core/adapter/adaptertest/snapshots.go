package adaptertest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
)

// The knobs of the snapshot-catch-up check: snapshots often, few entries
// kept behind a compaction, so that a follower stopped for a few hundred
// entries can only catch up through a snapshot.
const (
	catchUpSnapshotEvery = 200
	catchUpKeep          = 100
	// catchUpBudget bounds the entries written while the follower is down,
	// waiting for the leader to compact past it.
	catchUpBudget = 20_000
	// catchUpBatch is how many entries are written between two looks at
	// the leader's Status.
	catchUpBatch = 50
)

// checkSnapshotCatchUp kills a follower, writes on the leader until the
// leader has compacted its log past the follower's last entry, restarts
// the follower and checks that it caught up through a snapshot: it
// installed at least one (Status.SnapshotInstalls) and applied the very log
// the kit proposed (payload count and digest, which only hold across an
// install if the state machine's snapshot carries them). The cluster runs
// the kit's knobs with snapshot=200,keep=100 over them.
//
// It needs durable storage (a node restarted with storage memory has no
// state to come back with) and the snapshot knob in effect: a backend that
// reports snapshot or keep not honoured still runs, and only what it does
// is checked.
func checkSnapshotCatchUp(ctx context.Context, k *Kit) error {
	storage := adapter.StorageDisk
	if !k.desc.Capabilities.Supports(storage) {
		storage = adapter.StorageTmpfs
	}
	if !k.desc.Capabilities.Supports(storage) {
		return fmt.Errorf("%w: the plugin has no durable storage, so a restarted node has nothing to catch up from", ErrSkipped)
	}
	if !k.desc.Capabilities.Fits(checkNodes) {
		return fmt.Errorf("%w: the plugin forms clusters of at most %d nodes; the check needs %d", ErrSkipped, k.desc.Capabilities.MaxNodes, checkNodes)
	}
	knobs := k.cfg.Raft.Over(adapter.Raft{SnapshotEntries: catchUpSnapshotEvery, KeepEntries: catchUpKeep})
	c, err := cluster.Start(ctx, cluster.Spec{
		Plugin: k.cfg.Plugin, Nodes: checkNodes, Storage: storage, Options: k.cfg.Options, Raft: knobs,
		DataRoot: k.cfg.DataRoot, ReadyTimeout: 30 * time.Second,
	})
	if err != nil {
		return err
	}
	defer c.Stop(ctx)
	leader, err := c.Leader(ctx)
	if err != nil {
		return err
	}
	var d adapter.Digest
	if err := k.proposeN(ctx, leader, catchUpBatch, &d); err != nil {
		return err
	}
	if err := k.converge(ctx, c, d); err != nil {
		return err
	}
	f := follower(c, leader)
	last, err := f.Node().Status(ctx)
	if err != nil {
		return fmt.Errorf("status of follower %d: %w", f.ID, err)
	}
	if err := c.KillMember(f.ID); err != nil {
		return err
	}
	written, err := k.writePastCompaction(ctx, leader, last.Applied, &d)
	if err != nil {
		return fmt.Errorf("with follower %d down at index %d, snapshot=%d,keep=%d: %w", f.ID, last.Applied, catchUpSnapshotEvery, catchUpKeep, err)
	}
	if err := c.RestartMember(ctx, f.ID); err != nil {
		return fmt.Errorf("restart follower %d: %w", f.ID, err)
	}
	if err := k.converge(ctx, c, d); err != nil {
		return fmt.Errorf("after restarting follower %d, %d entries behind a compacted log: %w", f.ID, written, err)
	}
	// Counters may be published a moment after the install (dragonboat's
	// come from its event goroutine): wait for them with a deadline.
	wctx, cancel := context.WithTimeout(ctx, k.cfg.ConvergeTimeout)
	defer cancel()
	for {
		st, err := f.Node().Status(wctx)
		if err == nil && st.SnapshotInstalls > 0 {
			return nil
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("follower %d, restarted %d entries behind a log the leader compacted, caught up (digest equal) but reports %d snapshot installs (status error %v): it must catch up through a snapshot and count it",
				f.ID, written, st.SnapshotInstalls, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// writePastCompaction proposes through leader, catchUpBatch at a time,
// until the leader has compacted its log past index behind (the last entry
// the stopped follower has): the leader's Status showed Applied beyond
// behind+keep and then two more snapshots. Snapshots are taken one at a
// time, so the second of those began after that look, at an index past it,
// and its compaction drops entry behind+1. It returns the number of entries
// written.
func (k *Kit) writePastCompaction(ctx context.Context, leader *cluster.Member, behind uint64, d *adapter.Digest) (int, error) {
	var written int
	var base uint64
	based := false
	for written < catchUpBudget {
		if err := k.proposeN(ctx, leader, catchUpBatch, d); err != nil {
			return written, err
		}
		written += catchUpBatch
		st, err := leader.Node().Status(ctx)
		if err != nil {
			return written, fmt.Errorf("status of leader %d: %w", leader.ID, err)
		}
		switch {
		case !based && st.Applied > behind+catchUpKeep:
			base, based = st.Snapshots, true
		case based && st.Snapshots >= base+2:
			return written, nil
		}
	}
	st, err := leader.Node().Status(ctx)
	return written, errors.Join(fmt.Errorf("leader %d reports %d snapshots after %d entries: it does not snapshot as asked, so no follower ever needs one",
		leader.ID, st.Snapshots, written), err)
}
