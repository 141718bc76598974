package dragonboat

import (
	"sync"
	"time"

	"github.com/lni/dragonboat/v4/raftio"
)

// snapshotCounters are the snapshot counters of adapter.Status, kept from
// dragonboat's system events (NodeHostConfig.SystemEventListener) and the
// state machine's SaveSnapshot. dragonboat delivers the events on a
// goroutine of its own, just after the fact, so a count may show in Status
// a moment after the snapshot.
//
//   - Snapshots: a SnapshotCreated event that follows a SaveSnapshot call
//     (dragonboat also publishes the event when it decided there was
//     nothing new to save, without calling SaveSnapshot).
//   - SnapshotTime: from SaveSnapshot's start to that SnapshotCreated event:
//     the state machine's write, the snapshot file's sync, its record in the
//     LogDB and the log compaction after it; what dragonboat does before
//     calling SaveSnapshot (choosing the index, creating the temporary
//     directory) is not seen.
//   - SnapshotInstalls: a SnapshotRecovered event other than the first.
//     dragonboat recovers every replica once as it starts, from its own
//     latest snapshot (the event is published even when there is none), and
//     after that only to install a snapshot a leader sent.
type snapshotCounters struct {
	mu        sync.Mutex
	saving    time.Time // when the current SaveSnapshot began; zero when none
	snapshots uint64
	installs  uint64
	recovered uint64 // SnapshotRecovered events seen
	elapsed   time.Duration
}

// saveBegins is called by SaveSnapshot.
func (c *snapshotCounters) saveBegins() {
	c.mu.Lock()
	c.saving = time.Now()
	c.mu.Unlock()
}

// get returns the counters: snapshots taken, installed, time taken.
func (c *snapshotCounters) get() (snapshots, installs uint64, elapsed time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snapshots, c.installs, c.elapsed
}

// SnapshotCreated implements raftio.ISystemEventListener.
func (c *snapshotCounters) SnapshotCreated(raftio.SnapshotInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.saving.IsZero() {
		return
	}
	c.snapshots++
	c.elapsed += time.Since(c.saving)
	c.saving = time.Time{}
}

// SnapshotRecovered implements raftio.ISystemEventListener.
func (c *snapshotCounters) SnapshotRecovered(raftio.SnapshotInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recovered++
	if c.recovered > 1 {
		c.installs++
	}
}

// The other events of raftio.ISystemEventListener are not counted.

func (*snapshotCounters) NodeHostShuttingDown()                       {}
func (*snapshotCounters) NodeUnloaded(raftio.NodeInfo)                {}
func (*snapshotCounters) NodeDeleted(raftio.NodeInfo)                 {}
func (*snapshotCounters) NodeReady(raftio.NodeInfo)                   {}
func (*snapshotCounters) MembershipChanged(raftio.NodeInfo)           {}
func (*snapshotCounters) ConnectionEstablished(raftio.ConnectionInfo) {}
func (*snapshotCounters) ConnectionFailed(raftio.ConnectionInfo)      {}
func (*snapshotCounters) SendSnapshotStarted(raftio.SnapshotInfo)     {}
func (*snapshotCounters) SendSnapshotCompleted(raftio.SnapshotInfo)   {}
func (*snapshotCounters) SendSnapshotAborted(raftio.SnapshotInfo)     {}
func (*snapshotCounters) SnapshotReceived(raftio.SnapshotInfo)        {}
func (*snapshotCounters) SnapshotCompacted(raftio.SnapshotInfo)       {}
func (*snapshotCounters) LogCompacted(raftio.EntryInfo)               {}
func (*snapshotCounters) LogDBCompacted(raftio.EntryInfo)             {}
