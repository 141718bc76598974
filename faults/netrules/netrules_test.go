package netrules

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// testName is a table name of raftcmp's for one test.
func testName(t *testing.T) string {
	b := make([]byte, 4)
	rand.Read(b)
	return Prefix + "test-" + hex.EncodeToString(b)
}

func echo(c net.Conn) { io.Copy(c, c) }

// counter is a sink that counts what it is given as it comes.
type counter struct{ n *atomic.Int64 }

func (c counter) Write(b []byte) (int, error) { c.n.Add(int64(len(b))); return len(b), nil }

// dial connects from ns to addr, or returns the error (1 s deadline).
func dial(t *testing.T, ns netns.NsHandle, addr netip.AddrPort) (net.Conn, error) {
	t.Helper()
	var c net.Conn
	var err error
	in(t, ns, func() { c, err = net.DialTimeout("tcp", addr.String(), time.Second) })
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// exchange writes a line to an echoing c and reads it back within d.
func exchange(c net.Conn, d time.Duration) error {
	c.SetDeadline(time.Now().Add(d))
	if _, err := c.Write([]byte("ping")); err != nil {
		return err
	}
	b := make([]byte, 4)
	_, err := io.ReadFull(c, b)
	return err
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func counters(t *testing.T, h *Host, r Rules) LinkCounters {
	t.Helper()
	c, err := h.Counters(r)
	if err != nil {
		t.Fatal(err)
	}
	return c.Links[0]
}

func TestPartitionStopsTheLinkOnly(t *testing.T) {
	p := newPair(t)
	aNode := listen(t, p.a, p.aAddr, 7001, echo)
	bNode := listen(t, p.b, p.bAddr, 7002, echo)
	bSSH := listen(t, p.b, p.bAddr, 2222, echo) // stands in for SSH on the same address
	h := open(t, p.a)
	r := Rules{Name: testName(t), Links: []Link{{Local: aNode, Peer: bNode}}, Drop: 1}

	before, err := dial(t, p.a, bNode)
	if err != nil {
		t.Fatalf("dial before the partition: %v", err)
	}
	if err := exchange(before, 5*time.Second); err != nil {
		t.Fatalf("exchange before the partition: %v", err)
	}
	applied(t, h, r)

	if err := exchange(before, time.Second); err == nil {
		t.Error("an established connection to the peer still exchanges under the partition")
	}
	if _, err := dial(t, p.a, bNode); err == nil {
		t.Error("the node reaches the peer's Raft port under the partition")
	}
	if _, err := dial(t, p.b, aNode); err == nil {
		t.Error("the peer reaches the node's Raft port under the partition")
	}
	ssh, err := dial(t, p.a, bSSH)
	if err != nil {
		t.Fatalf("the control port is cut too: %v", err)
	}
	if err := exchange(ssh, 5*time.Second); err != nil {
		t.Fatalf("the control connection does not exchange under the partition: %v", err)
	}
	c := counters(t, h, r)
	if c.Sent.DroppedPackets == 0 || c.Recv.DroppedPackets == 0 {
		t.Errorf("counters show no drops both ways: %+v", c)
	}
	if c.Sent.Packets < c.Sent.DroppedPackets {
		t.Errorf("sent packets %d < dropped %d", c.Sent.Packets, c.Sent.DroppedPackets)
	}

	if err := h.Revert(r); err != nil {
		t.Fatalf("revert: %v", err)
	}
	assertGone(t, h, r)
	after, err := dial(t, p.a, bNode)
	if err != nil {
		t.Fatalf("dial after revert: %v", err)
	}
	if err := exchange(after, 5*time.Second); err != nil {
		t.Fatalf("exchange after revert: %v", err)
	}
	if _, err := dial(t, p.b, aNode); err != nil {
		t.Fatalf("the peer does not reach the node after revert: %v", err)
	}
}

func TestLossDropsSomeAndCountsThem(t *testing.T) {
	p := newPair(t)
	var got atomic.Int64
	bNode := listen(t, p.b, p.bAddr, 7002, func(c net.Conn) { io.Copy(counter{&got}, c) })
	h := open(t, p.a)
	r := Rules{Name: testName(t), Links: []Link{{Local: netip.AddrPortFrom(p.aAddr, 7001), Peer: bNode}}, Drop: 0.1}
	applied(t, h, r)
	var c net.Conn
	waitFor(t, "connect through 10% loss", 30*time.Second, func() bool {
		var err error
		c, err = dial(t, p.a, bNode)
		return err == nil
	})
	// Small writes, so that the output hook sees many packets (a large
	// write leaves as a few GSO segments of 64 KiB).
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer c.Close()
		b := make([]byte, 1024)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := c.Write(b); err != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	waitFor(t, "drops counted on the link", 60*time.Second, func() bool {
		lc := counters(t, h, r)
		return lc.Sent.DroppedPackets > 0 && got.Load() > 0
	})
	lc := counters(t, h, r)
	if lc.Sent.Packets <= lc.Sent.DroppedPackets || lc.Sent.Bytes <= lc.Sent.DroppedBytes {
		t.Errorf("counters do not add up: %+v", lc)
	}
}

func TestBandwidthLimitsTheLinkThroughItsClass(t *testing.T) {
	p := newPair(t)
	var got atomic.Int64
	sink := func(c net.Conn) { io.Copy(counter{&got}, c) }
	bNode := listen(t, p.b, p.bAddr, 7002, sink)
	bSSH := listen(t, p.b, p.bAddr, 2222, sink)
	h := open(t, p.a)
	r := Rules{Name: testName(t), Links: []Link{{Local: netip.AddrPortFrom(p.aAddr, 7001), Peer: bNode}}, Rate: 256 << 10}
	applied(t, h, r)

	send := func(to netip.AddrPort, n int) {
		t.Helper()
		c, err := dial(t, p.a, to)
		if err != nil {
			t.Fatal(err)
		}
		start := got.Load()
		go func() { c.Write(make([]byte, n)); c.Close() }()
		waitFor(t, "the peer receives everything", 60*time.Second, func() bool { return got.Load() == start+int64(n) })
	}
	const total = 1 << 20
	send(bNode, total)
	lc := counters(t, h, r)
	if lc.Shaped == nil || lc.Shaped.Bytes < total {
		t.Fatalf("the link's class did not carry the %d bytes: %+v", total, lc.Shaped)
	}
	if lc.Shaped.Overlimits == 0 {
		t.Errorf("the class never held packets back (no overlimits): %+v", lc.Shaped)
	}
	shaped := lc.Shaped.Bytes
	send(bSSH, total) // the control port is not classified
	if lc = counters(t, h, r); lc.Shaped.Bytes-shaped >= total {
		t.Errorf("traffic to another port went through the link's class: %d bytes", lc.Shaped.Bytes-shaped)
	}
}

func TestDelay(t *testing.T) {
	p := newPair(t)
	h := open(t, p.a)
	r := Rules{Name: testName(t), Links: []Link{{Local: netip.AddrPortFrom(p.aAddr, 7001), Peer: netip.AddrPortFrom(p.bAddr, 7002)}}, Delay: 10 * time.Millisecond}
	if reason := Check().Netem; reason != "" {
		err := h.Apply(r)
		if !errors.Is(err, ErrNoNetem) {
			t.Fatalf("apply without netem: got %v, want %v", err, ErrNoNetem)
		}
		assertGone(t, h, r)
		return
	}
	applied(t, h, r)
	v0, err := h.nl.LinkByName("v0")
	if err != nil {
		t.Fatal(err)
	}
	qs, _ := h.nl.QdiscList(v0)
	found := false
	for _, q := range qs {
		if n, ok := q.(*netlink.Netem); ok && n.Latency > 0 {
			found = true
		}
	}
	if !found {
		t.Errorf("no netem qdisc on v0: %v", qs)
	}
}

func TestCleanupRemovesEveryTableOfRaftcmp(t *testing.T) {
	p := newPair(t)
	h := open(t, p.a)
	link := []Link{{Local: netip.AddrPortFrom(p.aAddr, 7001), Peer: netip.AddrPortFrom(p.bAddr, 7002)}}
	r1 := Rules{Name: testName(t), Links: link, Drop: 1}
	r2 := Rules{Name: testName(t), Links: link, Rate: 1 << 20}
	for _, r := range []Rules{r1, r2} {
		if err := h.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Apply(r1); err == nil {
		t.Error("applying the same rules twice succeeded")
	}
	names, err := h.Cleanup()
	if err != nil || len(names) != 2 {
		t.Fatalf("cleanup: %v, %v", names, err)
	}
	assertGone(t, h, r1)
	assertGone(t, h, r2)
}

func TestCheckFindsNFTablesAndHTB(t *testing.T) {
	newPair(t) // skips unless root
	c := Check()
	if c.NFTables != "" || c.HTB != "" {
		t.Fatalf("this kernel has nf_tables and htb, Check says %+v", c)
	}
	if c.Need(true, false, false) != "" {
		t.Errorf("a partition needs only nftables: %q", c.Need(true, false, false))
	}
	if c.Netem != "" && c.Need(false, false, true) != c.Netem {
		t.Errorf("a delay without netem: got %q", c.Need(false, false, true))
	}
}

func TestValidate(t *testing.T) {
	l := []Link{{Local: netip.MustParseAddrPort("198.18.0.2:7001"), Peer: netip.MustParseAddrPort("198.18.0.3:7002")}}
	for _, tc := range []struct {
		r    Rules
		want string // "" = valid
	}{
		{Rules{Name: "raftcmp-r1", Links: l, Drop: 1}, ""},
		{Rules{Name: "raftcmp-r1", Links: l, Delay: time.Millisecond, Jitter: time.Millisecond}, ""},
		{Rules{Name: "other-r1", Links: l}, "name"},
		{Rules{Name: "raftcmp-", Links: l}, "name"},
		{Rules{Name: "raftcmp-r1"}, "links"},
		{Rules{Name: "raftcmp-r1", Links: l, Drop: 1.5}, "drop"},
		{Rules{Name: "raftcmp-r1", Links: l, Jitter: time.Millisecond}, "jitter"},
		{Rules{Name: "raftcmp-r1", Links: l, Rate: 1, Delay: 1}, "rate and delay"},
		{Rules{Name: "raftcmp-r1", Links: []Link{{Local: netip.MustParseAddrPort("[::1]:1"), Peer: l[0].Peer}}}, "IPv4"},
	} {
		err := tc.r.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: got %v, want %q", tc.r, err, tc.want)
		}
	}
}

func TestRuleConstruction(t *testing.T) {
	l := Link{Local: netip.MustParseAddrPort("198.18.0.2:7001"), Peer: netip.MustParseAddrPort("198.18.0.3:7002")}
	for _, tc := range []struct {
		name       string
		drop       float64
		rules      int  // per link: 4 counting + 4 dropping with a drop
		numgen     bool // a random pick
		threshold  uint32
		dropRules  int
		countRules int
	}{
		{"count only", 0, 4, false, 0, 0, 4},
		{"partition", 1, 8, false, 0, 4, 4},
		{"loss", 0.25, 8, true, 250_000, 4, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Rules{Name: "raftcmp-x", Links: []Link{l}, Drop: tc.drop}
			rs := r.nftRules(chains(r.table()))
			if len(rs) != tc.rules {
				t.Fatalf("%d rules, want %d", len(rs), tc.rules)
			}
			var drops, counts int
			for _, rule := range rs {
				tg, ok := parseTag(rule.UserData)
				if !ok {
					t.Fatalf("rule without our tag: %q", rule.UserData)
				}
				if tg.drop {
					drops++
				} else {
					counts++
				}
				var hasNumgen, hasDrop bool
				for _, e := range rule.Exprs {
					switch e := e.(type) {
					case *expr.Numgen:
						hasNumgen = true
					case *expr.Verdict:
						hasDrop = e.Kind == expr.VerdictDrop
					case *expr.Cmp:
						if e.Op == expr.CmpOpLt {
							got := uint32(e.Data[0])<<24 | uint32(e.Data[1])<<16 | uint32(e.Data[2])<<8 | uint32(e.Data[3])
							if got != tc.threshold {
								t.Errorf("threshold %d, want %d", got, tc.threshold)
							}
						}
					}
				}
				if hasDrop != tg.drop || hasNumgen != (tg.drop && tc.numgen) {
					t.Errorf("rule %s: drop %v numgen %v", rule.UserData, hasDrop, hasNumgen)
				}
			}
			if drops != tc.dropRules || counts != tc.countRules {
				t.Errorf("%d drop and %d counting rules, want %d and %d", drops, counts, tc.dropRules, tc.countRules)
			}
		})
	}
}

func TestQdiscConstruction(t *testing.T) {
	links := []Link{
		{Local: netip.MustParseAddrPort("198.18.0.2:7001"), Peer: netip.MustParseAddrPort("198.18.0.3:7002")},
		{Local: netip.MustParseAddrPort("198.18.0.2:7001"), Peer: netip.MustParseAddrPort("198.18.0.4:7003")},
	}
	r := Rules{Name: "raftcmp-x", Links: links, Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond}
	q := r.buildQdiscs(7, []int{0, 1})
	major := r.Handle()
	if q.root.Handle != netlink.MakeHandle(major, 0) || q.root.Parent != netlink.HANDLE_ROOT || q.root.Defcls != 0 {
		t.Errorf("root %+v: want htb %x:0 at the root, unclassified traffic direct", q.root.QdiscAttrs, major)
	}
	if len(q.classes) != 2 || len(q.leaves) != 2 || len(q.filters) != 4 {
		t.Fatalf("%d classes, %d netem leaves, %d filters; want 2, 2, 4", len(q.classes), len(q.leaves), len(q.filters))
	}
	want := netlink.NewNetem(netlink.QdiscAttrs{}, netlink.NetemQdiscAttrs{Latency: 20000, Jitter: 5000}) // in kernel ticks
	for i, n := range q.leaves {
		if n.Latency != want.Latency || n.Jitter != want.Jitter || n.Parent != classID(major, i) {
			t.Errorf("netem %d: %+v", i, n)
		}
	}
	f := q.filters[0]
	if f.ClassId != classID(major, 0) || f.Sel.Nkeys != 4 {
		t.Errorf("filter 0: class %x, %d keys", f.ClassId, f.Sel.Nkeys)
	}
	// 198.18.0.3 and port 7002 to the peer's listener.
	if k := f.Sel.Keys[2]; k.Off != 16 || k.Val != 0xc6120003 {
		t.Errorf("destination key %+v", k)
	}
	if k := f.Sel.Keys[3]; k.Off != 20 || k.Mask != 0xffff || k.Val != 7002 {
		t.Errorf("port key %+v", k)
	}
	bw := Rules{Name: "raftcmp-x", Links: links[:1], Rate: 1 << 20}.buildQdiscs(7, []int{0})
	if len(bw.leaves) != 0 || bw.classes[0].Rate != 1<<20 {
		t.Errorf("bandwidth class rate %d (bytes/s), leaves %d", bw.classes[0].Rate, len(bw.leaves))
	}
}
