package netrules

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// pair is two network namespaces joined by a veth: a at aAddr, b at bAddr
// (198.19.250.0/24, of the benchmarking range; the namespaces are the
// test's own, so the addresses are seen nowhere else).
type pair struct {
	a, b         netns.NsHandle
	aAddr, bAddr netip.Addr
}

// newPair makes the namespaces; t.Cleanup frees them (an unnamed
// namespace goes away with its last handle and socket).
func newPair(t *testing.T) *pair {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("netrules: needs root to create network namespaces; skipped")
	}
	p := &pair{aAddr: netip.MustParseAddr("198.19.250.1"), bAddr: netip.MustParseAddr("198.19.250.2")}
	var err error
	if p.a, err = scratchNamespace(); err != nil {
		t.Fatalf("namespace: %v", err)
	}
	t.Cleanup(func() { p.a.Close() })
	if p.b, err = scratchNamespace(); err != nil {
		t.Fatalf("namespace: %v", err)
	}
	t.Cleanup(func() { p.b.Close() })
	ha, err := netlink.NewHandleAt(p.a)
	if err != nil {
		t.Fatal(err)
	}
	defer ha.Close()
	hb, err := netlink.NewHandleAt(p.b)
	if err != nil {
		t.Fatal(err)
	}
	defer hb.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "v0"}, PeerName: "v1", PeerNamespace: netlink.NsFd(p.b)}
	if err := ha.LinkAdd(veth); err != nil {
		t.Fatalf("add veth: %v", err)
	}
	for _, s := range []struct {
		h    *netlink.Handle
		name string
		addr netip.Addr
	}{{ha, "v0", p.aAddr}, {hb, "v1", p.bAddr}} {
		l, err := s.h.LinkByName(s.name)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.h.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: s.addr.AsSlice(), Mask: net.CIDRMask(24, 32)}}); err != nil {
			t.Fatalf("address %s: %v", s.addr, err)
		}
		if err := s.h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
		lo, _ := s.h.LinkByName("lo")
		s.h.LinkSetUp(lo)
	}
	return p
}

// in runs f with the calling thread in ns: sockets f makes live there.
func in(t *testing.T, ns netns.NsHandle, f func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic(fmt.Sprintf("return to the test's namespace: %v", err))
		}
	}()
	f()
}

// listen listens on addr:port in ns and accepts until the test ends,
// handing each connection to serve.
func listen(t *testing.T, ns netns.NsHandle, addr netip.Addr, port uint16, serve func(net.Conn)) netip.AddrPort {
	t.Helper()
	ap := netip.AddrPortFrom(addr, port)
	var l net.Listener
	in(t, ns, func() {
		var err error
		if l, err = net.Listen("tcp", ap.String()); err != nil {
			t.Fatalf("listen %s: %v", ap, err)
		}
	})
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); serve(c) }()
		}
	}()
	return ap
}

// open opens h on ns and closes it when the test ends.
func open(t *testing.T, ns netns.NsHandle) *Host {
	t.Helper()
	h, err := Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// applied applies r on h and reverts it when the test ends (also on
// failure); after that, nothing of r may be left.
func applied(t *testing.T, h *Host, r Rules) {
	t.Helper()
	if err := h.Apply(r); err != nil {
		t.Fatalf("apply: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Revert(r); err != nil {
			t.Errorf("revert: %v", err)
		}
		assertGone(t, h, r)
	})
}

// assertGone fails unless no table of raftcmp's and no qdisc of r is left.
func assertGone(t *testing.T, h *Host, r Rules) {
	t.Helper()
	if names, err := h.Tables(); err != nil || len(names) != 0 {
		t.Errorf("tables left: %v (%v)", names, err)
	}
	links, err := h.nl.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		qs, _ := h.nl.QdiscList(l)
		for _, q := range qs {
			if maj, _ := netlink.MajorMinor(q.Attrs().Handle); maj == r.Handle() {
				t.Errorf("qdisc %s left on %s", netlink.HandleStr(q.Attrs().Handle), l.Attrs().Name)
			}
		}
	}
}
