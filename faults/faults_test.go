package faults_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/adapter/adaptertest"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/load"
	"github.com/raftcmp/raftcmp/faults"
	"github.com/raftcmp/raftcmp/faults/cgroup"
	"github.com/raftcmp/raftcmp/faults/faultspec"
)

func TestMain(m *testing.M) {
	faults.MaybeRunHog()
	code := m.Run()
	adaptertest.RemoveBuilds()
	os.Exit(code)
}

// env is a real 3-node hashicorp cluster set up for one fault kind.
type env struct {
	t      *testing.T
	c      *cluster.Cluster
	env    *faults.Env
	leader *cluster.Member
	prefix string
}

// start starts a cluster with what kind needs (its faults.Env), skipping
// (with the reason) where cgroups cannot be made.
func start(t *testing.T, kind string, storage adapter.Storage) *env {
	t.Helper()
	kinds := []faultspec.Spec{{Kind: kind}}
	cfg := faults.EnvConfig{Faults: kinds}
	e := &env{t: t}
	if faults.NeedsCgroups(kinds) {
		if err := cgroup.Available(); err != nil {
			t.Skipf("needs cgroups (run as root): %v", err)
		}
		m, err := cgroup.NewManager(cgroup.DefaultRoot)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Cgroups = m
		cfg.CgroupPrefix = "raftcmp-faultstest-" + strconv.Itoa(os.Getpid())
		e.prefix = cfg.CgroupPrefix
	}
	var err error
	if e.env, err = faults.NewEnv(cfg); err != nil {
		t.Fatal(err)
	}
	spec := cluster.Spec{
		Plugin:  adaptertest.BuildPlugin(t, "hashicorp", "github.com/raftcmp/raftcmp/plugins/hashicorp/plugin"),
		Nodes:   3,
		Storage: storage,
		Hooks:   e.env.Hooks(),
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	t.Cleanup(func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
		e.checkNothingLeft()
	})
	if e.leader, err = c.Leader(ctx); err != nil {
		t.Fatal(err)
	}
	return e
}

// checkNothingLeft: no cgroup, process or data dir of this cluster remains.
func (e *env) checkNothingLeft() {
	t := e.t
	if e.prefix != "" {
		filepath.WalkDir(cgroup.DefaultRoot, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() && strings.HasPrefix(d.Name(), e.prefix) {
				t.Errorf("cgroup left behind: %s", p)
				return fs.SkipDir
			}
			return nil
		})
	}
	for _, m := range e.c.Members() {
		if p := m.Process(); p != nil && !p.Exited() {
			t.Errorf("node %d's process %d still runs", m.ID, p.PID())
		}
	}
	if _, err := os.Stat(e.c.DataDir()); !os.IsNotExist(err) {
		t.Errorf("data dir %s left behind", e.c.DataDir())
	}
}

// inject binds and injects the fault given in --fault syntax and schedules
// its revert at the end of the test.
func (e *env) inject(s string) (faults.Fault, []*cluster.Member) {
	e.t.Helper()
	spec, err := faultspec.Parse(s)
	if err != nil {
		e.t.Fatal(err)
	}
	targets, err := faults.Targets(spec.Target, e.c, e.leader)
	if err != nil {
		e.t.Fatal(err)
	}
	f, err := faults.New(spec, e.env, e.c, targets)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := f.Inject(context.Background()); err != nil {
		f.Revert(context.Background())
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { f.Revert(context.Background()) })
	return f, targets
}

func (e *env) load(threads int, d time.Duration) *load.Result {
	e.t.Helper()
	res, err := e.leader.Node().RunLoad(context.Background(), load.Spec{Threads: threads, PayloadBytes: 256, Duration: d})
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func (e *env) converge() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := e.c.Converge(ctx, 45*time.Second); err != nil {
		e.t.Fatal(err)
	}
}

func effectFloat(t *testing.T, eff faults.Effect, key string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(eff[key], 64)
	if err != nil {
		t.Fatalf("effect %v lacks %s", eff, key)
	}
	return v
}

