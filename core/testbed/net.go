package testbed

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The testbed's addresses come from 198.18.0.0/15, the range RFC 2544 sets
// aside for benchmarking: one /24 per testbed, the bridge on .1, host i on
// .(i+1).
var benchRange = netip.MustParsePrefix("198.18.0.0/15")

// Links are made and configured with netlink (github.com/vishvananda/netlink)
// rather than by running ip(8): no command lines, typed errors.

// v4Prefixes are the IPv4 prefixes this machine's root network namespace
// uses: its addresses' subnets and its routes (but the default route), in
// every routing table.
func v4Prefixes() (map[int][]netip.Prefix, error) {
	used := map[int][]netip.Prefix{} // by link index (0: routes without one)
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if p, ok := toPrefix(a.IPNet); ok {
			used[a.LinkIndex] = append(used[a.LinkIndex], p)
		}
	}
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if p, ok := toPrefix(r.Dst); ok && p.Bits() > 0 {
			used[0] = append(used[0], p)
		}
	}
	return used, nil
}

func toPrefix(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones).Masked(), true
}

// subnets are benchRange's /24s, starting at a random one so that
// testbeds made one after the other spread out.
func subnets() []netip.Prefix {
	base := benchRange.Addr().As4()
	n := 1 << (24 - benchRange.Bits())
	start := 0
	if r, err := rand.Int(rand.Reader, big.NewInt(int64(n))); err == nil {
		start = int(r.Int64())
	}
	out := make([]netip.Prefix, 0, n)
	for i := range n {
		k := (start + i) % n
		a := base
		a[2] = byte(k & 0xff)
		a[1] += byte(k >> 8)
		out = append(out, netip.PrefixFrom(netip.AddrFrom4(a), 24))
	}
	return out
}

// hostAddr is the address of the bridge (i = 0) or of host i (1..).
func hostAddr(subnet netip.Prefix, i int) netip.Addr {
	a := subnet.Addr().As4()
	a[3] = byte(i + 1)
	return netip.AddrFrom4(a)
}

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, 32)}
}

// makeBridge creates the testbed's bridge and gives it .1 of a /24 of
// benchRange that nothing on this machine uses. Two testbeds made at the
// same time may pick the same /24: each checks after adding its address,
// and the bridge with the higher link index moves on.
func makeBridge(name string) (netip.Prefix, error) {
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := netlink.LinkAdd(br); err != nil {
		return netip.Prefix{}, fmt.Errorf("create bridge %s: %w", name, err)
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("find bridge %s: %w", name, err)
	}
	if err := disableIPv6(name); err != nil {
		return netip.Prefix{}, err
	}
	used, err := v4Prefixes()
	if err != nil {
		return netip.Prefix{}, err
	}
	for _, sub := range subnets() {
		if overlapsAny(sub, used, -1) {
			continue
		}
		addr := &netlink.Addr{IPNet: ipNet(hostAddr(sub, 0), 24)}
		if err := netlink.AddrAdd(link, addr); err != nil {
			return netip.Prefix{}, fmt.Errorf("address bridge %s: %w", name, err)
		}
		now, err := v4Prefixes()
		if err != nil {
			return netip.Prefix{}, err
		}
		if !overlapsLower(sub, now, link.Attrs().Index) {
			if err := netlink.LinkSetUp(link); err != nil {
				return netip.Prefix{}, fmt.Errorf("bring up bridge %s: %w", name, err)
			}
			return sub, nil
		}
		if err := netlink.AddrDel(link, addr); err != nil {
			return netip.Prefix{}, fmt.Errorf("release %s on bridge %s: %w", sub, name, err)
		}
		used = now
	}
	return netip.Prefix{}, fmt.Errorf("no free /24 in %s on this machine", benchRange)
}

// overlapsAny says whether sub overlaps a used prefix of a link other than
// skip.
func overlapsAny(sub netip.Prefix, used map[int][]netip.Prefix, skip int) bool {
	for idx, ps := range used {
		if idx == skip {
			continue
		}
		for _, p := range ps {
			if p.Overlaps(sub) {
				return true
			}
		}
	}
	return false
}

// overlapsLower says whether a link with a lower index than ours holds an
// address in sub (routes are not looked at: ours is among them now).
func overlapsLower(sub netip.Prefix, used map[int][]netip.Prefix, ours int) bool {
	for idx, ps := range used {
		if idx == 0 || idx >= ours {
			continue
		}
		for _, p := range ps {
			if p.Overlaps(sub) {
				return true
			}
		}
	}
	return false
}

// disableIPv6 keeps a link of the root namespace to the testbed's IPv4
// addresses. The sysctl is absent when the kernel has no IPv6.
func disableIPv6(link string) error {
	err := os.WriteFile("/proc/sys/net/ipv6/conf/"+link+"/disable_ipv6", []byte("1"), 0o644)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("disable IPv6 on %s: %w", link, err)
	}
	return nil
}

// plugHost connects the network namespace of pid to the bridge: a veth
// pair, the host end (named veth) on the bridge, the other end eth0 in the
// namespace with addr/24 and no other route; lo up.
func plugHost(bridge, veth string, pid int, addr netip.Addr, bits int) error {
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("find bridge %s: %w", bridge, err)
	}
	pair := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: veth, MasterIndex: br.Attrs().Index},
		PeerName:      "eth0",
		PeerNamespace: netlink.NsPid(pid),
	}
	if err := netlink.LinkAdd(pair); err != nil {
		return fmt.Errorf("create veth %s: %w", veth, err)
	}
	if err := disableIPv6(veth); err != nil {
		return err
	}
	outer, err := netlink.LinkByName(veth)
	if err != nil {
		return fmt.Errorf("find veth %s: %w", veth, err)
	}
	if err := netlink.LinkSetUp(outer); err != nil {
		return fmt.Errorf("bring up veth %s: %w", veth, err)
	}
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return fmt.Errorf("open network namespace of pid %d: %w", pid, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in namespace of pid %d: %w", pid, err)
	}
	defer h.Close()
	for _, name := range []string{"lo", "eth0"} {
		l, err := h.LinkByName(name)
		if err != nil {
			return fmt.Errorf("find %s in host namespace: %w", name, err)
		}
		if name == "eth0" {
			if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(addr, bits)}); err != nil {
				return fmt.Errorf("address eth0 of host: %w", err)
			}
		}
		if err := h.LinkSetUp(l); err != nil {
			return fmt.Errorf("bring up %s of host: %w", name, err)
		}
	}
	return nil
}

// deleteLink removes a link of the root namespace by name if it exists and
// is of the expected type ("bridge", "veth"); a missing link is no error.
func deleteLink(name, typ string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("find link %s: %w", name, err)
	}
	if l.Type() != typ {
		return fmt.Errorf("link %s is a %s, not the testbed's %s: left alone", name, l.Type(), typ)
	}
	if err := netlink.LinkDel(l); err != nil {
		// A veth goes with its peer's namespace, which the kernel tears
		// down asynchronously once the host's init has exited: it may
		// vanish between the look-up and the delete.
		if errors.Is(err, unix.ENODEV) {
			return nil
		}
		return fmt.Errorf("delete %s %s: %w", typ, name, err)
	}
	return nil
}

// linkExists says whether the root namespace has a link of this name.
func linkExists(name string) bool {
	_, err := netlink.LinkByName(name)
	return err == nil
}
