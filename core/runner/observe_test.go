package runner

import (
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
)

// A node's snapshot counters over a window: their growth, kept across a
// restart that sets them back to zero.
func TestSnapshotTally(t *testing.T) {
	st := func(taken, inst uint64, ms int) adapter.Status {
		return adapter.Status{Snapshots: taken, SnapshotInstalls: inst, SnapshotTime: time.Duration(ms) * time.Millisecond}
	}
	tests := []struct {
		name     string
		seen     []adapter.Status
		taken    uint64
		installs uint64
		spentMs  int
	}{
		{"none seen", nil, 0, 0, 0},
		{"one look", []adapter.Status{st(4, 1, 30)}, 0, 0, 0},
		{"growth from the first look", []adapter.Status{st(4, 1, 30), st(5, 1, 35), st(7, 2, 50)}, 3, 1, 20},
		{"restart keeps what came before", []adapter.Status{st(4, 0, 30), st(6, 0, 40), st(0, 1, 0), st(1, 1, 5)}, 3, 1, 15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tally snapshotTally
			for _, s := range tt.seen {
				tally.see(s)
			}
			taken, installs, spent := tally.total()
			if taken != tt.taken || installs != tt.installs || spent != time.Duration(tt.spentMs)*time.Millisecond {
				t.Errorf("total = %d, %d, %v; want %d, %d, %dms", taken, installs, spent, tt.taken, tt.installs, tt.spentMs)
			}
		})
	}
}

// A node that joined in the window counts everything from its Start: the
// snapshot it caught up through is the window's.
func TestSnapshotTallyOfAJoinedNode(t *testing.T) {
	tally := snapshotTally{seen: true} // as tallySnapshots makes it for a node not live at the window's start
	tally.see(adapter.Status{SnapshotInstalls: 1, Snapshots: 2, SnapshotTime: 7 * time.Millisecond})
	if taken, installs, spent := tally.total(); taken != 2 || installs != 1 || spent != 7*time.Millisecond {
		t.Errorf("total = %d, %d, %v; want 2, 1, 7ms", taken, installs, spent)
	}
}
