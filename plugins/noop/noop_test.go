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

// Through the plugin boundary, unary and on a stream: each proposal returns
// its position, reads in the declared modes see it, lease is refused.
func TestPositionsAndReads(t *testing.T) {
	ctx := context.Background()
	c, err := cluster.Start(ctx, cluster.Spec{Plugin: plugin(t), Nodes: 1, Storage: adapter.StorageMemory})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(ctx)
	client, ok := c.Member(1).Node().(*adapter.Client)
	if !ok {
		t.Fatalf("node is a %T, not a plugin client", c.Member(1).Node())
	}
	sp, err := client.Proposer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	type node interface {
		Propose(context.Context, []byte) (uint64, error)
		Read(context.Context, adapter.ReadMode) (adapter.ReadState, error)
	}
	var want uint64
	for _, tc := range []struct {
		name string
		n    node
	}{{"unary", client}, {"stream", sp}} {
		for range 3 {
			want++
			pos, err := tc.n.Propose(ctx, []byte("x"))
			if err != nil || pos != want {
				t.Fatalf("%s: Propose = %d, %v; want position %d", tc.name, pos, err, want)
			}
			for _, mode := range []adapter.ReadMode{adapter.ReadLinearizable, adapter.ReadStale} {
				rs, err := tc.n.Read(ctx, mode)
				if err != nil || rs.AppliedPayloads != want {
					t.Fatalf("%s: %s read = %+v, %v; want %d payloads", tc.name, mode, rs, err, want)
				}
			}
		}
		if _, err := tc.n.Read(ctx, adapter.ReadLease); !errors.Is(err, adapter.ErrUnsupported) {
			t.Errorf("%s: lease read: %v, want ErrUnsupported", tc.name, err)
		}
	}
}