// cpu-slow at 5% holds a busy follower to 4-6% of a CPU, as measured from
// its cgroup's CPU usage over the fault's window.
func TestCPUSlow(t *testing.T) {
	e := start(t, "cpu-slow", adapter.StorageMemory)
	f, targets := e.inject("cpu-slow:follower,quota=5%,period=100ms")
	// A rate ceiling keeps the backlog the slowed follower must catch up
	// on small, so the safety check below stays quick.
	if _, err := e.leader.Node().RunLoad(context.Background(), load.Spec{Threads: 8, Rate: 3000, PayloadBytes: 256, Duration: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := f.Revert(context.Background()); err != nil {
		t.Fatal(err)
	}
	share := effectFloat(t, f.Effect(), "n"+strconv.FormatUint(targets[0].ID, 10)+"_cpu_share")
	if share < 0.04 || share > 0.06 {
		t.Errorf("follower got %.2f%% of a CPU under a 5%% quota; want 4-6%% (effect %v)", share*100, f.Effect())
	}
	e.converge()
}

// pause freezes a follower: its CPU use stops while the others go on; thaw
// lets it catch up.
func TestPause(t *testing.T) {
	e := start(t, "pause", adapter.StorageMemory)
	f, targets := e.inject("pause:follower")
	g := e.env.Cgroup(targets[0].ID)
	before, err := g.Stats()
	if err != nil {
		t.Fatal(err)
	}
	res := e.load(4, time.Second)
	after, err := g.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if used := after.CPUUsage - before.CPUUsage; used > 5*time.Millisecond {
		t.Errorf("frozen node used %v of CPU while %d proposals committed without it", used, res.Ops)
	}
	if res.Ops == 0 {
		t.Fatal("the two live nodes made no progress")
	}
	if err := f.Revert(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.converge() // the thawed node catches up
}

// memory: a follower limited below what its in-memory log needs is killed
// by the kernel; the effect records it.
func TestMemoryLimit(t *testing.T) {
	e := start(t, "memory", adapter.StorageMemory)
	f, targets := e.inject("memory:follower,limit=40MiB")
	id := targets[0].ID
	// Each proposal is kept in the follower's in-memory log: 4 KiB payloads
	// for two seconds outgrow 40 MiB. On a busy machine it may take more
	// rounds: the load goes on until the kernel kills the follower (or a
	// minute passes).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var ops uint64
	err := cluster.Poll(ctx, "the follower to be OOM-killed", func(ctx context.Context) (bool, string, error) {
		if targets[0].Exited() {
			return true, "", nil
		}
		res, err := e.leader.Node().RunLoad(ctx, load.Spec{Threads: 8, PayloadBytes: 4096, Duration: 2 * time.Second})
		if err != nil {
			return false, "", err
		}
		ops += res.Ops
		return targets[0].Exited(), "still running", nil
	})
	if err != nil {
		t.Fatalf("after %d ops of 4 KiB: %v", ops, err)
	}
	f.Revert(context.Background())
	eff := f.Effect()
	if eff["n"+strconv.FormatUint(id, 10)+"_oom_kills"] == "0" && eff["n"+strconv.FormatUint(id, 10)+"_oom_events"] == "0" {
		t.Errorf("node exited but the cgroup counted no OOM: %v", eff)
	}
	peak := effectFloat(t, eff, "n"+strconv.FormatUint(id, 10)+"_mem_peak_bytes")
	if peak > 41<<20 {
		t.Errorf("memory peak %.0f MiB above the 40 MiB limit", peak/(1<<20))
	}
}

// disk-slow: a follower's writes are held to the IOPS limit.
func TestDiskSlow(t *testing.T) {
	e := start(t, "disk-slow", adapter.StorageDisk)
	f, targets := e.inject("disk-slow:follower,write_iops=20")
	e.load(4, 3*time.Second)
	if err := f.Revert(context.Background()); err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatUint(targets[0].ID, 10)
	ops := effectFloat(t, f.Effect(), "n"+id+"_write_ops")
	window := effectFloat(t, f.Effect(), "window_s")
	if rate := ops / window; rate > 30 || ops == 0 {
		t.Errorf("follower wrote %.0f ops in %.1f s (%.1f/s); want 1..30/s under write_iops=20 (effect %v)", ops, window, rate, f.Effect())
	}
}

// net-delay of 10 ms on the leader adds about 10 ms to each commit, which
// needs a round trip to a follower.
func TestNetDelay(t *testing.T) {
	e := start(t, "net-delay", adapter.StorageMemory)
	base := e.load(1, time.Second).Latency.ValueAtQuantile(50)
	e.inject("net-delay:leader,delay=10ms")
	slow := e.load(1, time.Second).Latency.ValueAtQuantile(50)
	if added := time.Duration(slow-base) * time.Microsecond; added < 7*time.Millisecond || added > 20*time.Millisecond {
		t.Errorf("median commit latency went from %d to %d µs (+%v); want about +10ms", base, slow, added)
	}
}

// partition: the leader cut off from its peers is replaced by a leader
// among the other two, which go on committing.
func TestPartition(t *testing.T) {
	e := start(t, "partition", adapter.StorageMemory)
	old := e.leader
	f, _ := e.inject("partition:leader")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var next *cluster.Member
	err := cluster.Poll(ctx, "a new leader among the majority", func(ctx context.Context) (bool, string, error) {
		st, errs := e.c.Statuses(ctx)
		for i, s := range st {
			if errs[i] == nil && s.ID != old.ID && s.Role == adapter.RoleLeader {
				next = e.c.Member(s.ID)
				return true, "", nil
			}
		}
		return false, "no new leader yet", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := next.Node().Propose(ctx, []byte("after the partition")); err != nil {
		t.Fatalf("propose on new leader %d: %v", next.ID, err)
	}
	if err := f.Revert(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.converge()
}

// kill with restart: the node comes back on its data and catches up; the
// effect has the recovery times.
func TestKillRestart(t *testing.T) {
	e := start(t, "kill", adapter.StorageDisk)
	f, _ := e.inject("kill:follower,restart_after=500ms")
	e.load(2, 2*time.Second)
	if err := f.Revert(context.Background()); err != nil {
		t.Fatal(err)
	}
	eff := f.Effect()
	if eff["catch_up_s"] == "" || eff["leader_back_s"] == "" {
		t.Errorf("effect %v lacks recovery times", eff)
	}
	e.converge()
}

// cpu-contention confines the target and a busy loop to one CPU, the
// target at lower shares: a busy target gets well under the whole CPU.
func TestCPUContention(t *testing.T) {
	e := start(t, "cpu-contention", adapter.StorageMemory)
	f, targets := e.inject("cpu-contention:follower,shares=64,cpu=1")
	// A rate ceiling keeps the slowed follower's backlog small (see
	// TestCPUSlow).
	if _, err := e.leader.Node().RunLoad(context.Background(), load.Spec{Threads: 8, Rate: 3000, PayloadBytes: 256, Duration: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := f.Revert(context.Background()); err != nil {
		t.Fatal(err)
	}
	share := effectFloat(t, f.Effect(), "n"+strconv.FormatUint(targets[0].ID, 10)+"_cpu_share")
	// shares 64 against 1024 is 5.9% when both want the CPU all the time;
	// a follower is not always runnable, so only an upper bound holds.
	if share > 0.25 {
		t.Errorf("follower got %.1f%% of its CPU against the busy loop; want well under its fair half (effect %v)", share*100, f.Effect())
	}
	e.converge()
}

// disk-contention runs a competing fsync writer on the target's file
// system, which the effect shows writing.
func TestDiskContention(t *testing.T) {
	e := start(t, "disk-contention", adapter.StorageDisk)
	f, _ := e.inject("disk-contention:follower")
	e.load(4, time.Second)
	if err := f.Revert(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w := effectFloat(t, f.Effect(), "hog_write_bytes"); w <= 0 {
		t.Errorf("the competing writer wrote nothing (effect %v)", f.Effect())
	}
	e.converge()
}

// net-bandwidth and net-loss act on the target's links and leave the
// cluster correct; the effect counts the bytes that crossed them.
func TestNetBandwidthAndLoss(t *testing.T) {
	for _, fault := range []string{"net-bandwidth:leader,rate=200KiB", "net-loss:follower,loss=2%"} {
		t.Run(fault, func(t *testing.T) {
			kind, _, _ := strings.Cut(fault, ":")
			e := start(t, kind, adapter.StorageMemory)
			f, targets := e.inject(fault)
			// A rate ceiling keeps the lossy follower's backlog small: once
			// the load stops, hashicorp/raft catches a lagging follower up
			// slowly, and backs off for up to ~41 s after failed sends.
			res, err := e.leader.Node().RunLoad(context.Background(), load.Spec{Threads: 4, Rate: 2000, PayloadBytes: 256, Duration: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Revert(context.Background()); err != nil {
				t.Fatal(err)
			}
			sent := effectFloat(t, f.Effect(), "n"+strconv.FormatUint(targets[0].ID, 10)+"_sent_bytes")
			if sent <= 0 {
				t.Errorf("no bytes counted through the target's links (effect %v)", f.Effect())
			}
			if kind == "net-bandwidth" {
				// 256-byte payloads to two followers over 2 s at 200 KiB/s per
				// link and direction: the leader cannot send much more than
				// 2 links x 200 KiB/s x 2 s.
				if limit := 2 * 200 * 1024 * 2.0 * 1.5; sent > limit {
					t.Errorf("leader sent %.0f bytes in 2 s under a 200 KiB/s limit per link (%d ops)", sent, res.Ops)
				}
			}
			e.converge()
		})
	}
}
