package remote

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/load"
	"github.com/raftcmp/raftcmp/faults"
	"github.com/raftcmp/raftcmp/faults/faultspec"
	"github.com/raftcmp/raftcmp/faults/netrules"
)

// assertNoNetRules checks that no host holds a table of raftcmp's (the
// helper's net-cleanup removes any and prints their names).
func assertNoNetRules(t *testing.T, l *Launcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	for _, s := range l.sites {
		if !s.used {
			continue
		}
		out, err := l.helperRun(ctx, s, opNetCleanup)
		if err != nil {
			t.Errorf("host %s: net-cleanup: %v", s.host.Name, err)
		} else if left := strings.TrimSpace(string(out)); left != "" {
			t.Errorf("host %s: network rules left: %s", s.host.Name, left)
		}
	}
}

// What each host can do is checked before a run: nftables and htb are
// there on the testbed's hosts; a delay on this kernel without netem is
// refused with one line naming the host and the reason.
func TestCheckNetOnHosts(t *testing.T) {
	hs := testHosts(t)
	l := newLauncher(t, hs, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.CheckNet(ctx, true, true, false); err != nil {
		t.Fatalf("partition, loss and bandwidth refused: %v", err)
	}
	err := l.CheckNet(ctx, false, false, true)
	if netrules.Check().Netem == "" {
		if err != nil {
			t.Fatalf("delay refused on a kernel with netem: %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), "host "+hs[0].Name) || !strings.Contains(err.Error(), "netem") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("delay without netem: got %v, want one line naming each host and netem", err)
	}
}

// A hashicorp cluster across three testbed hosts with its follower
// partitioned by rules on the follower's host: the other two keep a leader
// and commit, the follower falls behind, the control connection to its
// host keeps working (the counters are read through it); after revert the
// follower catches up, and no rule is left on any host.
func TestPartitionedFollowerOnHosts(t *testing.T) {
	hs := testHosts(t)
	p := buildPlugin(t, "hashicorp")
	l := newLauncher(t, hs, 3)
	spec, err := faultspec.Parse("partition:follower")
	if err != nil {
		t.Fatal(err)
	}
	env, err := faults.NewEnv(faults.EnvConfig{
		Faults: []faultspec.Spec{spec}, NetHosts: l, CgroupPrefix: fmt.Sprintf("raftcmp-test%d", os.Getpid()),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Spec{
		Plugin: p, Nodes: 3, Storage: adapter.StorageDisk, DataRoot: t.TempDir(), LogDir: t.TempDir(),
		Launcher: l, ReadyTimeout: time.Minute, Hooks: env.Hooks(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Stop(context.Background())
		assertNoNetRules(t, l)
		assertNothingLeft(t, hs)
	})
	if env.Mesh() != nil {
		t.Fatal("the cluster on hosts was given link proxies")
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	targets, err := faults.Targets(spec.Target, c, leader)
	if err != nil {
		t.Fatal(err)
	}
	follower := targets[0]
	f, err := faults.New(spec, env, c, targets)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Revert(context.Background()) })
	if err := f.Inject(ctx); err != nil {
		t.Fatal(err)
	}

	res, err := leader.Node().RunLoad(ctx, load.Spec{Threads: 2, PayloadBytes: 128, Duration: time.Second, OpTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("load under the partition: %v", err)
	}
	if res.Acked == 0 {
		t.Fatalf("the majority committed nothing under the partition: %+v", res)
	}
	st, err := follower.Node().Status(ctx)
	if err != nil {
		t.Fatalf("status of the partitioned follower (its control connection is not cut): %v", err)
	}
	if st.AppliedPayloads >= res.Acked {
		t.Errorf("the partitioned follower applied %d payloads, all %d acknowledged: it was not cut off", st.AppliedPayloads, res.Acked)
	}

	if err := f.Revert(ctx); err != nil {
		t.Fatalf("revert: %v", err)
	}
	e := f.Effect()
	if e[fmt.Sprintf("n%d_dropped_packets", follower.ID)] == "0" || e[fmt.Sprintf("n%d_dropped_packets", follower.ID)] == "" {
		t.Errorf("effect shows no packet dropped on node %d: %s", follower.ID, e)
	}
	assertNoNetRules(t, l)
	all, err := c.Converge(ctx, 30*time.Second)
	if err != nil {
		t.Fatalf("after the partition healed: %v", err)
	}
	for _, s := range all {
		if s.AppliedPayloads < res.Acked {
			t.Errorf("node %d applied %d payloads after healing, %d were acknowledged", s.ID, s.AppliedPayloads, res.Acked)
		}
	}
}
