package dragonboat_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/adapter/adaptertest"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/plugins/dragonboat"
)

func TestMain(m *testing.M) { adaptertest.Main(m) }

func plugin(t *testing.T) cluster.Plugin {
	return adaptertest.BuildBackend(t, "dragonboat")
}

func TestStorageMemoryUnsupported(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := t.TempDir()
	_, err := cluster.Start(ctx, cluster.Spec{Plugin: plugin(t), Nodes: 3, Storage: adapter.StorageMemory, DataRoot: root})
	if !errors.Is(err, adapter.ErrUnsupported) {
		t.Fatalf("err = %v, want ErrUnsupported", err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("data root not cleaned: %v", entries)
	}

	// The node itself refuses too, whoever calls it.
	err = dragonboat.New().Start(ctx, adapter.Config{ID: 1, Peers: []adapter.Peer{{ID: 1, Addr: "127.0.0.1:1"}}, DataDir: t.TempDir(), Storage: adapter.StorageMemory})
	if !errors.Is(err, adapter.ErrUnsupported) {
		t.Fatalf("Start with storage memory: %v, want ErrUnsupported", err)
	}
}

func TestOptions(t *testing.T) {
	ctx := context.Background()
	for _, opts := range []adapter.Options{
		{"no_such_option": "1"},
		{"logdb": "rocksdb"},
		{"election_rtt": "8", "heartbeat_rtt": "4"},
	} {
		err := dragonboat.New().Start(ctx, adapter.Config{ID: 1, Peers: []adapter.Peer{{ID: 1, Addr: "127.0.0.1:1"}}, DataDir: t.TempDir(), Storage: adapter.StorageDisk, Options: opts})
		if err == nil {
			t.Errorf("Start with options %v succeeded, want an error naming the option", opts)
		}
	}
}

// inproc is a cluster of dragonboat.Node values in the test process, for
// tests that restart a node on its data dir or put proxies between nodes.
type inproc struct {
	listen  []string         // node i binds listen[i]
	peersOf [][]adapter.Peer // node i's peer list
	links   [][]*proxy       // links[i][j]: the proxy node i dials to reach j
	dirs    []string
	nodes   []*dragonboat.Node
	opts    adapter.Options
}

// newInproc starts n nodes. With proxied, node i reaches node j only
// through its own proxy links[i][j], as raftcmp's network faults arrange.
func newInproc(t *testing.T, n int, opts adapter.Options, proxied bool) *inproc {
	t.Helper()
	c := &inproc{opts: opts}
	addrs, err := cluster.FreeAddrs(n)
	if err != nil {
		t.Fatal(err)
	}
	c.listen = addrs
	c.links = make([][]*proxy, n)
	for i := range n {
		c.dirs = append(c.dirs, t.TempDir())
		c.links[i] = make([]*proxy, n)
		var peers []adapter.Peer
		for j := range n {
			addr := c.listen[j]
			if proxied && i != j {
				c.links[i][j] = startProxy(t, c.listen[j])
				addr = c.links[i][j].addr()
			}
			peers = append(peers, adapter.Peer{ID: uint64(j + 1), Addr: addr})
		}
		c.peersOf = append(c.peersOf, peers)
	}
	c.nodes = make([]*dragonboat.Node, n)
	for i := range c.nodes {
		c.start(t, i)
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			nd.Stop(context.Background())
		}
	})
	return c
}

// start starts (or restarts) node i on its data dir.
func (c *inproc) start(t *testing.T, i int) {
	t.Helper()
	nd := dragonboat.New()
	cfg := adapter.Config{ID: uint64(i + 1), Listen: c.listen[i], Peers: c.peersOf[i], DataDir: c.dirs[i], Storage: adapter.StorageDisk, Options: c.opts}
	if err := nd.Start(context.Background(), cfg); err != nil {
		t.Fatalf("start node %d: %v", i+1, err)
	}
	c.nodes[i] = nd
}

// proxy forwards every TCP connection it accepts to target and counts them.
type proxy struct {
	ln       net.Listener
	target   string
	accepted atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
	wg       sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		p.wg.Go(func() { pipe(out, in) })
		p.wg.Go(func() { pipe(in, out) })
	}
}

// statuses returns the statuses of the nodes in live.
func (c *inproc) statuses(ctx context.Context, live []int) ([]adapter.Status, error) {
	var st []adapter.Status
	for _, i := range live {
		s, err := c.nodes[i].Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("status of node %d: %w", i+1, err)
		}
		st = append(st, s)
	}
	return st, nil
}

