package cluster_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/adapter/adaptertest"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/load"
)

func TestMain(m *testing.M) {
	code := m.Run()
	adaptertest.RemoveBuilds()
	os.Exit(code)
}

func hashicorp(t *testing.T) cluster.Plugin {
	return adaptertest.BuildPlugin(t, "hashicorp", "github.com/raftcmp/raftcmp/plugins/hashicorp/plugin")
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
				err := m.Node().Propose(ctx, []byte("x"))
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
