package noop_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/adapter/adaptertest"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/load"
)

func TestMain(m *testing.M) { adaptertest.Main(m) }

func plugin(t *testing.T) cluster.Plugin {
	return adaptertest.BuildBackend(t, "noop")
}

// One node through the plugin boundary: every acknowledged proposal is in
// the digest.
func TestOneNode(t *testing.T) {
	ctx := context.Background()
	c, err := cluster.Start(ctx, cluster.Spec{Plugin: plugin(t), Nodes: 1, Storage: adapter.StorageMemory})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(ctx)
	res, err := c.Member(1).Node().RunLoad(ctx, load.Spec{Threads: 4, PayloadBytes: 64, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Converge(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops == 0 || st[0].AppliedPayloads != res.Acked {
		t.Fatalf("%d ops, %d acked, %d applied", res.Ops, res.Acked, st[0].AppliedPayloads)
	}
}

// It refuses what it cannot honestly do.
func TestRefusesClustersAndDisk(t *testing.T) {
	ctx := context.Background()
	for _, spec := range []cluster.Spec{
		{Plugin: plugin(t), Nodes: 3, Storage: adapter.StorageMemory},
		{Plugin: plugin(t), Nodes: 1, Storage: adapter.StorageDisk},
	} {
		if _, err := cluster.Start(ctx, spec); !errors.Is(err, adapter.ErrUnsupported) {
			t.Errorf("%d nodes, %s: err %v, want ErrUnsupported", spec.Nodes, spec.Storage, err)
		}
	}
}

// The conformance kit: noop describes itself and keeps its one-node limit;
// the checks that need three nodes do not apply to it.
func TestConformance(t *testing.T) {
	adaptertest.Run(t, adaptertest.Config{Plugin: plugin(t)})
}
