package cluster_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/adapter/adaptertest"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/load"
)

// A follower of a real hashicorp cluster is removed and a fresh node
// added under load: the new node has its own process, id, address and
// data directory, the three live nodes converge, and Stop leaves no
// process or data directory behind, the removed and the added node's
// included. Removing the leader is refused.
func TestRemoveAndAddMember(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Spec{Plugin: hashicorp(t), Nodes: 3, Storage: adapter.StorageDisk, DataRoot: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(ctx)
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RemoveMember(ctx, leader.ID); err == nil {
		t.Fatal("removing the leader was not refused")
	}
	var f *cluster.Member
	for _, m := range c.Live() {
		if m.ID != leader.ID {
			f = m
			break
		}
	}
	loaded := make(chan error, 1)
	go func() {
		_, err := leader.Node().RunLoad(ctx, load.Spec{Threads: 2, PayloadBytes: 128, Duration: 2 * time.Second})
		loaded <- err
	}()
	if _, err := c.RemoveMember(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	if f.Live() || !f.Exited() {
		t.Fatalf("removed node %d: live %v, exited %v", f.ID, f.Live(), f.Exited())
	}
	added, err := c.AddMember(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-loaded; err != nil {
		t.Fatal(err)
	}
	if added.ID != 4 || added.Addr == f.Addr || added.DataDir == f.DataDir || added.PID() == f.PID() || c.Member(4) != added {
		t.Fatalf("added node %d at %s in %s (pid %d); removed node %d at %s in %s (pid %d): want a fresh node 4",
			added.ID, added.Addr, added.DataDir, added.PID(), f.ID, f.Addr, f.DataDir, f.PID())
	}
	cctx, ccancel := context.WithTimeout(ctx, time.Minute)
	defer ccancel()
	st, err := c.Converge(cctx, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 3 || st[0].AppliedPayloads == 0 {
		t.Fatalf("statuses %+v: want three nodes that applied the load", st)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range c.Members() {
		if !m.Exited() {
			t.Errorf("node %d's process %d still runs", m.ID, m.PID())
		}
	}
	if _, err := os.Stat(c.DataDir()); !os.IsNotExist(err) {
		t.Errorf("data dir %s left behind", c.DataDir())
	}
}

// A cluster whose links are proxied refuses membership changes, and so
// does a backend without Membership.
func TestMembershipRefusals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	proxied, err := cluster.Start(ctx, cluster.Spec{Plugin: hashicorp(t), Nodes: 3, Storage: adapter.StorageMemory, DataRoot: t.TempDir(),
		Hooks: cluster.Hooks{PeerAddr: func(from, to uint64) string { return "" }}})
	if err != nil {
		t.Fatal(err)
	}
	defer proxied.Stop(ctx)
	if _, err := proxied.AddMember(ctx, -1); !errors.Is(err, cluster.ErrProxiedMembership) {
		t.Errorf("add to a proxied cluster: %v, want ErrProxiedMembership", err)
	}
	noop, err := cluster.Start(ctx, cluster.Spec{Plugin: adaptertest.BuildBackend(t, "noop"), Nodes: 1, Storage: adapter.StorageMemory, DataRoot: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer noop.Stop(ctx)
	if _, err := noop.AddMember(ctx, -1); !errors.Is(err, adapter.ErrUnsupported) {
		t.Errorf("add to a noop cluster: %v, want ErrUnsupported", err)
	}
	if len(noop.Members()) != 1 {
		t.Errorf("%d members after a refused add, want 1", len(noop.Members()))
	}
}
