package experiment

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const sampleFile = `# the original experiment, two backends
impls: [etcd, hashicorp]
nodes: 3
storage: disk
threads: 2:20:2
rate: 40000
payload: 2048
warmup: 2s
duration: 20s
repeat: 3
gomaxprocs: "1"
faults:
  - none
  - cpu-slow:follower,quota=5%,period=1s
  - kind: pause
    target: node:2
    at: 5s
    for: 10s
options:
  hashicorp: {max_append_entries: "128"}
out: results/orig
`

func TestFileApply(t *testing.T) {
	f, err := ParseFile("orig.yaml", []byte(sampleFile))
	if err != nil {
		t.Fatal(err)
	}
	s := Default()
	if err := f.Apply(&s, func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Impls, []string{"etcd", "hashicorp"}) || len(s.Threads) != 10 || s.Repeat != 3 || s.Duration != 20*time.Second || s.GOMAXPROCS != 1 {
		t.Errorf("spec %+v", s)
	}
	var fs []string
	for _, x := range s.Faults {
		fs = append(fs, x.String())
	}
	if want := []string{"none", "cpu-slow:follower,period=1s,quota=5%", "pause:node:2,at=5s,for=10s"}; !slices.Equal(fs, want) {
		t.Errorf("faults %v, want %v", fs, want)
	}
	if s.Options["hashicorp"]["max_append_entries"] != "128" || f.OutDir() != "results/orig" {
		t.Errorf("options %v, out %q", s.Options, f.OutDir())
	}
}

func TestFlagsOverrideFile(t *testing.T) {
	f, err := ParseFile("orig.yaml", []byte(sampleFile))
	if err != nil {
		t.Fatal(err)
	}
	s := Default()
	s.Threads = []int{4}
	set := map[string]bool{"threads": true}
	if err := f.Apply(&s, func(flag string) bool { return set[flag] }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Threads, []int{4}) || s.Repeat != 3 {
		t.Errorf("threads %v repeat %d: the flag must win, the rest come from the file", s.Threads, s.Repeat)
	}
}

func TestFileErrorsNameLine(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unknown key", "nodes: 3\nspeed: fast\n", "x.yaml: line 2: speed: unknown key"},
		{"wrong type", "repeat: three\n", "x.yaml: line 1: cannot unmarshal"},
		{"bad threads", "nodes: 3\nthreads: 2:x\n", "x.yaml:2: threads \"2:x\""},
		{"bad duration", "\nduration: soon\n", "x.yaml:2: duration \"soon\""},
		{"bad fault", "faults:\n  - none\n  - meteor:leader\n", "x.yaml:3: faults \"meteor:leader\""},
		{"bad fault mapping", "faults:\n  - kind: pause\n    when: now\n", "x.yaml:2: fault:"},
		{"syntax", "nodes: [3\n", "x.yaml: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseFile("x.yaml", []byte(tc.src))
			if err == nil {
				s := Default()
				err = f.Apply(&s, func(string) bool { return false })
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line containing %q", err, tc.want)
			}
		})
	}
}

func TestEmptyFileIsDefault(t *testing.T) {
	f, err := ParseFile("empty.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := Default()
	if err := f.Apply(&s, func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	if s.Nodes != 3 || len(s.Threads) != 10 {
		t.Errorf("an empty file changed the defaults: %+v", s)
	}
}

// FuzzParseFile: no input makes the experiment parser panic, and whatever
// it accepts either validates or fails with a one-line error.
func FuzzParseFile(f *testing.F) {
	f.Add([]byte(sampleFile))
	f.Add([]byte("threads: [1, 2, 3]\nfaults: [none, 'kill:leader,restart_after=1s']\n"))
	f.Add([]byte("faults:\n  - kind: memory\n    params: {limit: 64MiB}\n"))
	f.Add([]byte("nodes: 20\nstorage: ssd\nloop: open\nrate: 0\noptions: {etcd: {a: b}}\ncpus: [0]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := ParseFile("fuzz.yaml", b)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error: %q", err)
			}
			return
		}
		s := Default()
		s.Impls = []string{"x"}
		if err := file.Apply(&s, func(string) bool { return false }); err != nil {
			t.Fatalf("ParseFile accepted what Apply refuses: %v", err)
		}
		if err := s.Validate(); err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("multi-line error: %q", err)
		}
	})
}
