package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/adapter/adaptertest"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/plugins/etcd"
)

func TestMain(m *testing.M) { adaptertest.Main(m) }

func plugin(t *testing.T) cluster.Plugin {
	return adaptertest.BuildBackend(t, "etcd")
}

func TestStartRejectsBadOptionsAndStorage(t *testing.T) {
	cfg := adapter.Config{ID: 1, Peers: []adapter.Peer{{ID: 1, Addr: "127.0.0.1:0"}}, DataDir: t.TempDir(), Storage: adapter.StorageMemory}
	for _, tc := range []struct {
		opts adapter.Options
		want string
	}{
		{adapter.Options{"tick_intervall": "10ms"}, "unknown option tick_intervall"},
		{adapter.Options{"election_tick": "x"}, "option election_tick"},
		{adapter.Options{"election_tick": "3", "heartbeat_tick": "3"}, "greater than heartbeat_tick"},
		{adapter.Options{"pre_vote": "maybe"}, "option pre_vote"},
	} {
		c := cfg
		c.Options = tc.opts
		err := etcd.New().Start(context.Background(), c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("options %v: err %v, want one containing %q", tc.opts, err, tc.want)
		}
	}
	c := cfg
	c.Storage = "floppy"
	if err := etcd.New().Start(context.Background(), c); !errors.Is(err, adapter.ErrUnsupported) {
		t.Errorf("storage floppy: err %v, want ErrUnsupported", err)
	}
}

// group is a cluster of etcd.Nodes inside the test process, so that a node
// can be stopped and started again on its data directory.
type group struct {
	t     *testing.T
	cfgs  []adapter.Config
	nodes []*etcd.Node
}

func newGroup(t *testing.T, n int, storage adapter.Storage, opts adapter.Options) *group {
	t.Helper()
	g := &group{t: t}
	peers := make([]adapter.Peer, n)
	var ls []net.Listener
	for i := range peers {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		peers[i] = adapter.Peer{ID: uint64(i + 1), Addr: l.Addr().String()}
	}
	for _, l := range ls {
		l.Close()
	}
	for i := range n {
		g.cfgs = append(g.cfgs, adapter.Config{ID: uint64(i + 1), Peers: peers, DataDir: t.TempDir(), Storage: storage, Options: opts})
		g.nodes = append(g.nodes, nil)
	}
	for i := range n {
		g.start(i)
	}
	t.Cleanup(func() {
		for _, nd := range g.nodes {
			if nd != nil {
				nd.Stop(context.Background())
			}
		}
	})
	return g
}

func (g *group) start(i int) {
	g.t.Helper()
	nd := etcd.New()
	if err := nd.Start(context.Background(), g.cfgs[i]); err != nil {
		g.t.Fatalf("start node %d: %v", i+1, err)
	}
	g.nodes[i] = nd
}

func (g *group) stop(i int) {
	g.t.Helper()
	if err := g.nodes[i].Stop(context.Background()); err != nil {
		g.t.Fatalf("stop node %d: %v", i+1, err)
	}
	g.nodes[i] = nil
}

func (g *group) statuses(ctx context.Context) ([]adapter.Status, error) {
	var st []adapter.Status
	for i, nd := range g.nodes {
		if nd == nil {
			continue
		}
		s, err := nd.Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", i+1, err)
		}
		st = append(st, s)
	}
	return st, nil
}

