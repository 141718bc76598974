package netproxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// server is a stand-in for a Raft node: it listens on 127.0.0.1:0 and runs
// handle on every accepted connection.
type server struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startServer(t *testing.T, handle func(net.Conn)) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &server{ln: ln, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				handle(c)
				c.Close()
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *server) addr() string { return s.ln.Addr().String() }

// close stops the server and waits for its goroutines; idempotent.
func (s *server) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func echo(c net.Conn) { _, _ = io.Copy(c, c) }

// cluster is three stand-in nodes (IDs 1, 2, 3) behind a mesh.
type cluster struct {
	mesh    *Mesh
	servers map[uint64]*server
}

func newCluster(t *testing.T, handle func(net.Conn)) *cluster {
	t.Helper()
	cl := &cluster{servers: make(map[uint64]*server)}
	var nodes []Node
	for id := uint64(1); id <= 3; id++ {
		s := startServer(t, handle)
		cl.servers[id] = s
		nodes = append(nodes, Node{ID: id, Addr: s.addr()})
	}
	m, err := NewMesh(nodes)
	if err != nil {
		t.Fatalf("NewMesh: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	cl.mesh = m
	return cl
}

// dial opens a connection from node `from` to node `to` through the mesh.
func (cl *cluster) dial(t *testing.T, from, to uint64) net.Conn {
	t.Helper()
	addr := cl.mesh.PeerAddr(from, to)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %d->%d (%s): %v", from, to, addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange sends msg and waits for its echo until timeout.
func exchange(c net.Conn, msg []byte, timeout time.Duration) error {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := c.Write(msg); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return readEcho(c, msg, timeout)
}

func readEcho(c net.Conn, msg []byte, timeout time.Duration) error {
	if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo mismatch: sent %q, got %q", msg, got)
	}
	return nil
}

// medianRTT runs n small request/response exchanges on c.
func medianRTT(t *testing.T, c net.Conn, n int) time.Duration {
	t.Helper()
	rtts := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		msg := fmt.Appendf(nil, "ping-%08d", i)
		start := time.Now()
		if err := exchange(c, msg, 5*time.Second); err != nil {
			t.Fatalf("exchange %d: %v", i, err)
		}
		rtts = append(rtts, time.Since(start))
	}
	slices.Sort(rtts)
	return rtts[len(rtts)/2]
}

// expectStalled checks that msg written on c gets no answer within wait.
func expectStalled(t *testing.T, c net.Conn, msg []byte, wait time.Duration) {
	t.Helper()
	err := exchange(c, msg, wait)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("exchange %q on %s->%s: want timeout, got %v", msg, c.LocalAddr(), c.RemoteAddr(), err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNewMeshValidation(t *testing.T) {
	tests := []struct {
		name  string
		nodes []Node
		want  string
	}{
		{"no nodes", nil, "no nodes"},
		{"duplicate id", []Node{{1, "127.0.0.1:1"}, {1, "127.0.0.1:2"}}, "duplicate node id 1"},
		{"empty addr", []Node{{1, "127.0.0.1:1"}, {2, ""}}, "node 2 has no address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewMesh(tc.nodes)
			if err == nil {
				m.Close()
				t.Fatal("NewMesh succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestPeerAddr(t *testing.T) {
	cl := newCluster(t, echo)
	seen := map[string]bool{}
	for from := uint64(1); from <= 3; from++ {
		for to := uint64(1); to <= 3; to++ {
			addr := cl.mesh.PeerAddr(from, to)
			if from == to {
				if want := cl.servers[to].addr(); addr != want {
					t.Errorf("PeerAddr(%d,%d) = %q, want real address %q", from, to, addr, want)
				}
				continue
			}
			if !strings.HasPrefix(addr, "127.0.0.1:") || addr == cl.servers[to].addr() {
				t.Errorf("PeerAddr(%d,%d) = %q, want a proxy on 127.0.0.1", from, to, addr)
			}
			if seen[addr] {
				t.Errorf("PeerAddr(%d,%d) = %q reused", from, to, addr)
			}
			seen[addr] = true
			if err := exchange(cl.dial(t, from, to), []byte("hello"), 5*time.Second); err != nil {
				t.Errorf("exchange %d->%d: %v", from, to, err)
			}
		}
	}
	if len(seen) != 6 {
		t.Errorf("got %d proxies, want 6", len(seen))
	}
	if got := cl.mesh.PeerAddr(1, 9); got != "" {
		t.Errorf("PeerAddr(1, 9) = %q, want empty", got)
	}
}

func TestDelay(t *testing.T) {
	cl := newCluster(t, echo)
	m := cl.mesh
	links := []struct {
		from, to uint64
		affected bool
	}{
		{2, 1, true},
		{1, 2, true},
		{3, 1, true},
		{2, 3, false},
		{3, 2, false},
	}
	conns := make([]net.Conn, len(links))
	base := make([]time.Duration, len(links))
	for i, l := range links {
		conns[i] = cl.dial(t, l.from, l.to)
		base[i] = medianRTT(t, conns[i], 20)
	}

	const delay = 10 * time.Millisecond
	if err := m.Delay(1, delay, 0); err != nil {
		t.Fatalf("Delay: %v", err)
	}
	for i, l := range links {
		got := medianRTT(t, conns[i], 20)
		rise := got - base[i]
		t.Logf("link %d->%d: baseline %v, with Delay(1, %v) %v (+%v)", l.from, l.to, base[i], delay, got, rise)
		if l.affected && (rise < 7*time.Millisecond || rise > 20*time.Millisecond) {
			t.Errorf("link %d->%d: RTT rose by %v, want +7..+20ms", l.from, l.to, rise)
		}
		if !l.affected && rise > 3*time.Millisecond {
			t.Errorf("link %d->%d: RTT rose by %v, want unaffected", l.from, l.to, rise)
		}
	}

	// A new connection made while the delay is active is delayed too.
	if got := medianRTT(t, cl.dial(t, 2, 1), 10); got < 7*time.Millisecond {
		t.Errorf("new connection 2->1: RTT %v, want >= 7ms", got)
	}

	if err := m.Heal(1); err != nil {
		t.Fatalf("Heal: %v", err)
	}
	for i, l := range links {
		got := medianRTT(t, conns[i], 20)
		t.Logf("link %d->%d: after Heal %v", l.from, l.to, got)
		if got-base[i] > 3*time.Millisecond {
			t.Errorf("link %d->%d: RTT %v after Heal, baseline %v", l.from, l.to, got, base[i])
		}
	}
}

func TestPartition(t *testing.T) {
	cl := newCluster(t, echo)
	m := cl.mesh
	c21 := cl.dial(t, 2, 1)
	c12 := cl.dial(t, 1, 2)
	c23 := cl.dial(t, 2, 3)
	for _, c := range []net.Conn{c21, c12, c23} {
		if err := exchange(c, []byte("warm-up"), 5*time.Second); err != nil {
			t.Fatalf("warm-up: %v", err)
		}
	}

	if err := m.Partition(1); err != nil {
		t.Fatalf("Partition: %v", err)
	}
	const wait = 300 * time.Millisecond
	// Established connections in both directions get no answer.
	expectStalled(t, c21, []byte("stalled-21"), wait)
	expectStalled(t, c12, []byte("stalled-12"), wait)
	// Partitioning again changes nothing (and releases nothing).
	if err := m.Partition(1); err != nil {
		t.Fatalf("second Partition: %v", err)
	}
	expectStalled(t, c21, []byte("stalled-21b"), wait)
	// A new connection is accepted by the proxy but carries nothing.
	cNew := cl.dial(t, 2, 1)
	expectStalled(t, cNew, []byte("stalled-new"), wait)
	// Links between other nodes are untouched.
	if err := exchange(c23, []byte("still-23"), 5*time.Second); err != nil {
		t.Fatalf("2->3 during partition of 1: %v", err)
	}
	if err := exchange(cl.dial(t, 3, 2), []byte("still-32"), 5*time.Second); err != nil {
		t.Fatalf("3->2 during partition of 1: %v", err)
	}
	st, err := m.Stats(1)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if len(st.Toxics) != 8 {
		t.Errorf("Stats(1).Toxics has %d entries, want 8: %+v", len(st.Toxics), st.Toxics)
	}

	if err := m.Heal(1); err != nil {
		t.Fatalf("Heal: %v", err)
	}
	// The stalled streams resume intact: the queued requests are answered.
	for _, tc := range []struct {
		c   net.Conn
		msg string
	}{{c21, "stalled-21stalled-21b"}, {c12, "stalled-12"}, {cNew, "stalled-new"}} {
		if err := readEcho(tc.c, []byte(tc.msg), 5*time.Second); err != nil {
			t.Fatalf("after Heal, queued %q: %v", tc.msg, err)
		}
		if err := exchange(tc.c, []byte("after-heal"), 5*time.Second); err != nil {
			t.Fatalf("after Heal, exchange on %q's connection: %v", tc.msg, err)
		}
	}
	if err := exchange(cl.dial(t, 2, 1), []byte("fresh"), 5*time.Second); err != nil {
		t.Fatalf("new connection after Heal: %v", err)
	}
}

func TestHealOnlyRemovesTargetFaults(t *testing.T) {
	cl := newCluster(t, echo)
	m := cl.mesh
	if err := m.Partition(1); err != nil {
		t.Fatal(err)
	}
	if err := m.Partition(2); err != nil {
		t.Fatal(err)
	}
	if err := m.Heal(1); err != nil {
		t.Fatal(err)
	}
	const wait = 200 * time.Millisecond
	if err := exchange(cl.dial(t, 1, 3), []byte("13"), 5*time.Second); err != nil {
		t.Errorf("1->3 after Heal(1): %v", err)
	}
	expectStalled(t, cl.dial(t, 3, 2), []byte("32"), wait)
	expectStalled(t, cl.dial(t, 1, 2), []byte("12"), wait)
	st, err := m.Stats(1)
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range st.Toxics {
		if ti.Owner != 2 || ti.Fault != FaultPartition {
			t.Errorf("unexpected toxic on node 1's links: %+v", ti)
		}
		if ti.From != 2 && ti.To != 2 {
			t.Errorf("node 2's toxic on a link without node 2: %+v", ti)
		}
	}
	if len(st.Toxics) != 4 {
		t.Errorf("node 1's links carry %d toxics, want 4 (node 2's partition on 1->2 and 2->1)", len(st.Toxics))
	}
	if err := m.HealAll(); err != nil {
		t.Fatal(err)
	}
	for _, l := range [][2]uint64{{3, 2}, {1, 2}, {2, 1}} {
		if err := exchange(cl.dial(t, l[0], l[1]), []byte("ok"), 5*time.Second); err != nil {
			t.Errorf("%d->%d after HealAll: %v", l[0], l[1], err)
		}
	}
}

// transfer sends n bytes over c while reading their echo and returns the
// throughput in KB/s (1000 bytes).
func transfer(t *testing.T, c net.Conn, n int) float64 {
	t.Helper()
	payload := bytes.Repeat([]byte("0123456789abcdef"), n/16)
	if err := c.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		werr <- err
	}()
	got := make([]byte, len(payload))
	_, rerr := io.ReadFull(c, got)
	elapsed := time.Since(start)
	if err := <-werr; err != nil {
		t.Fatalf("write: %v", err)
	}
	if rerr != nil {
		t.Fatalf("read: %v", rerr)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("echoed payload differs")
	}
	return float64(len(payload)) / 1000 / elapsed.Seconds()
}

func TestBandwidth(t *testing.T) {
	cl := newCluster(t, echo)
	const rate = 200 // KB/s
	const size = 300_000
	c21 := cl.dial(t, 2, 1)
	c23 := cl.dial(t, 2, 3)
	if err := cl.mesh.Bandwidth(1, rate); err != nil {
		t.Fatalf("Bandwidth: %v", err)
	}
	limited := transfer(t, c21, size)
	other := transfer(t, c23, size)
	t.Logf("Bandwidth(1, %d KB/s): 2->1 %.0f KB/s, 2->3 %.0f KB/s", rate, limited, other)
	if limited < 0.5*rate || limited > 1.3*rate {
		t.Errorf("2->1 throughput %.0f KB/s, want about %d KB/s", limited, rate)
	}
	if other < 4*rate {
		t.Errorf("2->3 throughput %.0f KB/s, want unlimited (> %d KB/s)", other, 4*rate)
	}
	if err := cl.mesh.Heal(1); err != nil {
		t.Fatalf("Heal: %v", err)
	}
	healed := transfer(t, c21, size)
	t.Logf("after Heal: 2->1 %.0f KB/s", healed)
	if healed < 4*rate {
		t.Errorf("2->1 throughput after Heal %.0f KB/s, want unlimited", healed)
	}
}

func TestLoss(t *testing.T) {
	cl := newCluster(t, echo)
	c21 := cl.dial(t, 2, 1)
	base := medianRTT(t, c21, 10)
	const fraction = 0.1
	const exchanges = 5
	if err := cl.mesh.Loss(1, fraction); err != nil {
		t.Fatalf("Loss: %v", err)
	}
	// 8 segments each way: an exchange escapes loss with probability at
	// most 0.9^16 = 0.185, so all of them do with probability < 0.03%.
	msg := bytes.Repeat([]byte("L"), 8*LossSegmentBytes)
	var slow int
	var rtts []time.Duration
	for i := 0; i < exchanges; i++ {
		copy(msg, fmt.Sprintf("loss-%04d", i))
		start := time.Now()
		if err := exchange(c21, msg, 30*time.Second); err != nil {
			t.Fatalf("exchange %d under loss: %v", i, err) // data must arrive intact
		}
		rtt := time.Since(start)
		rtts = append(rtts, rtt.Round(time.Millisecond))
		if rtt >= LossInitialRTO-10*time.Millisecond {
			slow++
		}
	}
	t.Logf("Loss(1, %v): baseline %v, exchange RTTs %v", fraction, base, rtts)
	if slow == 0 {
		t.Errorf("no exchange was held for a retransmission timeout")
	}
	if err := cl.mesh.Heal(1); err != nil {
		t.Fatalf("Heal: %v", err)
	}
	if got := medianRTT(t, c21, 10); got-base > 3*time.Millisecond {
		t.Errorf("RTT after Heal %v, baseline %v", got, base)
	}
}

func TestLossHold(t *testing.T) {
	const rto = LossInitialRTO
	seq := func(vals ...float64) func() float64 {
		return func() float64 {
			v := vals[0]
			if len(vals) > 1 {
				vals = vals[1:]
			}
			return v
		}
	}
	tests := []struct {
		name      string
		fraction  float64
		n         int
		rnd       func() float64
		wantHold  time.Duration
		wantAbort bool
	}{
		{"no loss", 0, 100, seq(0), 0, false},
		{"segment delivered", 0.5, 100, seq(0.9), 0, false},
		{"first transmission lost", 0.5, 100, seq(0.1, 0.9), rto, false},
		{"one retransmission lost", 0.5, 100, seq(0.1, 0.1, 0.9), rto + 2*rto, false},
		{"third segment lost", 0.5, 3 * LossSegmentBytes, seq(0.9, 0.9, 0.1, 0.9), rto, false},
		{"retransmissions exhausted", 1, 1, seq(0), 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hold, abort := lossHold(tc.fraction, tc.n, tc.rnd)
			if abort != tc.wantAbort || (!tc.wantAbort && hold != tc.wantHold) {
				t.Fatalf("lossHold = %v, %v; want %v, %v", hold, abort, tc.wantHold, tc.wantAbort)
			}
			if abort && (hold < 10*time.Minute || hold > 20*time.Minute) {
				t.Fatalf("abort after %v, want about 13 minutes", hold)
			}
		})
	}
}

func TestStats(t *testing.T) {
	const reqSize, ackSize = 1000, 10
	// Asymmetric stand-in: every reqSize bytes received are acknowledged
	// with ackSize bytes.
	ack := func(c net.Conn) {
		buf := make([]byte, reqSize)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			if _, err := c.Write(bytes.Repeat([]byte{'a'}, ackSize)); err != nil {
				return
			}
		}
	}
	cl := newCluster(t, ack)
	m := cl.mesh
	send := func(from, to uint64, requests int) {
		c := cl.dial(t, from, to)
		for i := 0; i < requests; i++ {
			if _, err := c.Write(bytes.Repeat([]byte{'r'}, reqSize)); err != nil {
				t.Fatal(err)
			}
			if err := readEcho(c, bytes.Repeat([]byte{'a'}, ackSize), 5*time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(2, 1, 3) // node 2 sends 3000 bytes to node 1, node 1 answers 30
	send(1, 3, 2) // node 1 sends 2000 bytes to node 3, node 3 answers 20

	if err := m.Delay(1, 10*time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		node     uint64
		sent     uint64
		received uint64
		peers    map[uint64]ByteCount
		toxics   int
	}{
		{1, 30 + 2000, 3000 + 20, map[uint64]ByteCount{2: {Sent: 30, Received: 3000}, 3: {Sent: 2000, Received: 20}}, 8},
		{2, 3000, 30, map[uint64]ByteCount{1: {Sent: 3000, Received: 30}, 3: {}}, 4},
		{3, 20, 2000, map[uint64]ByteCount{1: {Sent: 20, Received: 2000}, 2: {}}, 4},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("node%d", tc.node), func(t *testing.T) {
			st, err := m.Stats(tc.node)
			if err != nil {
				t.Fatal(err)
			}
			if st.Sent != tc.sent || st.Received != tc.received {
				t.Errorf("Stats(%d) sent/received = %d/%d, want %d/%d", tc.node, st.Sent, st.Received, tc.sent, tc.received)
			}
			for k, want := range tc.peers {
				if got := st.Peers[k]; got != want {
					t.Errorf("Stats(%d).Peers[%d] = %+v, want %+v", tc.node, k, got, want)
				}
			}
			if len(st.Toxics) != tc.toxics {
				t.Errorf("Stats(%d) lists %d toxics, want %d: %+v", tc.node, len(st.Toxics), tc.toxics, st.Toxics)
			}
			for _, ti := range st.Toxics {
				if ti.Owner != 1 || ti.Fault != FaultDelay ||
					ti.Attributes != `{"jitter_ns":0,"latency_ns":5000000}` || (ti.From != 1 && ti.To != 1) {
					t.Errorf("unexpected toxic %+v", ti)
				}
			}
		})
	}
	if err := m.Heal(1); err != nil {
		t.Fatal(err)
	}
	if st, _ := m.Stats(1); len(st.Toxics) != 0 {
		t.Errorf("toxics left after Heal: %+v", st.Toxics)
	}
	if _, err := m.Stats(7); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("Stats(7) error = %v, want ErrUnknownNode", err)
	}
}

func TestFaultValidation(t *testing.T) {
	cl := newCluster(t, echo)
	m := cl.mesh
	tests := []struct {
		name    string
		call    func() error
		wantErr error // nil: any error
	}{
		{"negative latency", func() error { return m.Delay(1, -time.Millisecond, 0) }, nil},
		{"negative jitter", func() error { return m.Delay(1, time.Millisecond, -1) }, nil},
		{"loss above 1", func() error { return m.Loss(1, 1.5) }, nil},
		{"loss NaN", func() error { return m.Loss(1, math.NaN()) }, nil},
		{"negative bandwidth", func() error { return m.Bandwidth(1, -1) }, nil},
		{"delay unknown node", func() error { return m.Delay(9, time.Millisecond, 0) }, ErrUnknownNode},
		{"partition unknown node", func() error { return m.Partition(9) }, ErrUnknownNode},
		{"heal unknown node", func() error { return m.Heal(9) }, ErrUnknownNode},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
		})
	}
	// Zero values remove a fault and are valid even when none is set.
	for _, err := range []error{m.Delay(1, 0, 0), m.Loss(1, 0), m.Bandwidth(1, 0), m.Heal(1), m.HealAll()} {
		if err != nil {
			t.Errorf("removing an absent fault: %v", err)
		}
	}
}

func TestCloseReleasesPortsAndGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	var servers []*server
	var nodes []Node
	for id := uint64(1); id <= 3; id++ {
		s := startServer(t, echo)
		servers = append(servers, s)
		nodes = append(nodes, Node{ID: id, Addr: s.addr()})
	}
	m, err := NewMesh(nodes)
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	var conns []net.Conn
	for from := uint64(1); from <= 3; from++ {
		for to := uint64(1); to <= 3; to++ {
			if from == to {
				continue
			}
			addr := m.PeerAddr(from, to)
			addrs = append(addrs, addr)
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			if err := exchange(c, []byte("hi"), 5*time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Leave data in flight in every kind of toxic.
	if err := m.Delay(1, 40*time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Partition(2); err != nil {
		t.Fatal(err)
	}
	if err := m.Loss(3, 0.9); err != nil {
		t.Fatal(err)
	}
	if err := m.Bandwidth(1, 1); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		if _, err := c.Write(bytes.Repeat([]byte("x"), 4096)); err != nil {
			t.Fatal(err)
		}
	}

	closed := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		m.Close()
		closed <- time.Since(start)
	}()
	select {
	case d := <-closed:
		t.Logf("Close took %v", d)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10s")
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := m.Partition(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Partition after Close: %v, want ErrClosed", err)
	}
	for _, addr := range addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("port of closed proxy %s not released: %v", addr, err)
			continue
		}
		ln.Close()
	}

	for _, c := range conns {
		c.Close()
	}
	for _, s := range servers {
		s.close()
	}
	if !waitFor(5*time.Second, func() bool { return runtime.NumGoroutine() <= before }) {
		pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
		t.Fatalf("%d goroutines left, %d before the mesh", runtime.NumGoroutine(), before)
	}
}

// TestFaultChurnKeepsStreamsIntact changes faults on node 1 while data
// streams through its links and checks that every byte arrives once, in
// order.
func TestFaultChurnKeepsStreamsIntact(t *testing.T) {
	cl := newCluster(t, echo)
	m := cl.mesh
	const total = 4 << 20
	payload := make([]byte, total)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	type result struct {
		from, to uint64
		err      error
	}
	results := make(chan result, 2)
	for _, l := range [][2]uint64{{2, 1}, {1, 3}} {
		c := cl.dial(t, l[0], l[1])
		if err := c.SetDeadline(time.Now().Add(25 * time.Second)); err != nil {
			t.Fatal(err)
		}
		go func() {
			for off := 0; off < total; off += 4096 {
				if _, err := c.Write(payload[off : off+4096]); err != nil {
					return // the reader reports the failure
				}
			}
		}()
		go func() {
			got := make([]byte, total)
			_, err := io.ReadFull(c, got)
			if err == nil && !bytes.Equal(got, payload) {
				err = errors.New("stream corrupted")
			}
			results <- result{l[0], l[1], err}
		}()
	}
	steps := []func() error{
		func() error { return m.Delay(1, 4*time.Millisecond, 2*time.Millisecond) },
		func() error { return m.Bandwidth(1, 2000) },
		func() error { return m.Partition(1) },
		func() error { return m.Partition(3) }, // two partitions on 1<->3
		func() error { return m.Delay(1, 2*time.Millisecond, 0) },
		func() error { return m.Partition(1) },
		func() error { return m.Heal(1) },
		func() error { return m.Loss(1, 0.001) },
		func() error { return m.Heal(3) },
		func() error { return m.Partition(3) },
		func() error { return m.Bandwidth(1, 0) },
		func() error { return m.HealAll() },
	}
	progress := func() uint64 {
		st, err := m.Stats(1)
		if err != nil {
			t.Fatal(err)
		}
		return st.Sent + st.Received
	}
	for round := 0; round < 3; round++ {
		for i, step := range steps {
			if err := step(); err != nil {
				t.Fatalf("round %d step %d: %v", round, i, err)
			}
			// Let some data move under this fault (partitioned streams
			// still count what the proxy reads), but never wait long.
			from := progress()
			waitFor(100*time.Millisecond, func() bool { return progress() >= from+64<<10 })
		}
	}
	for i := 0; i < 2; i++ {
		r := <-results
		if r.err != nil {
			t.Errorf("stream %d->%d: %v", r.from, r.to, r.err)
		}
	}
	st, err := m.Stats(1)
	if err != nil {
		t.Fatal(err)
	}
	want := ByteCount{Sent: 2 * total, Received: 2 * total}
	if got := (ByteCount{Sent: st.Sent, Received: st.Received}); got != want {
		t.Errorf("Stats(1) = %+v, want %+v", got, want)
	}
}

// TestEndpointResetLeavesNoGoroutines resets connections at the destination
// while a delay holds data for them (a node crashing mid-transfer), changes
// faults afterwards, and checks that Close leaves no goroutine behind.
func TestEndpointResetLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	reset := func(c net.Conn) {
		buf := make([]byte, 1000)
		_, _ = c.Read(buf)
		_ = c.(*net.TCPConn).SetLinger(0) // Close sends RST
	}
	var servers []*server
	var nodes []Node
	for id := uint64(1); id <= 3; id++ {
		s := startServer(t, reset)
		servers = append(servers, s)
		nodes = append(nodes, Node{ID: id, Addr: s.addr()})
	}
	m, err := NewMesh(nodes)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Delay(1, 50*time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	writersDone := make(chan struct{}, 5)
	var conns []net.Conn
	for i := 0; i < 5; i++ {
		c, err := net.DialTimeout("tcp", m.PeerAddr(2, 1), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		go func() {
			defer func() { writersDone <- struct{}{} }()
			buf := make([]byte, 64<<10)
			for {
				if _, err := c.Write(buf); err != nil {
					return // the proxy closed us after node 1 reset
				}
			}
		}()
	}
	for range conns {
		select {
		case <-writersDone:
		case <-time.After(15 * time.Second):
			t.Fatal("writers were not cut off after the destination reset")
		}
	}
	changed := make(chan error, 1)
	go func() {
		changed <- errors.Join(m.Heal(1), m.Delay(1, 5*time.Millisecond, 0), m.Bandwidth(1, 100), m.HealAll())
	}()
	select {
	case err := <-changed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
		t.Fatal("fault changes hung after destinations reset")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		c.Close()
	}
	for _, s := range servers {
		s.close()
	}
	if !waitFor(5*time.Second, func() bool { return runtime.NumGoroutine() <= before }) {
		pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
		t.Fatalf("%d goroutines left, %d before the mesh", runtime.NumGoroutine(), before)
	}
}

// TestDeadNode checks that a connection to a node that is down is closed by
// its proxy, as a refused connection would be.
func TestDeadNode(t *testing.T) {
	cl := newCluster(t, echo)
	cl.servers[3].close()
	c := cl.dial(t, 2, 3) // the proxy itself accepts
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("read from a connection to a dead node: %v, want EOF or reset", err)
	}
	if err := exchange(cl.dial(t, 2, 1), []byte("alive"), 5*time.Second); err != nil {
		t.Fatalf("2->1 with node 3 down: %v", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
