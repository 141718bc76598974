package netrules

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Directions, as the rules' user data names them.
const (
	dirOut = "out" // sent by this host's node to the peer
	dirIn  = "in"  // received from the peer
)

// match selects one side of a link's TCP traffic: packets from src to dst
// with the given source or destination port (0: any).
type match struct {
	src, dst     netip.Addr
	sport, dport uint16
}

// matches are the four packet shapes of a link's traffic, by direction:
// the local node's connections to the peer's listener, and the peer's
// connections to the local node's listener, each way. Nothing else between
// the two addresses (SSH, say) has either node's port.
func (l Link) matches() map[string][]match {
	la, pa := l.Local.Addr(), l.Peer.Addr()
	return map[string][]match{
		dirOut: {
			{src: la, dst: pa, dport: l.Peer.Port()},
			{src: la, dst: pa, sport: l.Local.Port()},
		},
		dirIn: {
			{src: pa, dst: la, sport: l.Peer.Port()},
			{src: pa, dst: la, dport: l.Local.Port()},
		},
	}
}

// exprs is the nftables match for m (family inet: IPv4 TCP only).
func (m match) exprs() []expr.Any {
	cmp := func(data []byte) *expr.Cmp { return &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: data} }
	port := func(p uint16) []byte { return binary.BigEndian.AppendUint16(nil, p) }
	e := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, cmp([]byte{unix.NFPROTO_IPV4}),
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, cmp([]byte{unix.IPPROTO_TCP}),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4}, cmp(m.src.AsSlice()),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4}, cmp(m.dst.AsSlice()),
	}
	if m.sport != 0 {
		e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2}, cmp(port(m.sport)))
	}
	if m.dport != 0 {
		e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}, cmp(port(m.dport)))
	}
	return e
}

// dropScale is numgen's modulus for a drop fraction: parts per million.
const dropScale = 1_000_000

// dropExprs picks the packets a drop fraction drops: all for 1, else a
// random number below fraction*dropScale (numgen gives it in host order;
// byteorder makes it big-endian so that cmp's "less than", which compares
// bytes, compares numbers, as nft does for `numgen random mod N < M`).
func dropExprs(fraction float64) []expr.Any {
	if fraction >= 1 {
		return nil
	}
	return []expr.Any{
		&expr.Numgen{Register: 1, Modulus: dropScale, Type: unix.NFT_NG_RANDOM},
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: binary.BigEndian.AppendUint32(nil, uint32(fraction*dropScale))},
	}
}

// tag is what a rule's user data says it counts: link index, direction,
// and whether it is the drop rule.
type tag struct {
	link int
	dir  string
	drop bool
}

func (t tag) bytes() []byte {
	kind := "all"
	if t.drop {
		kind = "drop"
	}
	return fmt.Appendf(nil, "raftcmp:%d:%s:%s", t.link, t.dir, kind)
}

// parseTag reads a rule's user data; ok is false for a rule not of ours.
func parseTag(b []byte) (t tag, ok bool) {
	f := strings.Split(string(b), ":")
	if len(f) != 4 || f[0] != "raftcmp" {
		return tag{}, false
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return tag{}, false
	}
	return tag{link: n, dir: f[2], drop: f[3] == "drop"}, true
}

// table is r's nftables table.
func (r Rules) table() *nftables.Table {
	return &nftables.Table{Name: r.Name, Family: nftables.TableFamilyINet}
}

// chains are the table's two base chains, by direction.
func chains(t *nftables.Table) map[string]*nftables.Chain {
	mk := func(name string, hook *nftables.ChainHook) *nftables.Chain {
		return &nftables.Chain{Name: name, Table: t, Type: nftables.ChainTypeFilter, Hooknum: hook, Priority: nftables.ChainPriorityFilter}
	}
	return map[string]*nftables.Chain{dirOut: mk("output", nftables.ChainHookOutput), dirIn: mk("input", nftables.ChainHookInput)}
}

// nftRules are every rule of r, by chain direction: for each link and
// direction, a counting rule per packet shape, then (with a drop fraction)
// a rule per shape that counts and drops what it picks.
func (r Rules) nftRules(chs map[string]*nftables.Chain) []*nftables.Rule {
	var out []*nftables.Rule
	for i, l := range r.Links {
		for _, dir := range []string{dirOut, dirIn} {
			for _, m := range l.matches()[dir] {
				out = append(out, &nftables.Rule{
					Table: chs[dir].Table, Chain: chs[dir], UserData: tag{link: i, dir: dir}.bytes(),
					Exprs: append(m.exprs(), &expr.Counter{}),
				})
			}
			if r.Drop <= 0 {
				continue
			}
			for _, m := range l.matches()[dir] {
				e := append(m.exprs(), dropExprs(r.Drop)...)
				e = append(e, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})
				out = append(out, &nftables.Rule{Table: chs[dir].Table, Chain: chs[dir], UserData: tag{link: i, dir: dir, drop: true}.bytes(), Exprs: e})
			}
		}
	}
	return out
}

// applyNFT adds r's table, chains and rules in one batch (nftables
// applies a batch atomically: all of it or nothing).
func (h *Host) applyNFT(r Rules) error {
	if t, err := h.nft.ListTableOfFamily(r.Name, nftables.TableFamilyINet); err == nil && t != nil {
		return fmt.Errorf("nftables table %s exists already: another fault with this name is in place", r.Name)
	}
	t := h.nft.AddTable(r.table())
	chs := chains(t)
	for _, c := range chs {
		h.nft.AddChain(c)
	}
	for _, rule := range r.nftRules(chs) {
		h.nft.AddRule(rule)
	}
	if err := h.nft.Flush(); err != nil {
		return fmt.Errorf("add nftables table %s: %w", r.Name, err)
	}
	return nil
}

// deleteTable removes the inet table name if it exists.
func (h *Host) deleteTable(name string) error {
	if t, err := h.nft.ListTableOfFamily(name, nftables.TableFamilyINet); err != nil || t == nil {
		return nil // gone already
	}
	h.nft.DelTable(&nftables.Table{Name: name, Family: nftables.TableFamilyINet})
	if err := h.nft.Flush(); err != nil {
		return fmt.Errorf("delete nftables table %s: %w", name, err)
	}
	return nil
}

// nftCounters adds up r's rule counters into c, link by link.
func (h *Host) nftCounters(r Rules, c []LinkCounters) error {
	t := r.table()
	for dir, ch := range chains(t) {
		rules, err := h.nft.GetRules(t, ch)
		if err != nil {
			return fmt.Errorf("read nftables rules of %s %s: %w", r.Name, ch.Name, err)
		}
		for _, rule := range rules {
			tg, ok := parseTag(rule.UserData)
			if !ok || tg.link < 0 || tg.link >= len(c) || tg.dir != dir {
				continue
			}
			d := &c[tg.link].Sent
			if dir == dirIn {
				d = &c[tg.link].Recv
			}
			for _, e := range rule.Exprs {
				if n, ok := e.(*expr.Counter); ok {
					if tg.drop {
						d.DroppedPackets += n.Packets
						d.DroppedBytes += n.Bytes
					} else {
						d.Packets += n.Packets
						d.Bytes += n.Bytes
					}
				}
			}
		}
	}
	return nil
}

// ourTables lists the inet tables whose name starts with Prefix.
func (h *Host) ourTables() ([]string, error) {
	ts, err := h.nft.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("list nftables tables: %w", err)
	}
	var names []string
	for _, t := range ts {
		if strings.HasPrefix(t.Name, Prefix) {
			names = append(names, t.Name)
		}
	}
	return names, nil
}
