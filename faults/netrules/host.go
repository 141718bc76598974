package netrules

import (
	"errors"
	"fmt"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Host applies Rules in one network namespace. Not safe for concurrent
// use; Close it when done.
type Host struct {
	nft *nftables.Conn
	nl  *netlink.Handle
}

// Open returns a Host for network namespace ns, or for the calling
// process's namespace when ns is netns.None().
func Open(ns netns.NsHandle) (*Host, error) {
	var opts []nftables.ConnOption
	if ns.IsOpen() {
		opts = append(opts, nftables.WithNetNSFd(int(ns)))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("open nftables: %w", err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		c.CloseLasting()
		return nil, fmt.Errorf("open netlink: %w", err)
	}
	return &Host{nft: c, nl: h}, nil
}

// Close releases the Host's sockets; the rules stay in place.
func (h *Host) Close() error {
	h.nl.Close()
	return h.nft.CloseLasting()
}

// Apply puts r in place: its nftables table (counters, drops), then, if it
// shapes, its qdiscs. If any part fails, whatever it added is removed and
// the error says what failed (ErrNoNetem for a delay on a kernel without
// netem).
func (h *Host) Apply(r Rules) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if err := h.applyNFT(r); err != nil {
		return err
	}
	if r.Shapes() {
		if err := h.applyTC(r); err != nil {
			return errors.Join(err, h.deleteTable(r.Name))
		}
	}
	return nil
}

// Revert removes what Apply(r) added: r's qdiscs (by handle) and table (by
// name). Removing what is not there is no error.
func (h *Host) Revert(r Rules) error {
	if err := r.Validate(); err != nil {
		return err
	}
	return errors.Join(h.deleteQdiscs(r.Handle()), h.deleteTable(r.Name))
}

// Counters reads r's counters: nftables packets and bytes per link and
// direction (matched and dropped), and the htb class's when r shapes.
func (h *Host) Counters(r Rules) (Counters, error) {
	if err := r.Validate(); err != nil {
		return Counters{}, err
	}
	c := make([]LinkCounters, len(r.Links))
	for i, l := range r.Links {
		c[i].Link = l
	}
	if err := h.nftCounters(r, c); err != nil {
		return Counters{}, err
	}
	if r.Shapes() {
		if err := h.tcCounters(r, c); err != nil {
			return Counters{}, err
		}
	}
	return Counters{Links: c}, nil
}

// Cleanup removes every table whose name starts with Prefix, and the
// qdiscs that belong to it (by the handle its name gives), whatever run
// made them: for what a killed run left. It returns the tables removed.
func (h *Host) Cleanup() ([]string, error) {
	names, err := h.ourTables()
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, n := range names {
		errs = append(errs, h.deleteQdiscs(handleOf(n)), h.deleteTable(n))
	}
	return names, errors.Join(errs...)
}

// Tables lists the tables of raftcmp's in the namespace (Prefix).
func (h *Host) Tables() ([]string, error) { return h.ourTables() }
