package experiment

import (
	"slices"
	"strings"
	"testing"
)

// --nodes, --rate and --payload read one value as always and a sweep or
// distribution besides; bad values name the flag and what is allowed.
func TestAxesFlags(t *testing.T) {
	tests := []struct {
		name  string
		flags fakeFlags
		want  func(s *Spec)
		err   string // the whole error; "" for none
	}{
		{"one size", fakeFlags{"nodes": "5"}, func(s *Spec) { s.Nodes = 5 }, ""},
		{"sizes", fakeFlags{"nodes": "3,5,7"}, func(s *Spec) { s.Nodes, s.NodeSweep = 7, []int{3, 5, 7} }, ""},
		{"sizes kept in order, once", fakeFlags{"nodes": "5, 3,5"}, func(s *Spec) { s.Nodes, s.NodeSweep = 5, []int{5, 3} }, ""},
		{"one size twice", fakeFlags{"nodes": "3,3"}, func(s *Spec) { s.Nodes = 3 }, ""},
		{"size not a number", fakeFlags{"nodes": "3,x"}, nil, `--nodes "3,x": want a cluster size (3) or a list of sizes (3,5,7)`},
		{"size too large", fakeFlags{"nodes": "3,10"}, nil, `--nodes "10": must be from 1 to 9`},
		{"size zero", fakeFlags{"nodes": "0,3"}, nil, `--nodes "0": must be from 1 to 9`},
		{"one rate", fakeFlags{"rate": "1500.5"}, func(s *Spec) { s.Rate = 1500.5 }, ""},
		{"rate list", fakeFlags{"rate": "1000,500"}, func(s *Spec) { s.Rate, s.RateSweep = 1000, []float64{1000, 500} }, ""},
		{"rate range", fakeFlags{"rate": "500:1500:500"}, func(s *Spec) { s.Rate, s.RateSweep = 1500, []float64{500, 1000, 1500} }, ""},
		{"rate range off grid", fakeFlags{"rate": "0.1:0.35:0.1"}, func(s *Spec) { s.Rate, s.RateSweep = 0.30000000000000004, []float64{0.1, 0.2, 0.30000000000000004} }, ""},
		{"rate range down", fakeFlags{"rate": "2000:1000:500"}, nil, `--rate "2000:1000:500": range FROM:TO:STEP must run upwards from a positive FROM by a positive STEP, at most 1000 rates`},
		{"rate range zero step", fakeFlags{"rate": "1:2:0"}, nil, `--rate "1:2:0": range FROM:TO:STEP must run upwards from a positive FROM by a positive STEP, at most 1000 rates`},
		{"rate word", fakeFlags{"rate": "fast"}, nil, `--rate "fast": want ops/s (1000, 0 = unthrottled), a list (500,1000) or a range FROM:TO:STEP (500:4000:500)`},
		{"rate negative in list", fakeFlags{"rate": "500,-1"}, nil, `--rate "-1": must be 0 (unthrottled) or a positive number of ops/s`},
		{"open loop refuses 0 in a sweep", fakeFlags{"rate": "0,500", "loop": "open"}, nil, `--rate "0": must be positive with --loop open (requests are issued on a schedule at --rate)`},
		{"fixed payload", fakeFlags{"payload": "100"}, func(s *Spec) { s.PayloadBytes = 100 }, ""},
		{"uniform payload", fakeFlags{"payload": "uniform:64:4096"}, func(s *Spec) { s.PayloadBytes, s.Payload = 2080, "uniform:64:4096" }, ""},
		{"pareto payload", fakeFlags{"payload": "pareto:64:1.5:8192"}, func(s *Spec) {
			s.Payload = "pareto:64:1.5:8192"
			s.PayloadBytes = int(s.PayloadSizes().Mean() + 0.5)
		}, ""},
		{"pareto payload bounded", fakeFlags{"payload": "pareto:64:1.5"}, func(s *Spec) {
			s.Payload = "pareto:64:1.5:1048576"
			s.PayloadBytes = int(s.PayloadSizes().Mean() + 0.5)
		}, ""},
		{"payload too large", fakeFlags{"payload": "uniform:1:2000000"}, nil, `--payload "uniform:1:2000000": want a size in bytes (2048), uniform:MIN:MAX or pareto:MIN:ALPHA[:MAX]; sizes are from 1 to 1048576 bytes`},
		{"payload shape", fakeFlags{"payload": "pareto:64:-1"}, nil, `--payload "pareto:64:-1": pareto:MIN:ALPHA[:MAX] needs a positive shape ALPHA (e.g. 1.2)`},
		{"payload zero", fakeFlags{"payload": "0"}, nil, `--payload "0": must be from 1 to 1048576 bytes`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Default()
			s.Impls = []string{"etcd"}
			err := ApplyFlags(&s, tc.flags)
			if err == nil {
				err = s.Validate()
			}
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v\nwant   %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Default()
			want.Impls = []string{"etcd"}
			tc.want(&want)
			if !specEqual(s, want) {
				t.Errorf("got  %+v\nwant %+v", s, want)
			}
		})
	}
}

func specEqual(a, b Spec) bool {
	a.from, b.from = nil, nil
	ja, _ := a.Comparable()
	jb, _ := b.Comparable()
	return string(ja) == string(jb) && slices.Equal(a.NodeSweep, b.NodeSweep) && slices.Equal(a.RateSweep, b.RateSweep) &&
		a.Payload == b.Payload && a.PayloadBytes == b.PayloadBytes && a.Nodes == b.Nodes && a.Rate == b.Rate
}