// ready waits until the nodes in live pass raftcmp's readiness check
// (cluster.Ready) and returns the leader's index.
func (c *inproc) ready(ctx context.Context, live []int) (int, error) {
	var leader int
	err := cluster.Poll(ctx, "a leader and its entries applied", func(ctx context.Context) (bool, string, error) {
		st, err := c.statuses(ctx, live)
		if err != nil {
			return false, err.Error(), nil
		}
		ok, why := cluster.Ready(st)
		leader = int(st[0].Leader) - 1
		return ok, why, nil
	})
	return leader, err
}

// converged waits until the nodes in live pass raftcmp's safety check
// (cluster.Converged) with want payloads applied.
func (c *inproc) converged(ctx context.Context, live []int, want uint64) ([]adapter.Status, error) {
	var st []adapter.Status
	err := cluster.Poll(ctx, "every node to apply the same log", func(ctx context.Context) (bool, string, error) {
		var err error
		if st, err = c.statuses(ctx, live); err != nil {
			return false, err.Error(), nil
		}
		if ok, why := cluster.Converged(st); !ok {
			return false, why, nil
		}
		for _, s := range st {
			if s.AppliedPayloads != want || s.Commit < s.Applied {
				return false, fmt.Sprintf("want %d payloads: %+v", want, st), nil
			}
		}
		return true, "", nil
	})
	return st, err
}

func proposeN(ctx context.Context, nd *dragonboat.Node, prefix string, n int) error {
	for i := range n {
		if _, err := nd.Propose(ctx, fmt.Appendf(nil, "%s-%d", prefix, i)); err != nil {
			return fmt.Errorf("proposal %s-%d: %w", prefix, i, err)
		}
	}
	return nil
}

