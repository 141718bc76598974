package inproc_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/inproc"
	"github.com/raftcmp/raftcmp/core/load"
	"github.com/raftcmp/raftcmp/plugins/hashicorp"
)

// Three hashicorp/raft nodes in this process, started, loaded, checked and
// stopped by the cluster code that drives plugin processes.
func TestInProcessCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Spec{
		Plugin: cluster.Plugin{Name: "hashicorp"}, Nodes: 3, Storage: adapter.StorageMemory, DataRoot: t.TempDir(),
		Launcher: inproc.Launcher{New: func() adapter.Node { return hashicorp.New() }},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(ctx)
	for _, m := range c.Members() {
		if m.PID() != os.Getpid() {
			t.Errorf("node %d runs in process %d, not this one", m.ID, m.PID())
		}
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := leader.Node().RunLoad(ctx, load.Spec{Threads: 4, PayloadBytes: 128, Duration: 300 * time.Millisecond})
	if err != nil || res.Acked == 0 || res.ErrorCount() != 0 {
		t.Fatalf("load: %v, %+v", err, res)
	}
	st, err := c.Converge(ctx, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if st[0].AppliedPayloads < res.Acked {
		t.Errorf("applied %d payloads, %d acknowledged", st[0].AppliedPayloads, res.Acked)
	}
	// A node sharing this process cannot be killed alone.
	if err := c.KillMember(leader.ID%3 + 1); err == nil {
		t.Error("killing an in-process node did not fail")
	}
	dir := c.DataDir()
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("data dir %s left after Stop (%v)", dir, err)
	}
}