// An experiment file gives the sweeps as lists or strings.
func TestAxesFromFile(t *testing.T) {
	f, err := ParseFile("x.yaml", []byte("nodes: [3, 5, 7]\nrate: 500:1500:500\nloop: open\npayload: uniform:64:4096\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := Default()
	s.Impls = []string{"etcd"}
	if err := f.Apply(&s, func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.NodeSizes(), []int{3, 5, 7}) || !slices.Equal(s.Rates(), []float64{500, 1000, 1500}) || s.Payload != "uniform:64:4096" {
		t.Errorf("read %v %v %q", s.NodeSizes(), s.Rates(), s.Payload)
	}
	f, err = ParseFile("x.yaml", []byte("\nnodes: [3, 12]\n"))
	if err != nil {
		t.Fatal(err)
	}
	s = Default()
	s.Impls = []string{"etcd"}
	err = f.Apply(&s, func(string) bool { return false })
	if err == nil {
		err = s.Validate()
	}
	if want := `x.yaml:2: nodes "12": must be from 1 to 9`; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

// Point ids gain the size and the rate only when more than one is swept,
// so that a one-size, one-rate run keeps the ids it always recorded.
func TestPointsAxes(t *testing.T) {
	tests := []struct {
		name  string
		flags fakeFlags
		want  []string
	}{
		{"one size, one rate", fakeFlags{"nodes": "5", "rate": "1000"}, []string{"etcd/none/t2/r1", "hashicorp/none/t2/r1"}},
		{"sizes", fakeFlags{"nodes": "1,3"}, []string{"etcd/none/n1/t2/r1", "hashicorp/none/n1/t2/r1", "etcd/none/n3/t2/r1", "hashicorp/none/n3/t2/r1"}},
		{"rates", fakeFlags{"rate": "500,1500.5"}, []string{"etcd/none/q500/t2/r1", "hashicorp/none/q500/t2/r1", "etcd/none/q1500.5/t2/r1", "hashicorp/none/q1500.5/t2/r1"}},
		{"both", fakeFlags{"nodes": "3,5", "rate": "1:2:1"}, []string{
			"etcd/none/n3/q1/t2/r1", "hashicorp/none/n3/q1/t2/r1", "etcd/none/n3/q2/t2/r1", "hashicorp/none/n3/q2/t2/r1",
			"etcd/none/n5/q1/t2/r1", "hashicorp/none/n5/q1/t2/r1", "etcd/none/n5/q2/t2/r1", "hashicorp/none/n5/q2/t2/r1",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Default()
			tc.flags["impl"], tc.flags["threads"] = "etcd,hashicorp", "2"
			if err := ApplyFlags(&s, tc.flags); err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, p := range s.Points() {
				ids = append(ids, p.ID)
				ps := s.ForPoint(p)
				if ps.Nodes != p.Nodes || ps.Rate != p.Rate || ps.NodeSweep != nil || ps.RateSweep != nil {
					t.Errorf("%s: ForPoint gives %d nodes at %v, sweeps %v %v", p.ID, ps.Nodes, ps.Rate, ps.NodeSweep, ps.RateSweep)
				}
				if ps.LoadSpec(p.Threads).Rate != p.Rate {
					t.Errorf("%s: load rate %v", p.ID, ps.LoadSpec(p.Threads).Rate)
				}
			}
			if !slices.Equal(ids, tc.want) {
				t.Errorf("ids %s\nwant %s", strings.Join(ids, " "), strings.Join(tc.want, " "))
			}
		})
	}
}

// Auto placement and GOMAXPROCS are decided per size; an explicit CPU list
// covers the largest size and each point takes its first CPUs.
func TestForPointPlacement(t *testing.T) {
	defer func(f func() []int) { machineCPUs = f }(machineCPUs)
	machineCPUs = func() []int { return []int{0, 1, 2, 3, 4, 5} }
	s := Default()
	s.Impls = []string{"etcd"}
	if err := ApplyFlags(&s, fakeFlags{"nodes": "3,7"}); err != nil {
		t.Fatal(err)
	}
	small, large := s.ForPoint(Point{Nodes: 3}), s.ForPoint(Point{Nodes: 7})
	if got := small.NodeCPUs(); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("3 nodes on 6 CPUs: pinned to %v, want 1,2,3", got)
	}
	if got := large.NodeCPUs(); got != nil {
		t.Errorf("7 nodes on 6 CPUs: pinned to %v, want none", got)
	}
	if err := ApplyFlags(&s, fakeFlags{"cpus": "0,0,1,1,0,0,1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := s.ForPoint(Point{Nodes: 3}).NodeCPUs(); !slices.Equal(got, []int{0, 0, 1}) {
		t.Errorf("explicit list for 3 of 7 nodes: %v", got)
	}
}

// A single size and rate keep the fingerprint older runs recorded; a sweep
// records the list.
func TestComparableAxes(t *testing.T) {
	one := Default()
	swept := Default()
	if err := ApplyFlags(&swept, fakeFlags{"nodes": "3,5", "rate": "100,200", "payload": "uniform:1:3"}); err != nil {
		t.Fatal(err)
	}
	a, _ := one.Comparable()
	b, _ := swept.Comparable()
	if !strings.Contains(string(a), `"nodes":3,`) || !strings.Contains(string(a), `"rate":40000,`) || !strings.Contains(string(a), `"payload_bytes":2048,`) {
		t.Errorf("one size and rate: %s", a)
	}
	if !strings.Contains(string(b), `"nodes":[3,5],`) || !strings.Contains(string(b), `"rate":[100,200],`) || !strings.Contains(string(b), `"payload_bytes":"uniform:1:3",`) {
		t.Errorf("swept: %s", b)
	}
}
