package netrules

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// ErrNoNetem says the kernel cannot add a netem qdisc (no sch_netem).
var ErrNoNetem = errors.New("the kernel has no netem qdisc (sch_netem, CONFIG_NET_SCH_NETEM): net-delay cannot run there")

// delayClassRate is the htb rate of a class that only delays: far above
// any link, so that only netem holds packets back (bits per second).
const delayClassRate = 100_000_000_000

// qdiscs is what r installs on one interface: the htb root, a class per
// link routed through it (with a netem leaf for a delay) and the u32
// filters that put the link's packets in its class.
type qdiscs struct {
	root    *netlink.Htb
	classes []*netlink.HtbClass
	leaves  []*netlink.Netem
	filters []*netlink.U32
}

// classID is link i's htb class under major.
func classID(major uint16, i int) uint32 { return netlink.MakeHandle(major, uint16(i+1)) }

// buildQdiscs builds r's qdiscs on interface index ifindex for the links
// whose indexes are given.
func (r Rules) buildQdiscs(ifindex int, links []int) qdiscs {
	major := r.Handle()
	root := netlink.MakeHandle(major, 0)
	q := qdiscs{root: netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: ifindex, Handle: root, Parent: netlink.HANDLE_ROOT})}
	for _, i := range links {
		l := r.Links[i]
		rate := r.Rate * 8
		if r.Delay > 0 {
			rate = delayClassRate
		}
		cls := classID(major, i)
		q.classes = append(q.classes, netlink.NewHtbClass(
			netlink.ClassAttrs{LinkIndex: ifindex, Parent: root, Handle: cls},
			netlink.HtbClassAttrs{Rate: rate, Ceil: rate}))
		if r.Delay > 0 {
			q.leaves = append(q.leaves, netlink.NewNetem(
				netlink.QdiscAttrs{LinkIndex: ifindex, Parent: cls, Handle: netlink.MakeHandle(major+1+uint16(i), 0)},
				netlink.NetemQdiscAttrs{Latency: uint32(r.Delay.Microseconds()), Jitter: uint32(r.Jitter.Microseconds())}))
		}
		for _, k := range l.egressKeys() {
			q.filters = append(q.filters, &netlink.U32{
				FilterAttrs: netlink.FilterAttrs{LinkIndex: ifindex, Parent: root, Priority: 1, Protocol: unix.ETH_P_IP},
				ClassId:     cls,
				Sel:         &netlink.TcU32Sel{Flags: nl.TC_U32_TERMINAL, Nkeys: uint8(len(k)), Keys: k},
			})
		}
	}
	return q
}

// egressKeys are the u32 selectors of the link's egress packets (the
// dirOut matches), one key list per packet shape: TCP, source and
// destination address, and the port. Ports are read at offset 20, right
// after an IPv4 header without options, as tc's own `match ip dport` does.
func (l Link) egressKeys() [][]netlink.TcU32Key {
	var out [][]netlink.TcU32Key
	for _, m := range l.matches()[dirOut] {
		k := []netlink.TcU32Key{
			{Off: 8, Mask: 0x00ff0000, Val: unix.IPPROTO_TCP << 16},
			{Off: 12, Mask: 0xffffffff, Val: ipv4Word(m.src)},
			{Off: 16, Mask: 0xffffffff, Val: ipv4Word(m.dst)},
		}
		if m.sport != 0 {
			k = append(k, netlink.TcU32Key{Off: 20, Mask: 0xffff0000, Val: uint32(m.sport) << 16})
		}
		if m.dport != 0 {
			k = append(k, netlink.TcU32Key{Off: 20, Mask: 0x0000ffff, Val: uint32(m.dport)})
		}
		out = append(out, k)
	}
	return out
}

// ipv4Word is an IPv4 address as the number its bytes spell.
func ipv4Word(a interface{ As4() [4]byte }) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// egressLinks groups r's links by the interface that routes to the peer.
func (h *Host) egressLinks(r Rules) (map[int][]int, error) {
	byIf := map[int][]int{}
	for i, l := range r.Links {
		routes, err := h.nl.RouteGet(net.IP(l.Peer.Addr().AsSlice()))
		if err != nil || len(routes) == 0 {
			return nil, fmt.Errorf("route to %s: %v", l.Peer.Addr(), err)
		}
		byIf[routes[0].LinkIndex] = append(byIf[routes[0].LinkIndex], i)
	}
	return byIf, nil
}

