package reports

import (
	"fmt"
	"slices"
	"strings"
)

// CPUBoundShare is the share of the machine's CPUs that a baseline's nodes
// must have kept busy (their summed CPU seconds per second of the measured
// window, node_cpu_s over duration_s, against meta.json's CPU count) for
// the machine to count as CPU-bound. On such a machine, nodes sharing its
// CPUs compete for them, and a fault that slows one node frees CPU for the
// others: throughput under the fault can then rise, which says nothing of
// how the backend copes with the fault.
const CPUBoundShare = 0.75

// Contention is a fault impact measured with the nodes sharing one
// machine's CPUs while its baseline kept them busy.
type Contention struct {
	// Busy is the CPUs the baseline's nodes kept busy (mean over its ok
	// repeats); CPUs is the machine's count.
	Busy float64
	CPUs int
}

// Contended reports whether im was measured with every node of both of
// its points sharing one machine's CPUs (placement shared-cpus) and its
// baseline CPU-bound (CPUBoundShare). It is false when the rows do not
// record it (older files: no placement or node_cpu_s) or meta.json lacks
// the CPU count.
func (a *Analysis) Contended(im Impact) (Contention, bool) {
	if a.Meta == nil || a.Meta.Host.CPUs <= 0 || im.Base == nil || im.Hit == nil {
		return Contention{}, false
	}
	shared := func(r Row) bool { return r.Placement == PlacementSharedCPUs || r.Placement == PlacementSharedMachine }
	if !all(im.Base.OK, shared) || !all(im.Hit.OK, shared) {
		return Contention{}, false
	}
	var sum float64
	var n int
	for _, r := range im.Base.OK {
		cpu, ok := nodeValues(r.NodeCPUS)
		if !ok || r.DurationS <= 0 {
			continue
		}
		var s float64
		for _, v := range cpu {
			s += v
		}
		sum += s / r.DurationS
		n++
	}
	if n == 0 {
		return Contention{}, false
	}
	c := Contention{Busy: sum / float64(n), CPUs: a.Meta.Host.CPUs}
	return c, c.Busy >= CPUBoundShare*float64(c.CPUs)
}

func all(rows []Row, f func(Row) bool) bool {
	return len(rows) > 0 && !slices.ContainsFunc(rows, func(r Row) bool { return !f(r) })
}

// contentionMark marks a figure measured on a CPU-bound shared machine.
const contentionMark = " ‡"

// contentionNote explains contentionMark under the fault-impact table.
func contentionNote(worst Contention) string {
	return fmt.Sprintf("‡ The nodes shared this machine's CPUs, and the baseline kept them busy (up to %.2f of %d CPUs): a fault that slows one node frees CPU for the others, so the change mixes the fault's effect with relief from contention, and a rise in throughput under the fault is not a result. Pin each node to a core of its own (`--cpus`, the default on a machine with a core per node plus one) or run the nodes on separate hosts (`--hosts`) to measure the fault alone.\n\n",
		worst.Busy, worst.CPUs)
}

// placementText says where the rows' nodes ran, for the report's setup;
// "" when no row records it (older files).
func placementText(rows []Row) string {
	var parts []string
	for _, p := range distinct(rows, func(r Row) [3]string { return [3]string{r.Placement, r.NodeHosts, r.NodeCPUs} }) {
		placement, nodeHosts, nodeCPUs := p[0], p[1], p[2]
		var s string
		switch placement {
		case "":
			continue
		case PlacementHosts:
			s = "each node on a host of its own (" + nodeHosts + ")"
		case PlacementSharedHosts:
			s = "on fewer hosts than nodes, some nodes sharing a host (" + nodeHosts + ")"
		case PlacementSharedMachine:
			s = "on hosts that are one machine (" + nodeHosts + "; one kernel: namespaces or containers), the nodes sharing its CPUs and disk"
		case PlacementPinned:
			s = "one machine, each node pinned to a CPU of its own (" + nodeCPUs + ")"
		case PlacementSharedCPUs:
			s = "one machine, the nodes sharing its CPUs"
			if nodeCPUs != "" {
				s += " (pinned " + nodeCPUs + ")"
			}
		default:
			s = placement
		}
		if nodeCPUs != "" && (placement == PlacementHosts || placement == PlacementSharedHosts || placement == PlacementSharedMachine) {
			s += ", pinned " + nodeCPUs
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}
