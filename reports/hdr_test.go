package reports

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Every point id maps to a file name of its own that needs no quoting,
// and back.
func TestHdrFileRoundTrip(t *testing.T) {
	tests := []struct{ point, want string }{
		{"hashicorp/none/t8/r1", "hdr/hashicorp+none+t8+r1.hlog"},
		{"etcd/cpu-slow:follower,period=1s,quota=5%/t8/r2", "hdr/etcd+cpu-slow%3Afollower,period=1s,quota=5%25+t8+r2.hlog"},
		{"a+b/x y/t1/r1", "hdr/a%2Bb+x%20y+t1+r1.hlog"},
		{"dragonboat/disk-slow:leader,delay=1.5ms/t2/r3", "hdr/dragonboat+disk-slow%3Aleader,delay=1.5ms+t2+r3.hlog"},
	}
	seen := map[string]string{}
	for _, tc := range tests {
		got := HdrFile(tc.point)
		if got != tc.want {
			t.Errorf("HdrFile(%q) = %q, want %q", tc.point, got, tc.want)
		}
		if strings.ContainsAny(strings.TrimPrefix(got, HdrDir+"/"), "/:\\ *?\"<>|'$&;") {
			t.Errorf("HdrFile(%q) = %q has a character that needs quoting or is not portable", tc.point, got)
		}
		if back, err := HdrPoint(got); err != nil || back != tc.point {
			t.Errorf("HdrPoint(%q) = %q, %v; want %q", got, back, err, tc.point)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("%q and %q share %s", other, tc.point, got)
		}
		seen[got] = tc.point
	}
	for _, bad := range []string{"x.csv", "hdr/a%2.hlog", "hdr/a%zz.hlog"} {
		if p, err := HdrPoint(bad); err == nil {
			t.Errorf("HdrPoint(%q) = %q, want an error", bad, p)
		}
	}
}

// A log written by WriteHdrLog reads back, through HdrHistogram's log
// reader, as its intervals added up; the header carries StartTime and
// BaseTime with milliseconds.
func TestWriteHdrLog(t *testing.T) {
	dir := t.TempDir()
	var ivs []HdrInterval
	want := hdrhistogram.New(1, time.Hour.Microseconds(), 3)
	for i, vals := range [][]int64{{100, 200}, {}, {300, 40000}} {
		h := hdrhistogram.NewPacked(1, time.Hour.Microseconds(), 3)
		for _, v := range vals {
			h.RecordValue(v)
			want.RecordValue(v)
		}
		ivs = append(ivs, HdrInterval{Start: time.Duration(i) * time.Second, Length: time.Second, Histogram: h})
	}
	start := time.Date(2026, 11, 25, 13, 0, 0, 250e6, time.UTC)
	rel, err := WriteHdrLog(dir, "etcd/none/t2/r1", start, ivs)
	if err != nil || rel != "hdr/etcd+none+t2+r1.hlog" {
		t.Fatalf("WriteHdrLog = %q, %v", rel, err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"#[StartTime: 1795611600.250 (seconds since epoch), 2026-11-25T13:00:00.25Z]\n", "#[BaseTime: 1795611600.250 (seconds since epoch)]\n", "\n0.000000,1.000000,", "\n1.000000,1.000000,", "\n2.000000,1.000000,0.040"} {
		if !strings.Contains(string(raw), line) {
			t.Errorf("log lacks %q:\n%s", line, raw)
		}
	}
	got, err := ReadHdrLog(filepath.Join(dir, rel))
	if err != nil || !got.Equals(want) {
		t.Fatalf("ReadHdrLog: %v; count %d max %d, want %d, %d", err, got.TotalCount(), got.Max(), want.TotalCount(), want.Max())
	}
}
