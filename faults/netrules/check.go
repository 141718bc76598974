package netrules

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Capabilities says what network faults this machine's kernel and
// privileges allow: each field is "" when available, else the reason it
// is not.
type Capabilities struct {
	NFTables string `json:"nftables"` // tables, counters, numgen: partition, net-loss, all counters
	HTB      string `json:"htb"`      // htb qdiscs with u32 filters: net-bandwidth
	Netem    string `json:"netem"`    // netem: net-delay
}

// Need returns the reason a fault that drops (partition, loss), shapes
// bandwidth or delays cannot run with these capabilities, or "".
func (c Capabilities) Need(drop, rate, delay bool) string {
	if c.NFTables != "" {
		return c.NFTables
	}
	if (rate || delay) && c.HTB != "" {
		return c.HTB
	}
	if delay && c.Netem != "" {
		return c.Netem
	}
	return ""
}

// Check probes what network faults can do here by trying each mechanism in
// a new, empty network namespace (on its loopback interface), which is
// freed when Check returns: the host's own namespace is not touched.
func Check() Capabilities {
	ns, err := scratchNamespace()
	if err != nil {
		reason := fmt.Sprintf("cannot create a network namespace to probe in (root needed): %v", err)
		return Capabilities{NFTables: reason, HTB: reason, Netem: reason}
	}
	defer ns.Close()
	var c Capabilities
	h, err := Open(ns)
	if err != nil {
		reason := err.Error()
		return Capabilities{NFTables: reason, HTB: reason, Netem: reason}
	}
	defer h.Close()
	t := h.nft.AddTable(&nftables.Table{Name: Prefix + "probe", Family: nftables.TableFamilyINet})
	h.nft.AddChain(&nftables.Chain{Name: "output", Table: t, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter})
	if err := h.nft.Flush(); err != nil {
		c.NFTables = fmt.Sprintf("nftables not available (nf_tables, nft_chain_filter): %v", err)
	}
	lo, err := h.nl.LinkByName("lo")
	if err != nil {
		c.HTB = fmt.Sprintf("probe: no loopback interface: %v", err)
		c.Netem = c.HTB
		return c
	}
	root := netlink.MakeHandle(0x1000, 0)
	htb := netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: lo.Attrs().Index, Handle: root, Parent: netlink.HANDLE_ROOT})
	if err := h.nl.QdiscAdd(htb); err != nil {
		c.HTB = fmt.Sprintf("the kernel has no htb qdisc (sch_htb): net-bandwidth cannot run there: %v", err)
		htb = nil
	} else if err := h.nl.FilterAdd(&netlink.U32{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: lo.Attrs().Index, Parent: root, Priority: 1, Protocol: unix.ETH_P_IP},
		ClassId:     netlink.MakeHandle(0x1000, 1),
		Sel:         &netlink.TcU32Sel{Nkeys: 1, Keys: []netlink.TcU32Key{{Off: 16, Mask: 0xffffffff, Val: 1}}},
	}); err != nil {
		c.HTB = fmt.Sprintf("the kernel has no u32 classifier (cls_u32): net-bandwidth cannot run there: %v", err)
	}
	if htb != nil {
		h.nl.QdiscDel(htb)
	}
	netem := netlink.NewNetem(netlink.QdiscAttrs{LinkIndex: lo.Attrs().Index, Handle: netlink.MakeHandle(0x1001, 0), Parent: netlink.HANDLE_ROOT},
		netlink.NetemQdiscAttrs{Latency: 1000})
	if err := h.nl.QdiscAdd(netem); err != nil {
		c.Netem = ErrNoNetem.Error()
		if !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EOPNOTSUPP) {
			c.Netem = fmt.Sprintf("add a netem qdisc: %v: net-delay cannot run there", err)
		}
	}
	return c
}

// scratchNamespace creates a new network namespace and returns a handle
// on it, leaving the calling thread in its own.
func scratchNamespace() (netns.NsHandle, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return netns.None(), err
	}
	defer orig.Close()
	ns, err := netns.New() // unshares: this thread is now in ns
	if err != nil {
		return netns.None(), err
	}
	if err := netns.Set(orig); err != nil {
		ns.Close()
		// The thread is stuck in ns: keep it locked so the Go runtime
		// retires it instead of reusing it.
		runtime.LockOSThread()
		return netns.None(), fmt.Errorf("return to the original namespace: %w", err)
	}
	return ns, nil
}
