package faultspec

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    string // canonical String(); "" when an error is expected
		wantErr string
	}{
		{in: "none", want: "none"},
		{in: "cpu-slow", want: "cpu-slow:follower,period=1s,quota=5%"},
		{in: "cpu-slow:follower,quota=5%,period=1s", want: "cpu-slow:follower,period=1s,quota=5%"},
		{in: "cpu-slow:leader,quota=0.05", want: "cpu-slow:leader,period=1s,quota=5%"},
		{in: "pause:node:3,at=5s,for=10s", want: "pause:node:3,at=5s,for=10s"},
		{in: "kill:leader,restart_after=2s", want: "kill:leader,restart_after=2s"},
		{in: "memory:followers,limit=128MiB,oom_kill=false", want: "memory:followers,limit=128MiB,oom_kill=false"},
		{in: "net-delay:follower,delay=10ms", want: "net-delay:follower,delay=10ms,jitter=0s"},
		{in: "meteor", wantErr: `unknown kind "meteor"`},
		{in: "none:leader", wantErr: "none takes no target"},
		{in: "cpu-slow:boss", wantErr: `target "boss"`},
		{in: "cpu-slow:node:0", wantErr: `target "node:0"`},
		{in: "cpu-slow,quota=0%", wantErr: "quota=0%"},
		{in: "cpu-slow,quota=150%", wantErr: "at most 100%"},
		{in: "cpu-slow,quota", wantErr: "want NAME=VALUE"},
		{in: "cpu-slow,speed=3", wantErr: `no parameter "speed"; it takes quota, period, at, for`},
		{in: "cpu-slow,quota=5%,quota=6%", wantErr: "given twice"},
		{in: "kill:followers", wantErr: "acts on one node"},
		{in: "pause,at=soon", wantErr: "at=soon"},
		{in: "memory,limit=lots", wantErr: "limit=lots"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			s, err := Parse(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "--fault ") {
					t.Fatalf("Parse(%q) = %v, %v; want an error containing %q", tc.in, s, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.String(); got != tc.want {
				t.Fatalf("String() = %q, want %q", got, tc.want)
			}
			again, err := Parse(s.String())
			if err != nil || again.String() != s.String() {
				t.Fatalf("canonical form does not round-trip: %q -> %v, %v", s.String(), again, err)
			}
		})
	}
}

// One fault has one name: every spelling of the same fault, defaults left
// out or written, values in any accepted form, gives the same String.
func TestCanonicalName(t *testing.T) {
	tests := []struct {
		want     string
		spelling []string
	}{
		{"none", []string{"none"}},
		{"cpu-slow:follower,period=1s,quota=5%", []string{"cpu-slow", "cpu-slow:follower", "cpu-slow:follower,quota=5%",
			"cpu-slow:follower,quota=5%,period=1s", "cpu-slow,period=1000ms,quota=0.05", "cpu-slow,quota=5.0%"}},
		{"cpu-slow:leader,period=100ms,quota=0.5%", []string{"cpu-slow:leader,quota=0.005,period=0.1s"}},
		{"cpu-contention:follower,cpu=0,shares=64", []string{"cpu-contention", "cpu-contention,shares=064"}},
		{"memory:follower,limit=64MiB,oom_kill=true", []string{"memory", "memory,limit=65536k", "memory,oom_kill=1,limit=64MB"}},
		{"memory:follower,limit=1000,oom_kill=false", []string{"memory,limit=1000b,oom_kill=F"}},
		{"disk-slow:follower,read_bps=0,read_iops=0,write_bps=0,write_iops=100", []string{"disk-slow"}},
		{"disk-contention:node:2,block=4KiB,writers=1", []string{"disk-contention:node:2", "disk-contention:node:2,block=4096"}},
		{"pause:follower,at=5s,for=10s", []string{"pause,for=10s,at=5s", "pause:follower,at=5000ms,for=10s"}},
		{"pause:follower", []string{"pause,at=0s"}},
		{"kill:leader,restart_after=0s", []string{"kill:leader", "kill:leader,restart_after=0"}},
		{"net-delay:followers,delay=10ms,jitter=0s", []string{"net-delay:followers"}},
		{"net-loss:follower,loss=1%", []string{"net-loss", "net-loss,loss=0.01"}},
		{"net-bandwidth:follower,rate=1MiB", []string{"net-bandwidth", "net-bandwidth,rate=1024KiB"}},
		{"partition:leader", []string{"partition:leader"}},
	}
	for _, tc := range tests {
		for _, in := range tc.spelling {
			if got := CanonicalName(in); got != tc.want {
				t.Errorf("CanonicalName(%q) = %q, want %q", in, got, tc.want)
			}
		}
	}
	// A name this build cannot parse is kept: older results may hold a
	// kind that no longer exists.
	for _, in := range []string{"meteor:leader", "", "cpu-slow,quota=lots"} {
		if got := CanonicalName(in); got != in {
			t.Errorf("CanonicalName(%q) = %q, want it unchanged", in, got)
		}
	}
}

