package etcd

import (
	"time"

	"go.etcd.io/raft/v3"
)

// Waiting is how many proposals wait for their entries to be applied; tests
// use it to wait for a proposal to be in flight.
func (n *Node) Waiting() int {
	r := n.r.Load()
	if r == nil {
		return 0
	}
	r.waiters.mu.Lock()
	defer r.waiters.mu.Unlock()
	return len(r.waiters.m)
}

// Running is what a started node runs with: the raft.Config it gave the
// library, its tick, transport and Ready order; tests compare it with what
// Settings reports.
type Running struct {
	Raft       raft.Config
	Tick       time.Duration
	Transport  string
	ReadyOrder string
	Snapshot   uint64
}

// Running reports what the started node runs with.
func (n *Node) Running() Running {
	r := n.r.Load()
	if r == nil {
		return Running{}
	}
	return Running{Raft: r.rc, Tick: r.set.tick, Transport: r.set.transport, ReadyOrder: r.set.readyOrder, Snapshot: r.set.snapshotEntries}
}
