package reports

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Where the nodes ran, as a row records it, for each kind of placement.
func TestSetPlacement(t *testing.T) {
	hosts := func(names ...string) []NodeHost {
		var out []NodeHost
		for i, n := range names {
			out = append(out, NodeHost{Node: i + 1, Host: n, SSH: n + ":22", DataAddr: n})
		}
		return out
	}
	tests := []struct {
		name                      string
		nodes                     int
		hosts                     []NodeHost
		cpus                      []int
		nodeHosts, nodeCPUs, want string
	}{
		{"one machine, not pinned", 3, nil, nil, "local", "", PlacementSharedCPUs},
		{"one machine, pinned by default", 3, nil, []int{1, 2, 3}, "local", "1=1;2=2;3=3", PlacementPinned},
		{"one machine, two nodes on a cpu", 3, nil, []int{0, 1, 1}, "local", "1=0;2=1;3=1", PlacementSharedCPUs},
		{"one node pinned", 1, nil, []int{1}, "local", "1=1", PlacementPinned},
		{"a host each", 3, hosts("h1", "h2", "h3"), nil, "1=h1;2=h2;3=h3", "", PlacementHosts},
		{"fewer hosts than nodes", 3, hosts("h1", "h2", "h1"), nil, "1=h1;2=h2;3=h1", "", PlacementSharedHosts},
		{"hosts, pinned on each", 2, hosts("a", "b"), []int{0, 0}, "1=a;2=b", "1=0;2=0", PlacementHosts},
		{"hosts that are one machine", 3, onMachine(hosts("h1", "h2", "h3"), "k", "k", "k"), nil, "1=h1;2=h2;3=h3", "", PlacementSharedMachine},
		{"two of three hosts one machine", 3, onMachine(hosts("h1", "h2", "h3"), "k", "k", "m"), nil, "1=h1;2=h2;3=h3", "", PlacementSharedMachine},
		{"hosts on machines of their own", 3, onMachine(hosts("h1", "h2", "h3"), "k", "l", "m"), nil, "1=h1;2=h2;3=h3", "", PlacementHosts},
		{"machines unknown", 3, onMachine(hosts("h1", "h2", "h3"), "", "", ""), nil, "1=h1;2=h2;3=h3", "", PlacementHosts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Row{Nodes: tc.nodes}
			r.SetPlacement(tc.hosts, tc.cpus)
			if r.NodeHosts != tc.nodeHosts || r.NodeCPUs != tc.nodeCPUs || r.Placement != tc.want {
				t.Errorf("got node_hosts %q, node_cpus %q, placement %q; want %q, %q, %q", r.NodeHosts, r.NodeCPUs, r.Placement, tc.nodeHosts, tc.nodeCPUs, tc.want)
			}
		})
	}
}

// onMachine gives hosts[i] the kernel boot id ids[i].
func onMachine(hosts []NodeHost, ids ...string) []NodeHost {
	for i := range hosts {
		hosts[i].Machine = ids[i]
	}
	return hosts
}

// The placement columns round-trip through results.csv, and a file written
// before them reads them as empty.
func TestPlacementColumns(t *testing.T) {
	placed := []Row{sampleRow("etcd", 2, StatusOK), sampleRow("etcd", 4, StatusOK), sampleRow("etcd", 6, StatusFailed)}
	placed[0].SetPlacement(nil, []int{1, 2, 3})
	placed[1].SetPlacement([]NodeHost{{Node: 1, Host: "a"}, {Node: 2, Host: "b"}, {Node: 3, Host: "a"}}, nil)
	placed[2].SetPlacement(nil, nil)
	dir := t.TempDir()
	w, err := NewWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range placed {
		if err := w.Write(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	got, err := ReadResults(filepath.Join(dir, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, placed) {
		t.Errorf("read back\n%+v\nwant\n%+v", got, placed)
	}

	before := slices.Index(Columns, "node_hosts")
	old := sampleRow("etcd", 2, StatusOK)
	path := filepath.Join(t.TempDir(), ResultsFile)
	os.WriteFile(path, []byte(strings.Join(Columns[:before], ",")+"\n"+csvLine(old.record()[:before])), 0o644)
	rows, err := ReadResults(path)
	if err != nil || len(rows) != 1 || rows[0] != old {
		t.Errorf("older file: %+v, %v; want %+v", rows, err, old)
	}
}

// A run resumed in a directory an older raftcmp wrote appends rows of
// today's width: the file gets today's header first, its rows the added
// columns' zero values, and every row reads.
func TestWriterUpgradesOlderFiles(t *testing.T) {
	dir := t.TempDir()
	old := sampleRow("etcd", 2, StatusOK)
	first := Columns[:requiredColumns] // the first published schema
	os.WriteFile(filepath.Join(dir, ResultsFile), []byte(strings.Join(first, ",")+"\n"+csvLine(old.record()[:requiredColumns])), 0o644)
	os.WriteFile(filepath.Join(dir, TimeseriesFile), []byte(strings.Join(SeriesColumns, ",")+"\n"), 0o644)
	w, err := NewWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := sampleRow("etcd", 4, StatusOK)
	now.SetPlacement(nil, nil)
	now.ConvergeS = 1.5
	if err := w.Write(now, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	rows, err := ReadResults(filepath.Join(dir, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if want := []Row{old, now}; !slices.Equal(rows, want) {
		t.Errorf("read\n%+v\nwant\n%+v", rows, want)
	}

	// A header this build does not know the start of is not appended to.
	foreign := filepath.Join(t.TempDir(), "x")
	os.MkdirAll(foreign, 0o755)
	os.WriteFile(filepath.Join(foreign, ResultsFile), []byte("point,something_else\nx,y\n"), 0o644)
	if _, err := NewWriter(foreign); err == nil || !strings.Contains(err.Error(), "cannot append") {
		t.Errorf("foreign header: %v", err)
	}
}