// leader waits for a running node that says it leads.
func (g *group) leader(ctx context.Context) int {
	g.t.Helper()
	idx := -1
	err := cluster.Poll(ctx, "a leader", func(ctx context.Context) (bool, string, error) {
		st, err := g.statuses(ctx)
		if err != nil {
			return false, "", err
		}
		for _, s := range st {
			if s.Role == adapter.RoleLeader {
				idx = int(s.ID - 1)
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("%+v", st), nil
	})
	if err != nil {
		g.t.Fatal(err)
	}
	return idx
}

// propose makes n proposals through the leader from 8 goroutines and
// returns how many were acknowledged; it fails the test on any error.
func (g *group) propose(ctx context.Context, n int) int {
	g.t.Helper()
	leader := g.nodes[g.leader(ctx)]
	var acked atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				if _, err := leader.Propose(ctx, []byte(fmt.Sprintf("payload %d of worker %d", i, w))); err != nil {
					errs <- err
					continue
				}
				acked.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		g.t.Fatalf("propose: %v", err)
	}
	return int(acked.Load())
}

// converge waits until every running node has applied the same log, with
// want payloads, and returns the agreed status.
func (g *group) converge(ctx context.Context, want int) adapter.Status {
	g.t.Helper()
	var last []adapter.Status
	err := cluster.Poll(ctx, "every node to apply the same log", func(ctx context.Context) (bool, string, error) {
		st, err := g.statuses(ctx)
		if err != nil {
			return false, "", err
		}
		last = st
		var commit uint64
		for _, s := range st {
			commit = max(commit, s.Commit)
		}
		for _, s := range st {
			if s.Applied < commit || s.Applied != st[0].Applied || s.Digest != st[0].Digest || s.AppliedPayloads != uint64(want) {
				return false, fmt.Sprintf("%+v", st), nil
			}
		}
		return true, "", nil
	})
	if err != nil {
		g.t.Fatal(err)
	}
	return last[0]
}

// A follower stopped and started again on its WAL recovers its log and
// digest and catches up; then the whole cluster is stopped and restarted
// and must come back with the digest it had. With snapshots on, the
// follower falls further behind than the leader keeps, so it catches up
// from a snapshot sent over the transport, and restarts load snapshots
// from disk.
func TestRestartRecoversLogAndDigest(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts adapter.Options
	}{
		{"wal", adapter.Options{"tick_interval": "20ms"}},
		{"wal+snapshots", adapter.Options{"tick_interval": "20ms", "snapshot_entries": "40", "snapshot_catchup_entries": "10"}},
		{"wal+snapshots,persist-first", adapter.Options{"tick_interval": "20ms", "snapshot_entries": "40", "snapshot_catchup_entries": "10", "ready_order": "persist-first"}},
		{"wal,rafthttp", adapter.Options{"tick_interval": "20ms", "transport": "rafthttp"}},
		// The follower catches up from a snapshot sent through rafthttp's
		// pipeline.
		{"wal+snapshots,rafthttp", adapter.Options{"tick_interval": "20ms", "snapshot_entries": "40", "snapshot_catchup_entries": "10", "transport": "rafthttp"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			g := newGroup(t, 3, adapter.StorageDisk, tc.opts)
			acked := g.propose(ctx, 200)
			g.converge(ctx, acked)

			follower := (g.leader(ctx) + 1) % 3
			g.stop(follower)
			acked += g.propose(ctx, 200)
			g.start(follower)
			acked += g.propose(ctx, 20)
			before := g.converge(ctx, acked)

			for i := range g.nodes {
				g.stop(i)
			}
			for i := range g.nodes {
				g.start(i)
			}
			g.leader(ctx)
			after := g.converge(ctx, acked)
			if after.Digest != before.Digest || after.AppliedPayloads != before.AppliedPayloads {
				t.Errorf("after restarting every node: %d payloads, digest %016x; before: %d, %016x",
					after.AppliedPayloads, after.Digest, before.AppliedPayloads, before.Digest)
			}
			acked += g.propose(ctx, 20)
			g.converge(ctx, acked)
		})
	}
}

// Stop makes a proposal that can never commit return, and a stopped node
// refuses further calls.
func TestStopReleasesWaitingProposals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g := newGroup(t, 3, adapter.StorageMemory, adapter.Options{"tick_interval": "20ms", "check_quorum": "false"})
	l := g.leader(ctx)
	for i := range g.nodes {
		if i != l {
			g.stop(i)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := g.nodes[l].Propose(ctx, []byte("never committed"))
		done <- err
	}()
	err := cluster.Poll(ctx, "the proposal to wait for its entry", func(context.Context) (bool, string, error) {
		select {
		case err := <-done:
			return false, "", fmt.Errorf("proposal returned %v without a quorum", err)
		default:
		}
		return g.nodes[l].Waiting() == 1, "not yet", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	g.stop(l)
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("proposal without a quorum succeeded")
		}
	case <-ctx.Done():
		t.Fatal("proposal still waiting after Stop")
	}
}

// Stopping every node of a cluster on rafthttp leaves no goroutine behind:
// its streams, pipelines, probers and HTTP server all end.
func TestRafthttpStopLeavesNoGoroutines(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := runtime.NumGoroutine()
	g := newGroup(t, 3, adapter.StorageMemory, adapter.Options{"tick_interval": "20ms", "transport": "rafthttp"})
	g.converge(ctx, g.propose(ctx, 100))
	for i := range g.nodes {
		g.stop(i)
	}
	err := cluster.Poll(ctx, "the goroutines to end", func(context.Context) (bool, string, error) {
		n := runtime.NumGoroutine()
		return n <= before, fmt.Sprintf("%d goroutines, %d before", n, before), nil
	})
	if err != nil {
		buf := make([]byte, 1<<20)
		t.Fatalf("%v\n%s", err, buf[:runtime.Stack(buf, true)])
	}
}

// The conformance kit, through real plugin processes, on each transport.
func TestConformance(t *testing.T) {
	plugin := adaptertest.BuildBackend(t, "etcd")
	for _, tr := range []string{"tcp", "rafthttp"} {
		t.Run(tr, func(t *testing.T) {
			adaptertest.Run(t, adaptertest.Config{Plugin: plugin, Options: adapter.Options{"transport": tr}})
		})
	}
}
