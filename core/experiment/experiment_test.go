package experiment

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/faults/faultspec"
)

func TestParseThreads(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		wantErr bool
	}{
		{in: "8", want: []int{8}},
		{in: "2,4,8", want: []int{2, 4, 8}},
		{in: " 2, 4 ,8 ", want: []int{2, 4, 8}},
		{in: "8,2,8", want: []int{8, 2}},
		{in: "2:20:2", want: []int{2, 4, 6, 8, 10, 12, 14, 16, 18, 20}},
		{in: "1:5:3", want: []int{1, 4}},
		{in: "4:4:1", want: []int{4}},
		{in: "", wantErr: true},
		{in: "x", wantErr: true},
		{in: "0", wantErr: true},
		{in: "-2", wantErr: true},
		{in: "2,,4", wantErr: true},
		{in: "2:20", wantErr: true},
		{in: "2:20:0", wantErr: true},
		{in: "20:2:2", wantErr: true},
		{in: "2:x:2", wantErr: true},
		{in: "1:100000000:1", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseThreads(tc.in)
			if tc.wantErr {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != "--threads" {
					t.Fatalf("ParseThreads(%q) = %v, %v; want a --threads error", tc.in, got, err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("ParseThreads(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseOption(t *testing.T) {
	opts := map[string]adapter.Options{}
	for _, s := range []string{"etcd.max_inflight_msgs=256", "etcd.pre_vote=false", "hashicorp.log_store=wal", "hashicorp.x=a=b"} {
		if err := ParseOption(opts, s); err != nil {
			t.Fatalf("ParseOption(%q): %v", s, err)
		}
	}
	if opts["etcd"]["max_inflight_msgs"] != "256" || opts["hashicorp"]["log_store"] != "wal" || opts["hashicorp"]["x"] != "a=b" {
		t.Fatalf("parsed %v", opts)
	}
	for _, bad := range []string{"etcd", "etcd=1", ".k=v", "etcd.=v", "k=v"} {
		if err := ParseOption(opts, bad); err == nil || !strings.HasPrefix(err.Error(), "--opt") {
			t.Errorf("ParseOption(%q) = %v, want a --opt error", bad, err)
		}
	}
}

func TestValidate(t *testing.T) {
	valid := Default()
	valid.Impls = []string{"hashicorp", "etcd"}
	tests := []struct {
		name   string
		mutate func(*Spec)
		field  string // "" = valid
	}{
		{"default with impls", func(*Spec) {}, ""},
		{"no impl", func(s *Spec) { s.Impls = nil }, "--impl"},
		{"duplicate impl", func(s *Spec) { s.Impls = []string{"etcd", "etcd"} }, "--impl"},
		{"zero nodes", func(s *Spec) { s.Nodes = 0 }, "--nodes"},
		{"too many nodes", func(s *Spec) { s.Nodes = MaxNodes + 1 }, "--nodes"},
		{"bad storage", func(s *Spec) { s.Storage = "ssd" }, "--storage"},
		{"negative rate", func(s *Spec) { s.Rate = -1 }, "--rate"},
		{"unthrottled", func(s *Spec) { s.Rate = 0 }, ""},
		{"zero payload", func(s *Spec) { s.PayloadBytes = 0 }, "--payload"},
		{"payload above max", func(s *Spec) { s.PayloadBytes = MaxPayloadBytes + 1 }, "--payload"},
		{"payload at max", func(s *Spec) { s.PayloadBytes = MaxPayloadBytes }, ""},
		{"zero duration", func(s *Spec) { s.Duration = 0 }, "--duration"},
		{"negative warmup", func(s *Spec) { s.Warmup = -time.Second }, "--warmup"},
		{"interval above duration", func(s *Spec) { s.Interval = time.Minute }, "--interval"},
		{"zero repeat", func(s *Spec) { s.Repeat = 0 }, "--repeat"},
		{"thread count too big", func(s *Spec) { s.Threads = []int{MaxThreads + 1} }, "--threads"},
		{"option for absent impl", func(s *Spec) { s.Options = map[string]adapter.Options{"dragonboat": {"a": "b"}} }, "--opt"},
		{"cpus per node", func(s *Spec) { s.CPUs = []int{0, 0} }, "--cpus"},
		{"cpu out of range", func(s *Spec) { s.CPUs = []int{0, 0, 4096} }, "--cpus"},
		{"no fault", func(s *Spec) { s.Faults = nil }, "--fault"},
		{"fault twice", func(s *Spec) { s.Faults = []faultspec.Spec{faultspec.None, faultspec.None} }, "--fault"},
		{"fault on absent node", func(s *Spec) { s.Faults = []faultspec.Spec{mustFault("pause:node:4")} }, "--fault"},
		{"fault window too long", func(s *Spec) { s.Faults = []faultspec.Spec{mustFault("pause,at=15s,for=10s")} }, "--fault"},
		{"fault on a follower of one node", func(s *Spec) { s.Nodes = 1; s.Faults = []faultspec.Spec{mustFault("pause")} }, "--fault"},
		{"faults", func(s *Spec) { s.Faults = []faultspec.Spec{faultspec.None, mustFault("cpu-slow")} }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := valid
			tc.mutate(&s)
			err := s.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("err = %v, want a %s error", err, tc.field)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

func TestPointsInterleaveBackends(t *testing.T) {
	s := Default()
	s.Impls = []string{"a", "b"}
	s.Threads = []int{2, 8}
	s.Repeat = 2
	var got []string
	for i, p := range s.Points() {
		if p.Index != i+1 {
			t.Fatalf("point %d has index %d", i, p.Index)
		}
		got = append(got, p.ID)
	}
	want := []string{"a/none/t2/r1", "b/none/t2/r1", "a/none/t8/r1", "b/none/t8/r1", "a/none/t2/r2", "b/none/t2/r2", "a/none/t8/r2", "b/none/t8/r2"}
	if !slices.Equal(got, want) {
		t.Fatalf("points %v, want %v", got, want)
	}
}

func mustFault(s string) faultspec.Spec {
	f, err := faultspec.Parse(s)
	if err != nil {
		panic(err)
	}
	return f
}
