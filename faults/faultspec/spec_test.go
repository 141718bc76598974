package faultspec

import (
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
		{in: "cpu-slow", want: "cpu-slow:follower"},
		{in: "cpu-slow:follower,quota=5%,period=1s", want: "cpu-slow:follower,period=1s,quota=5%"},
		{in: "cpu-slow:leader,quota=0.05", want: "cpu-slow:leader,quota=0.05"},
		{in: "pause:node:3,at=5s,for=10s", want: "pause:node:3,at=5s,for=10s"},
		{in: "kill:leader,restart_after=2s", want: "kill:leader,restart_after=2s"},
		{in: "memory:followers,limit=128MiB,oom_kill=false", want: "memory:followers,limit=128MiB,oom_kill=false"},
		{in: "net-delay:follower,delay=10ms", want: "net-delay:follower,delay=10ms"},
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