// rootQdisc is the root qdisc of interface ifindex, or nil.
func (h *Host) rootQdisc(ifindex int) (netlink.Qdisc, error) {
	link, err := h.nl.LinkByIndex(ifindex)
	if err != nil {
		return nil, fmt.Errorf("interface %d: %w", ifindex, err)
	}
	qs, err := h.nl.QdiscList(link)
	if err != nil {
		return nil, fmt.Errorf("list qdiscs of %s: %w", link.Attrs().Name, err)
	}
	for _, q := range qs {
		if q.Attrs().Parent == netlink.HANDLE_ROOT {
			return q, nil
		}
	}
	return nil, nil
}

// applyTC installs r's qdiscs on every interface that routes to a peer.
// An interface whose root qdisc was set by someone (a handle other than
// the kernel's default 0:) is refused rather than replaced. On error it
// removes the roots it added (which removes their classes and filters).
func (h *Host) applyTC(r Rules) (err error) {
	byIf, err := h.egressLinks(r)
	if err != nil {
		return err
	}
	var added []*netlink.Htb
	defer func() {
		if err != nil {
			for _, q := range added {
				h.nl.QdiscDel(q)
			}
		}
	}()
	for ifindex, links := range byIf {
		cur, err := h.rootQdisc(ifindex)
		if err != nil {
			return err
		}
		if cur != nil && cur.Attrs().Handle != 0 {
			name := ifName(h, ifindex)
			return fmt.Errorf("interface %s has a root qdisc of its own (%s %s): raftcmp does not replace it", name, cur.Type(), netlink.HandleStr(cur.Attrs().Handle))
		}
		q := r.buildQdiscs(ifindex, links)
		if err := h.nl.QdiscAdd(q.root); err != nil {
			return fmt.Errorf("add htb qdisc on %s: %w", ifName(h, ifindex), err)
		}
		added = append(added, q.root)
		for _, c := range q.classes {
			if err := h.nl.ClassAdd(c); err != nil {
				return fmt.Errorf("add htb class %s on %s: %w", netlink.HandleStr(c.Handle), ifName(h, ifindex), err)
			}
		}
		for _, l := range q.leaves {
			if err := h.nl.QdiscAdd(l); err != nil {
				if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
					return ErrNoNetem
				}
				return fmt.Errorf("add netem qdisc on %s: %w", ifName(h, ifindex), err)
			}
		}
		for _, f := range q.filters {
			if err := h.nl.FilterAdd(f); err != nil {
				return fmt.Errorf("add u32 filter on %s: %w", ifName(h, ifindex), err)
			}
		}
	}
	return nil
}

// ifName names interface ifindex for a message.
func ifName(h *Host, ifindex int) string {
	if l, err := h.nl.LinkByIndex(ifindex); err == nil {
		return l.Attrs().Name
	}
	return fmt.Sprintf("#%d", ifindex)
}

// deleteQdiscs removes the root qdisc with major handle major from every
// interface that has it, and nothing else.
func (h *Host) deleteQdiscs(major uint16) error {
	links, err := h.nl.LinkList()
	if err != nil {
		return fmt.Errorf("list interfaces: %w", err)
	}
	var errs []error
	for _, l := range links {
		q, err := h.rootQdisc(l.Attrs().Index)
		if err != nil || q == nil || q.Attrs().Handle != netlink.MakeHandle(major, 0) {
			continue
		}
		if err := h.nl.QdiscDel(q); err != nil {
			errs = append(errs, fmt.Errorf("delete qdisc %s on %s: %w", netlink.HandleStr(q.Attrs().Handle), l.Attrs().Name, err))
		}
	}
	return errors.Join(errs...)
}

// tcCounters fills each link's Shaped from its htb class.
func (h *Host) tcCounters(r Rules, c []LinkCounters) error {
	byIf, err := h.egressLinks(r)
	if err != nil {
		return err
	}
	major := r.Handle()
	for ifindex, links := range byIf {
		link, err := h.nl.LinkByIndex(ifindex)
		if err != nil {
			return fmt.Errorf("interface %d: %w", ifindex, err)
		}
		cls, err := h.nl.ClassList(link, netlink.MakeHandle(major, 0))
		if err != nil {
			return fmt.Errorf("list htb classes on %s: %w", link.Attrs().Name, err)
		}
		for _, i := range links {
			for _, k := range cls {
				if k.Attrs().Handle != classID(major, i) || k.Attrs().Statistics == nil {
					continue
				}
				st := k.Attrs().Statistics
				s := &Shaping{}
				if st.Basic != nil {
					s.Bytes, s.Packets = st.Basic.Bytes, uint64(st.Basic.Packets)
				}
				if st.Queue != nil {
					s.Overlimits, s.Drops = uint64(st.Queue.Overlimits), uint64(st.Queue.Drops)
				}
				c[i].Shaped = s
			}
		}
	}
	return nil
}
