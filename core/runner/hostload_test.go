package runner

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/procfs"

	"github.com/raftcmp/raftcmp/faults"
	"github.com/raftcmp/raftcmp/reports"
)

// fakeProc is the part of /proc a hostReader reads, in clock ticks
// (USER_HZ, 100 per second) as the kernel writes them.
type fakeProc struct {
	cpu      [8]uint64 // user nice system idle iowait irq softirq steal
	pressure int64     // PSI cpu some total, µs; -1: no /proc/pressure
	running  uint64
	procs    []fakeTask
}

type fakeTask struct {
	pid, ppid          int
	ticks, reapedTicks uint64 // utime+stime, cutime+cstime
	hog                bool
}

// write lays p out as a /proc under a new directory and opens it.
func (p fakeProc) write(t *testing.T) procfs.FS {
	t.Helper()
	root := t.TempDir()
	put := func(name, content string) {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := p.cpu
	put("stat", fmt.Sprintf("cpu  %d %d %d %d %d %d %d %d 0 0\ncpu0 %d %d %d %d %d %d %d %d 0 0\nintr 0\nctxt 0\nbtime 1700000000\nprocesses 9\nprocs_running %d\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n",
		c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], p.running))
	if p.pressure >= 0 {
		put("pressure/cpu", fmt.Sprintf("some avg10=1.00 avg60=1.00 avg300=1.00 total=%d\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", p.pressure))
	}
	for _, k := range p.procs {
		// utime carries all of ticks, stime 0; cutime all of reapedTicks.
		put(fmt.Sprintf("%d/stat", k.pid), fmt.Sprintf("%d (task) S %d %d %d 0 -1 4194560 0 0 0 0 %d 0 %d 0 20 0 1 0 100 1000000 100 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
			k.pid, k.ppid, k.pid, k.pid, k.ticks, k.reapedTicks))
		env := "PATH=/bin\x00"
		if k.hog {
			env += faults.HogEnv + "=cpu\x00"
		}
		put(fmt.Sprintf("%d/environ", k.pid), env)
	}
	fs, err := procfs.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// The interference of a 10 s window on a 2-CPU machine, from two fixed
// /proc readings: raftcmp is pid 100, its node pid 200; pid 300 is a hog
// that ended in the window (reaped into raftcmp's cutime), 400 a hog
// started in it; 500, a child of raftcmp that is no hog, and 600 are
// outside the experiment.
func TestInterferenceArithmetic(t *testing.T) {
	const self = 100
	// 2000 ticks in all: 1300 in tasks, 50 in interrupts, 150 stolen.
	before := fakeProc{cpu: [8]uint64{1000, 0, 500, 5000, 100, 10, 20, 0}, pressure: 1_000_000, procs: []fakeTask{
		{pid: self, ppid: 1, ticks: 1000, reapedTicks: 50},
		{pid: 200, ppid: self, ticks: 100},
		{pid: 300, ppid: self, ticks: 50, hog: true},
		{pid: 500, ppid: self, ticks: 0},
		{pid: 600, ppid: 1, ticks: 7000},
	}}
	after := fakeProc{cpu: [8]uint64{2000, 0, 800, 5480, 120, 30, 50, 150}, pressure: 3_500_000, procs: []fakeTask{
		{pid: self, ppid: 1, ticks: 1300, reapedTicks: 50 + 150}, // +3 s own, +1.5 s of hog 300's whole life
		{pid: 200, ppid: self, ticks: 500},                       // +4 s
		{pid: 400, ppid: self, ticks: 100, hog: true},            // 1 s, all in the window
		{pid: 500, ppid: self, ticks: 200},
		{pid: 600, ppid: 1, ticks: 7200},
	}}
	// The experiment used 3 + (1.5 − 0.5) + 4 + 1 = 9 s of the 13 s in
	// tasks: 4 s outside over 10 s.
	noPSI := after
	noPSI.pressure = -1
	quiet := after
	quiet.procs = append([]fakeTask{{pid: self, ppid: 1, ticks: 1300 + 400, reapedTicks: 200}}, after.procs[1:]...)
	tests := []struct {
		name         string
		after        fakeProc
		running      []uint64
		wantOutside  float64
		wantPressure *float64
		wantRunning  *float64
		interfered   bool
	}{
		{"outside load", after, []uint64{2, 3, 4}, 0.4, new(0.25), new(3.0), true},
		{"no PSI, no samples", noPSI, nil, 0.4, nil, nil, true},
		{"the experiment used it all", quiet, []uint64{1}, 0, new(0.25), new(1.0), false},
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := hostReader{fs: before.write(t), self: self, nodes: []int{200}}.read(start)
			if err != nil {
				t.Fatal(err)
			}
			b, err := hostReader{fs: tc.after.write(t), self: self, nodes: []int{200}}.read(start.Add(10 * time.Second))
			if err != nil {
				t.Fatal(err)
			}
			var row reports.Row
			interference(a, b, tc.running).fill(&row)
			near := func(name string, got *float64, want float64) {
				if got == nil || math.Abs(*got-want) > 1e-9 {
					t.Errorf("%s = %v, want %v", name, deref(got), want)
				}
			}
			near("host_cpu_util", row.HostCPUUtil, 0.675)
			near("host_steal", row.HostSteal, 0.075)
			near("outside_cpu", row.OutsideCPU, tc.wantOutside)
			for _, o := range []struct {
				name      string
				got, want *float64
			}{{"cpu_pressure", row.CPUPressure, tc.wantPressure}, {"procs_running", row.ProcsRunning, tc.wantRunning}} {
				if o.want == nil && o.got != nil {
					t.Errorf("%s = %v, want empty", o.name, *o.got)
				} else if o.want != nil {
					near(o.name, o.got, *o.want)
				}
			}
			// Steal (7.5%) is over its limit in every case; the flag
			// must follow outside_cpu when steal is quiet.
			row.HostSteal = new(0.0)
			if got := row.Interfered(); got != tc.interfered {
				t.Errorf("Interfered() = %v, want %v", got, tc.interfered)
			}
		})
	}
}

func deref(p *float64) any {
	if p == nil {
		return "empty"
	}
	return *p
}

// A /proc without the required files gives an error naming what was being
// read, and the point's columns stay empty.
func TestHostReaderMissingProc(t *testing.T) {
	fs, err := procfs.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := hostReader{fs: fs, self: 1}
	if _, err := r.read(time.Now()); err == nil || !strings.Contains(err.Error(), "host's CPU counters") {
		t.Errorf("read of an empty /proc: %v", err)
	}
	s := hostSampler{r: r}
	s.begin(time.Now())
	s.sample()
	var row reports.Row
	s.end(time.Now(), &row)
	if row.OutsideCPU != nil || row.HostCPUUtil != nil {
		t.Errorf("columns filled from an unreadable /proc: %+v", row)
	}
}