// A follower stopped and started again on its data dir recovers its log
// (Start finds the bootstrap record and restarts without initial members),
// catches up with what was committed while it was down, and ends with the
// same digest as the others.
func TestRestartRecoversFromDataDir(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	goroutines := runtime.NumGoroutine()
	c := newInproc(t, 3, nil, false)
	all := []int{0, 1, 2}
	leader, err := c.ready(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	if err := proposeN(ctx, c.nodes[leader], "before", 50); err != nil {
		t.Fatal(err)
	}
	if _, err := c.converged(ctx, all, 50); err != nil {
		t.Fatal(err)
	}

	follower := (leader + 1) % 3
	if err := c.nodes[follower].Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.nodes[follower].Status(ctx); err == nil {
		t.Error("Status on a stopped node succeeded")
	}
	if _, err := c.nodes[follower].Propose(ctx, []byte("x")); err == nil {
		t.Error("Propose on a stopped node succeeded")
	}
	if err := proposeN(ctx, c.nodes[leader], "while-down", 50); err != nil {
		t.Fatal(err)
	}

	// Same address, same data dir: Stop must have released both.
	c.start(t, follower)
	st, err := c.converged(ctx, all, 100)
	if err != nil {
		t.Fatal(err)
	}
	if st[follower].Applied == 0 || st[follower].Leader == 0 {
		t.Errorf("restarted node status %+v", st[follower])
	}
	if err := proposeN(ctx, c.nodes[follower], "after", 10); err != nil {
		t.Fatalf("propose on the restarted follower: %v", err)
	}
	if _, err := c.converged(ctx, all, 110); err != nil {
		t.Fatal(err)
	}

	// Stop ends every goroutine the NodeHosts started (some exit just
	// after Close returns, hence the wait).
	for _, nd := range c.nodes {
		if err := nd.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	err = cluster.Poll(ctx, "dragonboat's goroutines to end", func(context.Context) (bool, string, error) {
		n := runtime.NumGoroutine()
		return n <= goroutines, fmt.Sprintf("%d goroutines, %d before the test", n, goroutines), nil
	})
	if err != nil {
		buf := make([]byte, 1<<20)
		t.Fatalf("%v\n%s", err, buf[:runtime.Stack(buf, true)])
	}
}

// Each node dials its peers through its own peer list (the contract),
// never by an address learnt from the membership or from messages: here
// every directed link goes through its own proxy, and a node's listen
// address appears in no other node's peer list.
func TestDialsPeersThroughOwnPeerList(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newInproc(t, 3, nil, true)
	all := []int{0, 1, 2}
	leader, err := c.ready(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	if err := proposeN(ctx, c.nodes[leader], "proxied", 20); err != nil {
		t.Fatal(err)
	}
	follower := (leader + 1) % 3
	if err := proposeN(ctx, c.nodes[follower], "forwarded", 5); err != nil {
		t.Fatal(err)
	}
	if _, err := c.converged(ctx, all, 25); err != nil {
		t.Fatal(err)
	}
	for i := range c.nodes {
		if i == leader {
			continue
		}
		for _, l := range [][2]int{{leader, i}, {i, leader}} {
			if n := c.links[l[0]][l[1]].accepted.Load(); n == 0 {
				t.Errorf("node %d reached node %d without its proxy", l[0]+1, l[1]+1)
			}
		}
	}
}

// After the leader stops, the survivors elect a new leader whose first
// entry is a no-op the state machine never sees. Status must still report it
// applied (through its ReadIndex barrier), or raftcmp's readiness and safety
// checks would wait forever.
func TestLeaderChangeWithoutProposalsConverges(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newInproc(t, 3, nil, false)
	leader, err := c.ready(ctx, []int{0, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := proposeN(ctx, c.nodes[leader], "x", 10); err != nil {
		t.Fatal(err)
	}
	before, err := c.converged(ctx, []int{0, 1, 2}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.nodes[leader].Stop(ctx); err != nil {
		t.Fatal(err)
	}
	var rest []int
	for i := range c.nodes {
		if i != leader {
			rest = append(rest, i)
		}
	}
	newLeader, err := c.ready(ctx, rest)
	if err != nil {
		t.Fatal(err)
	}
	// Readiness may pass before the new leader commits its no-op (its
	// commit index is the old one until then); wait for the commit.
	err = cluster.Poll(ctx, "the new leader's no-op to commit", func(ctx context.Context) (bool, string, error) {
		s, err := c.nodes[newLeader].Status(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		return s.Commit > before[0].Applied, fmt.Sprintf("%+v", s), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.converged(ctx, rest, 10)
	if err != nil {
		t.Fatal(err)
	}
	if st[0].Applied <= before[0].Applied || st[0].Term <= before[0].Term {
		t.Errorf("after the leader change %+v, before %+v: want the new leader's no-op counted as applied, in a later term", st, before)
	}
}

// Stop with a proposal in flight that cannot commit (its quorum is gone)
// makes the proposal return promptly with an error.
func TestStopEndsProposalsInFlight(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Without check_quorum the leader keeps leading alone, so proposals on
	// it wait instead of being dropped.
	c := newInproc(t, 3, adapter.Options{"check_quorum": "false"}, false)
	leader, err := c.ready(ctx, []int{0, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.nodes {
		if i != leader {
			if err := c.nodes[i].Stop(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Without a quorum a proposal waits until its deadline.
	pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = c.nodes[leader].Propose(pctx, []byte("no quorum"))
	pcancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("propose without a quorum: %v, want DeadlineExceeded", err)
	}

	const inFlight = 4
	submitting := make(chan struct{}, inFlight)
	errc := make(chan error, inFlight)
	for range inFlight {
		go func() {
			pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
			defer pcancel()
			submitting <- struct{}{}
			_, err := c.nodes[leader].Propose(pctx, []byte("never committed"))
			errc <- err
		}()
	}
	for range inFlight {
		<-submitting
	}
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	if err := c.nodes[leader].Stop(sctx); err != nil {
		t.Fatal(err)
	}
	for range inFlight {
		select {
		case err := <-errc:
			if err == nil {
				t.Fatal("propose without a quorum succeeded")
			}
		case <-sctx.Done():
			t.Fatal("propose still in flight after Stop returned")
		}
	}
}

// The conformance kit, through real plugin processes.
func TestConformance(t *testing.T) {
	adaptertest.Run(t, adaptertest.Config{Plugin: adaptertest.BuildBackend(t, "dragonboat")})
}

// tan, dragonboat's other LogDB, keeps the contract too.
func TestConformanceTan(t *testing.T) {
	adaptertest.Run(t, adaptertest.Config{
		Plugin:  adaptertest.BuildBackend(t, "dragonboat"),
		Options: adapter.Options{"logdb": "tan"},
		Only:    []string{"every-storage-mode", "restart-recovers", "stop-releases"},
	})
}
