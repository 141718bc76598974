package reports

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Values of results.csv's placement column: where a point's nodes ran.
const (
	// PlacementHosts: each node on a host of its own (--hosts).
	PlacementHosts = "hosts"
	// PlacementSharedHosts: on hosts, but fewer hosts than nodes.
	PlacementSharedHosts = "shared-hosts"
	// PlacementSharedMachine: on hosts that are one machine (the same
	// kernel: namespaces or containers, as raftcmp testbed makes them), so
	// the nodes share its CPUs and disk as on one machine.
	PlacementSharedMachine = "shared-machine"
	// PlacementPinned: every node on raftcmp's machine, each pinned to a
	// CPU of its own.
	PlacementPinned = "pinned"
	// PlacementSharedCPUs: every node on raftcmp's machine, sharing its
	// CPUs (not pinned, or pinned two to a CPU).
	PlacementSharedCPUs = "shared-cpus"
)

// NodeHostsLocal is node_hosts when every node ran on raftcmp's machine.
const NodeHostsLocal = "local"

// SetPlacement records where the row's r.Nodes nodes ran: on hosts (node
// i on hosts[i-1], as a run with --hosts placed them; empty: this
// machine), each pinned to cpus[i-1] (nil: not pinned).
func (r *Row) SetPlacement(hosts []NodeHost, cpus []int) {
	r.NodeHosts, r.NodeCPUs = NodeHostsLocal, ""
	var pinned []string
	for i, c := range cpus {
		if i < r.Nodes && c >= 0 {
			pinned = append(pinned, fmt.Sprintf("%d=%d", i+1, c))
		}
	}
	r.NodeCPUs = strings.Join(pinned, ";")
	if len(hosts) > 0 {
		names := make([]string, 0, len(hosts))
		each := make([]string, 0, len(hosts))
		for _, h := range hosts {
			each = append(each, fmt.Sprintf("%d=%s", h.Node, h.Host))
			if !slices.Contains(names, h.Host) {
				names = append(names, h.Host)
			}
		}
		r.NodeHosts = strings.Join(each, ";")
		r.Placement = PlacementHosts
		if len(names) < r.Nodes {
			r.Placement = PlacementSharedHosts
		}
		if len(SharingAMachine(hosts)) > 0 {
			r.Placement = PlacementSharedMachine
		}
		return
	}
	r.Placement = PlacementSharedCPUs
	if len(pinned) == r.Nodes && len(slices.Compact(slices.Sorted(slices.Values(cpus[:r.Nodes])))) == r.Nodes {
		r.Placement = PlacementPinned
	}
}

// SharingAMachine names, in order, the hosts that are known to be one
// machine with another host of hosts (the same kernel boot id, Machine):
// their nodes share that machine's CPUs and disk.
func SharingAMachine(hosts []NodeHost) []string {
	byMachine := map[string][]string{} // boot id -> host names
	for _, h := range hosts {
		if h.Machine != "" && !slices.Contains(byMachine[h.Machine], h.Host) {
			byMachine[h.Machine] = append(byMachine[h.Machine], h.Host)
		}
	}
	var out []string
	for _, h := range hosts {
		if len(byMachine[h.Machine]) > 1 && !slices.Contains(out, h.Host) {
			out = append(out, h.Host)
		}
	}
	return out
}

// nodeValues reads a per-node column, "1=0.52;2=0.31", into its values;
// false if it is empty or malformed.
func nodeValues(s string) ([]float64, bool) {
	if s == "" {
		return nil, false
	}
	var out []float64
	for _, part := range strings.Split(s, ";") {
		_, v, ok := strings.Cut(part, "=")
		f, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil {
			return nil, false
		}
		out = append(out, f)
	}
	return out, true
}
