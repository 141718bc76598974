package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/adapter/adaptertest"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/load"
)

func TestMain(m *testing.M) { adaptertest.Main(m) }

func hashicorp(t *testing.T) cluster.Plugin {
	return adaptertest.BuildBackend(t, "hashicorp")
}

// A real 3-node hashicorp/raft cluster, three plugin processes: a short
// embedded load on the leader, then every acknowledged proposal must be
// applied on every node, and after Stop nothing may remain.
func TestClusterLoadSafetyAndTeardown(t *testing.T) {
	for _, storage := range []adapter.Storage{adapter.StorageDisk, adapter.StorageMemory} {
		t.Run(string(storage), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			root := t.TempDir()
			c, err := cluster.Start(ctx, cluster.Spec{Plugin: hashicorp(t), Nodes: 3, Storage: storage, DataRoot: root})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Stop(ctx)

			pids := map[int]bool{}
			for _, m := range c.Members() {
				if m.PID() == os.Getpid() || m.PID() <= 0 {
					t.Fatalf("node %d has pid %d", m.ID, m.PID())
				}
				pids[m.PID()] = true
			}
			if len(pids) != 3 {
				t.Fatalf("want 3 distinct plugin processes, got pids %v", pids)
			}
			if d := c.Description(); d.Name != "hashicorp" || d.Module != "github.com/hashicorp/raft" || d.Version == "unknown" || d.Version == "" {
				t.Errorf("description %+v: want hashicorp/raft with its version", d)
			}

			leader, err := c.Leader(ctx)
			if err != nil {
				t.Fatal(err)
			}
			res, err := leader.Node().RunLoad(ctx, load.Spec{Threads: 4, PayloadBytes: 256, Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if res.Ops == 0 || res.ErrorCount() != 0 {
				t.Fatalf("load: %d ops, errors %v", res.Ops, res.Errors)
			}

			cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
			defer ccancel()
			st, err := c.Converge(cctx, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range st {
				if s.AppliedPayloads != res.Acked {
					t.Errorf("node %d applied %d payloads; the load had %d acknowledged (and no failures)", s.ID, s.AppliedPayloads, res.Acked)
				}
			}

			// A follower refuses proposals and names the leader.
			for _, m := range c.Members() {
				if m.ID == leader.ID {
					continue
				}
				_, err := m.Node().Propose(ctx, []byte("x"))
				var nl *adapter.NotLeaderError
				if !errors.As(err, &nl) || nl.Leader != leader.ID {
					t.Errorf("propose on follower %d: %v, want NotLeaderError naming %d", m.ID, err, leader.ID)
				}
				break
			}

			dataDir := c.DataDir()
			if err := c.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			for pid := range pids {
				if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
					t.Errorf("plugin process %d still exists after Stop", pid)
				}
			}
			if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
				t.Errorf("data dir %s remains after Stop (err %v)", dataDir, err)
			}
		})
	}
}