// Parse(String(x)) == x for every kind, with defaults and with every
// parameter set to something else, so the canonical form loses nothing.
func TestCanonicalRoundTripEveryKind(t *testing.T) {
	other := map[string]string{"percent": "12.5%", "fraction": "0.25", "duration": "1500ms", "bytes": "3MiB", "int": "7", "bool": "false"}
	for _, name := range KindNames() {
		k := Kinds[name]
		ins := []string{name}
		if name != KindNone {
			long := name + ":node:2"
			for _, p := range k.Params {
				if other[p.Type] == "" {
					t.Fatalf("kind %s parameter %s: type %q has no test value", name, p.Name, p.Type)
				}
				long += "," + p.Name + "=" + other[p.Type]
			}
			ins = append(ins, long, long+",at=2s,for=3s")
		}
		for _, in := range ins {
			x, err := Parse(in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", in, err)
			}
			if name != KindNone && len(x.Params) != len(k.Params) {
				t.Errorf("Parse(%q).Params = %v: want every parameter of %s", in, x.Params, name)
			}
			y, err := Parse(x.String())
			if err != nil {
				t.Fatalf("Parse(%q): %v", x.String(), err)
			}
			if !reflect.DeepEqual(x, y) {
				t.Errorf("Parse(String(x)) != x for %q:\n x = %#v\n y = %#v", in, x, y)
			}
			if y.String() != x.String() {
				t.Errorf("String not idempotent for %q: %q then %q", in, x.String(), y.String())
			}
			if !reflect.DeepEqual(x.Canonical(), x) {
				t.Errorf("Canonical of a parsed spec changed it: %#v", x)
			}
		}
	}
	// A spec built without Parse (as meta.json decodes one) names itself
	// the same way.
	built := Spec{Kind: "cpu-slow", Target: Target{Role: RoleFollower}}
	if got := built.String(); got != "cpu-slow:follower,period=1s,quota=5%" {
		t.Errorf("String of a spec without params = %q", got)
	}
}

func TestParamDefaults(t *testing.T) {
	s, err := Parse("cpu-slow:follower,at=2s")
	if err != nil {
		t.Fatal(err)
	}
	if s.Param("quota") != "5%" || s.Param("period") != "1s" || s.At != 2*time.Second || s.For != 0 {
		t.Fatalf("defaults: quota %q period %q at %v for %v", s.Param("quota"), s.Param("period"), s.At, s.For)
	}
}

func TestParseBytesAndPercent(t *testing.T) {
	bytes := map[string]int64{"512": 512, "64k": 64 << 10, "64KiB": 64 << 10, "1MB": 1 << 20, "2GiB": 2 << 30}
	for in, want := range bytes {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-5", "x", "5 parsecs"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) accepted", bad)
		}
	}
	if f, err := ParsePercent("5%"); err != nil || f != 0.05 {
		t.Errorf("ParsePercent(5%%) = %v, %v", f, err)
	}
}
