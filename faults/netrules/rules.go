// Package netrules applies network faults inside one network namespace (a
// host's) to the TCP traffic between its Raft nodes and their peers' Raft
// addresses, and to nothing else: the SSH connection that controls the host
// is never matched. It is what raftcmp uses for network faults when nodes
// run on separate hosts (docs/faults.md); on one machine the link proxies
// (faults/netproxy) do that job.
//
//   - Drops (partition, loss) and every counter are nftables rules
//     (github.com/google/nftables) in a table of raftcmp's own, named
//     Prefix + the run's id, with an input and an output chain: for each
//     link (this node, one peer) and direction, one rule counts every packet
//     and, for a drop fraction, one rule counts and drops the packets it
//     picks (all of them for a partition, a random fraction for loss:
//     numgen random).
//   - Bandwidth and delay act on egress (github.com/vishvananda/netlink): an
//     htb root qdisc with the handle Rules.Handle on the interface that
//     routes to the peer, one class per link (the rate, or a leaf netem
//     qdisc for delay) and u32 filters on the peer's address and port;
//     unclassified traffic (SSH, everything else) passes the htb directly.
//     The reverse direction is the peer host's egress: the caller applies
//     Rules there too.
//
// Apply removes what it added if it fails half way; Revert removes only
// what Apply added (the table by its name, qdiscs by their handle);
// Cleanup removes every table with Prefix and the qdiscs that go with it.
package netrules

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"strings"
	"time"
)

// Prefix starts the name of every nftables table raftcmp makes.
const Prefix = "raftcmp-"

// Link is one node of this host and one of its peers, by the addresses
// their Raft transports listen on.
type Link struct {
	Local netip.AddrPort `json:"local"`
	Peer  netip.AddrPort `json:"peer"`
}

// String is "LOCAL->PEER".
func (l Link) String() string { return l.Local.String() + "->" + l.Peer.String() }

// Rules is one fault on one host: what it does to each of the links.
// Zero values do nothing but count (a Rules with only Links measures
// traffic).
type Rules struct {
	// Name is the nftables table, and marks everything else: it must start
	// with Prefix and name the run (e.g. raftcmp-RUNID-p3-net).
	Name string `json:"name"`
	// Links are the node-peer pairs the fault acts on.
	Links []Link `json:"links"`
	// Drop is the fraction of packets dropped in each direction of each
	// link: 1 is a partition, 0 drops nothing.
	Drop float64 `json:"drop,omitempty"`
	// Rate caps each link's egress, in bytes per second (0: no cap).
	Rate uint64 `json:"rate,omitempty"`
	// Delay and Jitter are added to each link's egress by netem (0: none).
	Delay  time.Duration `json:"delay,omitempty"`
	Jitter time.Duration `json:"jitter,omitempty"`
}

// maxName is the longest table name the kernel takes (NFT_NAME_MAXLEN-1).
const maxName = 255

// Validate checks r, naming the field that is wrong.
func (r Rules) Validate() error {
	switch {
	case !strings.HasPrefix(r.Name, Prefix) || len(r.Name) <= len(Prefix) || len(r.Name) > maxName:
		return fmt.Errorf("name %q: want %s followed by the run's id, at most %d characters", r.Name, Prefix, maxName)
	case len(r.Links) == 0:
		return errors.New("links: want at least one")
	case len(r.Links) > maxLinks:
		return fmt.Errorf("links: %d, at most %d", len(r.Links), maxLinks)
	case r.Drop < 0 || r.Drop > 1:
		return fmt.Errorf("drop %v: want a fraction 0..1", r.Drop)
	case r.Delay < 0 || r.Jitter < 0:
		return fmt.Errorf("delay %v, jitter %v: want durations >= 0", r.Delay, r.Jitter)
	case r.Jitter > 0 && r.Delay == 0:
		return errors.New("jitter: needs a delay")
	case r.Rate > 0 && r.Delay > 0:
		return errors.New("rate and delay: one fault sets one of them")
	}
	for i, l := range r.Links {
		for _, a := range []netip.AddrPort{l.Local, l.Peer} {
			if !a.IsValid() || !a.Addr().Is4() || a.Port() == 0 {
				return fmt.Errorf("links[%d] %s: want IPv4 ADDR:PORT on both ends (IPv6 is not supported)", i, l)
			}
		}
	}
	return nil
}

// Shapes reports whether r needs qdiscs (a rate or a delay).
func (r Rules) Shapes() bool { return r.Rate > 0 || r.Delay > 0 }

// maxLinks bounds the links of one Rules: class and leaf handles are
// numbered from the root's.
const maxLinks = 250

// Handle is the major number of the htb root qdisc r installs (its leaf
// netem qdiscs take the next ones): derived from Name, so Revert and
// Cleanup find it again without any state on the host.
func (r Rules) Handle() uint16 { return handleOf(r.Name) }

// handleOf spreads names over 0x1000..0xef00 in steps of 0x100, leaving
// room for maxLinks leaves after each root.
func handleOf(name string) uint16 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return uint16(0x1000 + (h.Sum32()%0xdf)*0x100)
}

// Direction counters of one link, from the nftables rules' counters.
type Direction struct {
	// Packets and Bytes are everything matched, dropped or not.
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
	// DroppedPackets and DroppedBytes are what the fault dropped.
	DroppedPackets uint64 `json:"dropped_packets"`
	DroppedBytes   uint64 `json:"dropped_bytes"`
}

// Shaping is a link's htb class counters: what went through the rate
// limit (or the delay) and how often it had to wait or drop.
type Shaping struct {
	Bytes      uint64 `json:"bytes"`
	Packets    uint64 `json:"packets"`
	Overlimits uint64 `json:"overlimits"`
	Drops      uint64 `json:"drops"`
}

// LinkCounters is what one link's rules counted since Apply.
type LinkCounters struct {
	Link Link      `json:"link"`
	Sent Direction `json:"sent"`
	Recv Direction `json:"recv"`
	// Shaped is set when the Rules shape (rate or delay).
	Shaped *Shaping `json:"shaped,omitempty"`
}

// Counters is what a Rules' counters say, link by link in Rules order.
type Counters struct {
	Links []LinkCounters `json:"links"`
}