func TestStartUnknownStorageFailsCleanly(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	_, err := cluster.Start(ctx, cluster.Spec{Plugin: hashicorp(t), Nodes: 3, Storage: "floppy", DataRoot: root})
	if !errors.Is(err, adapter.ErrUnsupported) {
		t.Fatalf("err = %v, want ErrUnsupported", err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("data root not cleaned: %v", entries)
	}
}

// ProcUsage reads this test process's own counters.
func TestProcUsage(t *testing.T) {
	// CPU time counts in 10 ms ticks: reading /proc in a loop is work
	// enough to pass one.
	var u cluster.Usage
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if u, err = cluster.ProcUsage(os.Getpid()); err != nil || u.CPU > 0 {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if u.CPU <= 0 || u.PeakRSS == 0 {
		t.Errorf("usage %+v: want CPU time and a peak RSS", u)
	}
	if _, err := cluster.ProcUsage(-1); err == nil {
		t.Error("no error for a process that does not exist")
	}
}

func noop(t *testing.T) cluster.Plugin {
	return adaptertest.BuildBackend(t, "noop")
}

// When every node fails to start for the same reason, Start says it once,
// naming the nodes (real noop plugin processes, which refuse more than one
// node and any storage but memory).
func TestStartSaysEachReasonOnce(t *testing.T) {
	tests := []struct {
		storage adapter.Storage
		want    string
	}{
		{adapter.StorageMemory, "nodes 1,2,3: start: noop runs as a one-node cluster, not 3 nodes: " + adapter.ErrUnsupported.Error()},
		{adapter.StorageDisk, `nodes 1,2,3: storage "disk": ` + adapter.ErrUnsupported.Error() + " (noop supports [memory])"},
	}
	for _, tc := range tests {
		t.Run(string(tc.storage), func(t *testing.T) {
			root := t.TempDir()
			_, err := cluster.Start(context.Background(), cluster.Spec{Plugin: noop(t), Nodes: 3, Storage: tc.storage, DataRoot: root})
			if !errors.Is(err, adapter.ErrUnsupported) || err.Error() != tc.want {
				t.Fatalf("err = %v\nwant %s (wrapping ErrUnsupported)", err, tc.want)
			}
			if entries, _ := os.ReadDir(root); len(entries) != 0 {
				t.Errorf("data root not cleaned: %v", entries)
			}
		})
	}
}

// failingLauncher fails to launch node i with reasons[i-1].
type failingLauncher struct{ reasons []string }

func (failingLauncher) Addrs(n int) ([]string, error) { return cluster.FreeAddrs(n) }

func (l failingLauncher) Launch(_ context.Context, req cluster.LaunchRequest) (cluster.Process, error) {
	return nil, errors.New(l.reasons[req.ID-1])
}

// Different reasons each get their line, in the order of the first node
// that gave them.
func TestStartGroupsReasons(t *testing.T) {
	var torn int
	_, err := cluster.Start(context.Background(), cluster.Spec{
		Plugin: cluster.Plugin{Name: "fake"}, Nodes: 4, DataRoot: t.TempDir(),
		Launcher: failingLauncher{[]string{"no host", "no key", "no host", "no host"}},
		Hooks:    cluster.Hooks{Teardown: func() error { torn++; return nil }},
	})
	want := "nodes 1,3,4: launch: no host\nnode 2: launch: no key"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want\n%s", err, want)
	}
	if torn != 1 {
		t.Errorf("teardown ran %d times after the failed start, want once", torn)
	}
}

// The hooks see every node's process start, restarts too, before its node
// starts, and teardown comes once every process has ended.
func TestHooks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var (
		mu       sync.Mutex
		prepared []adapter.Peer
		started  = map[uint64][]int{} // node id -> pids, in order
		dialled  int
		leftover []int // processes alive at teardown
		torn     int
		c        *cluster.Cluster
	)
	hooks := cluster.Hooks{
		Prepare: func(_ context.Context, nodes []adapter.Peer) error { prepared = nodes; return nil },
		Started: func(ctx context.Context, id uint64, p cluster.Process) error {
			if _, err := p.Node().Status(ctx); err == nil {
				return fmt.Errorf("node %d already started when its process was reported", id)
			}
			mu.Lock()
			defer mu.Unlock()
			started[id] = append(started[id], p.PID())
			return nil
		},
		PeerAddr: func(from, to uint64) string {
			mu.Lock()
			defer mu.Unlock()
			dialled++
			return "" // directly
		},
		Teardown: func() error {
			torn++
			for _, m := range c.Members() {
				if !m.Exited() {
					leftover = append(leftover, m.PID())
				}
			}
			return nil
		},
	}
	var err error
	c, err = cluster.Start(ctx, cluster.Spec{Plugin: hashicorp(t), Nodes: 3, Storage: adapter.StorageMemory, DataRoot: t.TempDir(), Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(ctx)
	if len(prepared) != 3 || prepared[2].ID != 3 || prepared[2].Addr != c.Member(3).Addr {
		t.Errorf("Prepare saw %v, want the 3 nodes and their addresses", prepared)
	}
	if dialled != 6 {
		t.Errorf("PeerAddr asked %d times, want once per directed link (6)", dialled)
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	follower := c.Member(leader.ID%3 + 1)
	old := follower.PID()
	if err := c.KillMember(follower.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.RestartMember(ctx, follower.ID); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if got := started[follower.ID]; len(got) != 2 || got[0] != old || got[1] != follower.PID() {
		t.Errorf("Started saw pids %v for node %d, want %d then %d", got, follower.ID, old, follower.PID())
	}
	if len(started) != 3 {
		t.Errorf("Started saw nodes %v, want all 3", started)
	}
	mu.Unlock()
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if torn != 1 || len(leftover) != 0 {
		t.Errorf("teardown ran %d times, with processes %v still alive; want once, after all ended", torn, leftover)
	}
}
