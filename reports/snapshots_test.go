package reports

import (
	"strings"
	"testing"
)

// The snapshot table appears when a point counted snapshots, with each
// backend's means, and not otherwise.
func TestMarkdownSnapshots(t *testing.T) {
	tests := []struct {
		name     string
		snapshot bool
		want     []string
	}{
		{"counted", true, []string{"### Snapshots in the window (taken / installed / ms)", "| 2 | 3.0 / 1.0 / 12.5 | 0.0 / 0.0 / 0.0 |"}},
		{"none", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := sampleRow("etcd", 2, StatusOK), sampleRow("hashicorp", 2, StatusOK)
			if tt.snapshot {
				a.Snapshots, a.SnapshotInstalls, a.SnapshotMs = 3, 1, 12.5
			}
			md := string(Analyze(nil, []Row{a, b}, nil).Markdown())
			if !tt.snapshot && strings.Contains(md, "Snapshots in the window") {
				t.Errorf("report shows snapshots where none were counted:\n%s", md)
			}
			for _, want := range tt.want {
				if !strings.Contains(md, want) {
					t.Errorf("report lacks %q:\n%s", want, md)
				}
			}
		})
	}
}
