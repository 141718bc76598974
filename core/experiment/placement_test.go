package experiment

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// onMachine makes NodeCPUs see a machine whose usable CPUs are cpus, for
// the rest of the test.
func onMachine(t *testing.T, cpus ...int) {
	t.Helper()
	was := machineCPUs
	machineCPUs = func() []int { return cpus }
	t.Cleanup(func() { machineCPUs = was })
}

func mustAbs(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		panic(err)
	}
	return abs
}

// The default pinning: a core per node plus one for raftcmp, or none.
func TestAutoCPUs(t *testing.T) {
	tests := []struct {
		name  string
		nodes int
		avail []int
		want  []int
	}{
		{"this 2-core machine, 3 nodes", 3, []int{0, 1}, nil},
		{"a core per node but none left", 3, []int{0, 1, 2}, nil},
		{"one spare core", 3, []int{0, 1, 2, 3}, []int{1, 2, 3}},
		{"a large machine", 3, []int{0, 1, 2, 3, 4, 5, 6, 7}, []int{1, 2, 3}},
		{"a restricted cpuset", 3, []int{4, 5, 6, 7}, []int{5, 6, 7}},
		{"one node", 1, []int{0, 1}, []int{1}},
		{"one node, one core", 1, []int{0}, nil},
		{"nine nodes, eight cores", 9, []int{0, 1, 2, 3, 4, 5, 6, 7}, nil},
		{"no nodes", 0, []int{0, 1}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := AutoCPUs(tc.nodes, tc.avail); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("AutoCPUs(%d, %v) = %v, want %v", tc.nodes, tc.avail, got, tc.want)
			}
		})
	}
}

// NodeCPUs: --cpus overrides, none turns pinning off, nodes on other hosts
// are not pinned by default, and auto pins only where the machine allows.
func TestNodeCPUs(t *testing.T) {
	tests := []struct {
		name    string
		machine []int
		cpus    string // as --cpus takes it
		hosts   string
		want    []int
	}{
		{"auto, 2 cores: unchanged, no pinning", []int{0, 1}, "auto", "", nil},
		{"auto, 8 cores", []int{0, 1, 2, 3, 4, 5, 6, 7}, "auto", "", []int{1, 2, 3}},
		{"default is auto", []int{0, 1, 2, 3}, "", "", []int{1, 2, 3}},
		{"none", []int{0, 1, 2, 3}, "none", "", nil},
		{"a list overrides", []int{0, 1, 2, 3}, "0,0,1", "", []int{0, 0, 1}},
		{"a list on 2 cores", []int{0, 1}, "0,1,1", "", []int{0, 1, 1}},
		{"nodes on hosts: not pinned here", []int{0, 1, 2, 3}, "auto", "/x/hosts.yaml", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			onMachine(t, tc.machine...)
			s := Default()
			s.Hosts = tc.hosts
			if err := ApplyFlags(&s, fakeFlags{"cpus": tc.cpus}); err != nil {
				t.Fatal(err)
			}
			if got := s.NodeCPUs(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("--cpus %q: NodeCPUs() = %v, want %v", tc.cpus, got, tc.want)
			}
		})
	}
}

