package reports

import (
	"bytes"
	"fmt"
	"slices"
)

// writeSnapshots writes the snapshot table of scenario s when any of its
// ok rows counted a snapshot: per point, the snapshots the cluster's nodes
// took, the snapshots followers installed from a leader and the time spent
// taking them, each the mean over the ok repeats (results.csv's snapshots,
// snapshot_installs and snapshot_ms).
func (a *Analysis) writeSnapshots(b *bytes.Buffer, s Scenario) {
	counted := slices.ContainsFunc(a.Points, func(p *PointStats) bool {
		return p.Scenario == s && slices.ContainsFunc(p.OK, func(r Row) bool {
			return r.Snapshots > 0 || r.SnapshotInstalls > 0 || r.SnapshotMs > 0
		})
	})
	if !counted {
		return
	}
	mean := func(p *PointStats, f func(Row) float64) float64 {
		var sum float64
		for _, r := range p.OK {
			sum += f(r)
		}
		return sum / float64(len(p.OK))
	}
	b.WriteString("### Snapshots in the window (taken / installed / ms)\n\n")
	b.WriteString("Summed over the cluster's nodes: snapshots the nodes took of their state machines, snapshots followers installed from a leader, and the milliseconds spent taking them (what each backend can time differs: docs/backends.md). Means over the ok repeats.\n\n")
	a.writeMatrix(b, s, func(p *PointStats) string {
		return fmt.Sprintf("%.1f / %.1f / %.1f",
			mean(p, func(r Row) float64 { return float64(r.Snapshots) }),
			mean(p, func(r Row) float64 { return float64(r.SnapshotInstalls) }),
			mean(p, func(r Row) float64 { return r.SnapshotMs }))
	})
}