// writeHosts writes a valid hosts file of n hosts named h1..hn at path.
func writeHosts(t *testing.T, path string, n int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("defaults: {user: root, known_hosts: insecure-accept-any, dir: /var/tmp/raftcmp}\nhosts:\n")
	for i := 1; i <= n; i++ {
		b.WriteString("  - {name: h" + string(rune('0'+i)) + ", ssh: 198.18.0." + string(rune('0'+i)) + "}\n")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// hosts: in an experiment file is relative to the file's directory, and a
// missing or bad hosts file is refused at the file's line.
func TestHostsInFile(t *testing.T) {
	dir := t.TempDir()
	writeHosts(t, filepath.Join(dir, "lab", "hosts.yaml"), 3)
	exp := filepath.Join(dir, "study.yaml")
	load := func(body string) (Spec, error) {
		t.Helper()
		if err := os.WriteFile(exp, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := LoadFile(exp)
		if err != nil {
			return Spec{}, err
		}
		s := Default()
		s.Impls = []string{"etcd"}
		if err := f.Apply(&s, func(string) bool { return false }); err != nil {
			return s, err
		}
		return s, s.Validate()
	}

	s, err := load("nodes: 3\nhosts: lab/hosts.yaml\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "lab", "hosts.yaml"); s.Hosts != want {
		t.Errorf("hosts = %q, want %q (relative to the experiment file)", s.Hosts, want)
	}
	if got := comparedHosts(&s); !reflect.DeepEqual(got, []string{"h1", "h2", "h3"}) {
		t.Errorf("compared hosts = %v", got)
	}

	_, err = load("nodes: 3\n\nhosts: missing.yaml\n")
	want := exp + `:3: hosts "` + filepath.Join(dir, "missing.yaml") + `": no such file`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("missing hosts file: %v\nwant %s...", err, want)
	}

	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("hosts:\n  - {ssh: 198.18.0.1, colour: red}\n"), 0o644)
	_, err = load("hosts: bad.yaml\n")
	if err == nil || !strings.HasPrefix(err.Error(), exp+":1: hosts ") || !strings.Contains(err.Error(), "colour: unknown key") {
		t.Errorf("malformed hosts file: %v", err)
	}
}

// The hosts count in the fingerprint only when set, so every run recorded
// before (no hosts) still resumes; with hosts, where the nodes ran is
// compared, and a change is named.
func TestHostsFingerprint(t *testing.T) {
	onMachine(t, 0, 1)
	dir := t.TempDir()
	three, two := filepath.Join(dir, "three.yaml"), filepath.Join(dir, "two.yaml")
	writeHosts(t, three, 3)
	writeHosts(t, two, 2)

	local := Default()
	c, fp := local.Comparable()
	if strings.Contains(string(c), "hosts") {
		t.Errorf("a run without hosts records them: %s", c)
	}
	// What a build before the hosts setting recorded for the default
	// experiment (TestComparableAsRecordedBefore): it still resumes.
	const before = "ed5bf7bc39e07a81c3a8860b414e15abe5e572cdcff81273313ac1431c8bbf4a"
	old := Default()
	old.GOMAXPROCS = 4
	if _, oldFP := old.Comparable(); oldFP != before {
		t.Errorf("fingerprint of an older run's experiment changed: %s", oldFP)
	}

	remote := Default()
	remote.Hosts = three
	rc, rfp := remote.Comparable()
	if !strings.HasSuffix(string(rc), `,"hosts":["h1","h2","h3"]}`) {
		t.Errorf("comparable with hosts: %s", rc)
	}
	var recorded any = map[string]any{}
	if err := remote.CheckResume(fp, recorded); err == nil {
		t.Error("a local run resumed on hosts")
	}
	asRead := func(b []byte) any {
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if err := remote.CheckResume(fp, asRead(c)); err == nil || !strings.Contains(err.Error(), `hosts recorded nothing, now ["h1","h2","h3"]`) {
		t.Errorf("local run resumed with hosts: %v", err)
	}
	if err := local.CheckResume(rfp, asRead(rc)); err == nil || !strings.Contains(err.Error(), `hosts recorded ["h1","h2","h3"], now nothing`) {
		t.Errorf("hosts run resumed locally: %v", err)
	}
	moved := remote
	moved.Hosts = two
	if err := moved.CheckResume(rfp, asRead(rc)); err == nil || !strings.Contains(err.Error(), `now ["h1","h2","h1"]`) {
		t.Errorf("other placement: %v", err)
	}
	if err := remote.CheckResume(rfp, asRead(rc)); err != nil {
		t.Errorf("same hosts: %v", err)
	}
}
