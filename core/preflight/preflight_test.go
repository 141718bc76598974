package preflight

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/reports"
)

// fakeRoot writes files (path relative to the root -> content) under a
// temporary directory standing in for /sys or /proc.
func fakeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestSysChecks runs the sysfs checks against fake /sys trees.
func TestSysChecks(t *testing.T) {
	const cpu = "devices/system/cpu/"
	cases := []struct {
		name  string
		check func(context.Context, Options) Finding
		files map[string]string
		want  reports.Severity
		found string // a substring of Found
	}{
		{"governor performance", checkGovernor, map[string]string{
			cpu + "cpu0/cpufreq/scaling_governor": "performance\n", cpu + "cpu1/cpufreq/scaling_governor": "performance\n"},
			reports.SeverityOK, "performance on cpu0,cpu1"},
		{"governor mixed", checkGovernor, map[string]string{
			cpu + "cpu0/cpufreq/scaling_governor": "performance\n", cpu + "cpu10/cpufreq/scaling_governor": "powersave\n",
			cpu + "cpu2/cpufreq/scaling_governor": "powersave\n", cpu + "cpufreq/boost": "0\n"},
			reports.SeverityWarn, "performance on cpu0; powersave on cpu2,cpu10"},
		{"governor not readable", checkGovernor, map[string]string{cpu + "cpu0/online": "1\n"},
			reports.SeverityOK, "not readable here"},
		{"intel turbo on", checkTurbo, map[string]string{cpu + "intel_pstate/no_turbo": "0\n"}, reports.SeverityWarn, "turbo on"},
		{"intel turbo off", checkTurbo, map[string]string{cpu + "intel_pstate/no_turbo": "1\n"}, reports.SeverityOK, "turbo off"},
		{"boost on", checkTurbo, map[string]string{cpu + "cpufreq/boost": "1\n"}, reports.SeverityWarn, "boost on"},
		{"boost off", checkTurbo, map[string]string{cpu + "cpufreq/boost": "0\n"}, reports.SeverityOK, "boost off"},
		{"turbo not readable", checkTurbo, nil, reports.SeverityOK, "not readable here"},
		{"smt on", checkSMT, map[string]string{cpu + "smt/active": "1\n", cpu + "smt/control": "on\n"}, reports.SeverityWarn, "active = 1 (control on)"},
		{"smt off", checkSMT, map[string]string{cpu + "smt/active": "0\n", cpu + "smt/control": "off\n"}, reports.SeverityOK, "active = 0"},
		{"smt not readable", checkSMT, nil, reports.SeverityOK, "not readable here"},
		{"thp always", checkTHP, map[string]string{"kernel/mm/transparent_hugepage/enabled": "[always] madvise never\n"}, reports.SeverityWarn, "pages: always"},
		{"thp madvise", checkTHP, map[string]string{"kernel/mm/transparent_hugepage/enabled": "always [madvise] never\n"}, reports.SeverityOK, "pages: madvise"},
		{"thp never", checkTHP, map[string]string{"kernel/mm/transparent_hugepage/enabled": "always madvise [never]\n"}, reports.SeverityOK, "pages: never"},
		{"clock tsc", checkClocksource, map[string]string{"devices/system/clocksource/clocksource0/current_clocksource": "tsc\n"}, reports.SeverityOK, "tsc"},
		{"clock hpet", checkClocksource, map[string]string{
			"devices/system/clocksource/clocksource0/current_clocksource":   "hpet\n",
			"devices/system/clocksource/clocksource0/available_clocksource": "tsc hpet acpi_pm\n"},
			reports.SeverityWarn, "hpet (available: tsc hpet acpi_pm)"},
		{"clock not readable", checkClocksource, nil, reports.SeverityOK, "not readable here"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{SysRoot: fakeRoot(t, tc.files)}.withDefaults()
			f := tc.check(t.Context(), o)
			if f.Severity != tc.want || !strings.Contains(f.Found, tc.found) {
				t.Errorf("got %s %q, want %s and found containing %q", f.Severity, f.Found, tc.want, tc.found)
			}
			if f.Means == "" || (f.Severity != reports.SeverityOK) != (f.Change != "") {
				t.Errorf("finding %+v: every finding says what it means, and what to change exactly when it is not ok", f)
			}
		})
	}
}

func TestCores(t *testing.T) {
	cases := []struct {
		cpus, nodes int
		want        reports.Severity
	}{
		{2, 3, reports.SeverityWarn},   // this project's machine: nodes share CPUs
		{3, 3, reports.SeverityWarn},   // a core per node but none left for raftcmp and its client
		{4, 3, reports.SeverityOK},     // a core each, and one for raftcmp
		{64, 9, reports.SeverityOK},    // plenty
		{2, 0, reports.SeverityOK},     // every node on another host
		{1, 1, reports.SeverityWarn},   // one node and the client on one CPU
		{16, 15, reports.SeverityOK},   // exactly nodes plus one
		{16, 16, reports.SeverityWarn}, // one short
	}
	for _, tc := range cases {
		f := checkCores(t.Context(), Options{CPUs: tc.cpus, Nodes: tc.nodes})
		if f.Severity != tc.want {
			t.Errorf("%d CPUs, %d nodes: %s (%s), want %s", tc.cpus, tc.nodes, f.Severity, f.Found, tc.want)
		}
	}
}

func TestSwap(t *testing.T) {
	const swapsHeader = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
	cases := []struct {
		name    string
		meminfo string
		swaps   string
		want    reports.Severity
		found   string
	}{
		{"none", "MemTotal: 1000 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n", swapsHeader, reports.SeverityOK, "no swap"},
		{"some", "MemTotal: 1000 kB\nSwapTotal: 2097152 kB\nSwapFree: 1048576 kB\n",
			swapsHeader + "/swapfile                               file\t\t2097152\t\t1048576\t\t-2\n",
			reports.SeverityWarn, "swap 2048 MiB on /swapfile, 1024 MiB in use"},
		{"meminfo without swap", "MemTotal: 1000 kB\n", swapsHeader, reports.SeverityOK, "not readable here"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			proc := fakeRoot(t, map[string]string{"meminfo": tc.meminfo, "swaps": tc.swaps})
			f := checkSwap(t.Context(), Options{ProcRoot: proc})
			if f.Severity != tc.want || !strings.Contains(f.Found, tc.found) {
				t.Errorf("got %s %q, want %s and found containing %q", f.Severity, f.Found, tc.want, tc.found)
			}
		})
	}
}

func TestDataDir(t *testing.T) {
	disk := t.TempDir()
	if reports.FSType(disk) == "tmpfs" {
		t.Skip("the temporary directory is on tmpfs here: no disk file system to compare with")
	}
	shm := "/dev/shm"
	if reports.FSType(shm) != "tmpfs" {
		t.Skip("no tmpfs at /dev/shm")
	}
	cases := []struct {
		storage adapter.Storage
		dir     string
		want    reports.Severity
	}{
		{adapter.StorageDisk, disk, reports.SeverityOK},
		{adapter.StorageDisk, filepath.Join(disk, "not", "yet"), reports.SeverityOK}, // judged by its parent
		{adapter.StorageDisk, shm, reports.SeverityBad},
		{adapter.StorageTmpfs, shm, reports.SeverityOK},
		{adapter.StorageTmpfs, disk, reports.SeverityBad},
		{adapter.StorageMemory, shm, reports.SeverityOK},
		{adapter.StorageMemory, disk, reports.SeverityOK},
	}
	for _, tc := range cases {
		f := checkDataDir(t.Context(), Options{Storage: tc.storage, DataDir: tc.dir})
		if f.Severity != tc.want {
			t.Errorf("storage %s in %s: %s (%s), want %s", tc.storage, tc.dir, f.Severity, f.Found, tc.want)
		}
	}
}

func TestBusyFinding(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration, steal float64, procs map[int]procSample) sample {
		return sample{procs: procs, steal: steal, at: t0.Add(d)}
	}
	// self is 100; 101 its child, 102 its grandchild; 200 and 300 outside.
	quiet := map[int]procSample{
		100: {"raftcmp", 1, 7, 10}, 101: {"raftcmp-plugin", 100, 8, 5}, 102: {"sh", 101, 9, 1},
		200: {"go", 1, 5, 50}, 300: {"sshd", 1, 6, 3},
	}
	later := func(cpu map[int]float64) map[int]procSample {
		out := map[int]procSample{}
		for pid, p := range quiet {
			p.cpu += cpu[pid]
			out[pid] = p
		}
		return out
	}
	cases := []struct {
		name   string
		after  sample
		want   reports.Severity
		found  []string // substrings of Found
		absent []string // names that must not be named
	}{
		{"quiet", at(time.Second, 0, later(map[int]float64{300: 0.01})), reports.SeverityOK, []string{"0.01 of 2 CPUs"}, []string{"sshd"}},
		{"raftcmp's own busy", at(time.Second, 0, later(map[int]float64{100: 1, 101: 0.9, 102: 0.5})), reports.SeverityOK, nil, []string{"raftcmp (pid", "raftcmp-plugin", "sh (pid"}},
		{"one outside process, a little", at(time.Second, 0, later(map[int]float64{200: 0.2})), reports.SeverityWarn, []string{"go (pid 200) 20%"}, nil},
		{"one outside process, half a core of two", at(time.Second, 0, later(map[int]float64{200: 0.5})), reports.SeverityBad, []string{"go (pid 200) 50%"}, nil},
		{"a new process", at(time.Second, 0, func() map[int]procSample {
			m := later(nil)
			m[400] = procSample{"stress", 1, 0, 0.8}
			return m
		}()), reports.SeverityBad, []string{"stress (pid 400) 80%"}, nil},
		{"steal", at(time.Second, 0.2, later(nil)), reports.SeverityWarn, []string{"steal 10.0%"}, nil},
		{"a renamed worker counts its sample only", at(time.Second, 0, func() map[int]procSample {
			m := later(map[int]float64{200: 0.01})
			p := m[200]
			p.comm = "kworker/u8:2-writeback"
			m[200] = p
			return m
		}()), reports.SeverityOK, []string{"0.01 of 2 CPUs"}, nil},
		{"a reused pid counts from its start", at(time.Second, 0, func() map[int]procSample {
			m := later(nil)
			m[300] = procSample{"sshd", 1, 99, 0.3}
			return m
		}()), reports.SeverityWarn, []string{"sshd (pid 300) 30%"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := busyFinding(at(0, 0, quiet), tc.after, 2, 100)
			if f.Severity != tc.want {
				t.Errorf("severity %s (%s), want %s", f.Severity, f.Found, tc.want)
			}
			for _, s := range tc.found {
				if !strings.Contains(f.Found, s) {
					t.Errorf("found %q, want it to contain %q", f.Found, s)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(f.Found, s) {
					t.Errorf("found %q names %q, which is raftcmp's own or idle", f.Found, s)
				}
			}
		})
	}
}

func TestWorst(t *testing.T) {
	f := func(s ...reports.Severity) []Finding {
		var out []Finding
		for _, x := range s {
			out = append(out, Finding{Severity: x})
		}
		return out
	}
	cases := []struct {
		in   []Finding
		want reports.Severity
	}{
		{nil, reports.SeverityOK},
		{f(reports.SeverityOK, reports.SeverityWarn), reports.SeverityWarn},
		{f(reports.SeverityBad, reports.SeverityWarn, reports.SeverityOK), reports.SeverityBad},
	}
	for _, tc := range cases {
		if got := Worst(tc.in); got != tc.want {
			t.Errorf("Worst(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestThisMachine runs every check on the real machine: one finding per
// check, and the co-location of 3 nodes and raftcmp named where the
// machine has fewer than 4 CPUs (as this project's 2-core machine does).
func TestThisMachine(t *testing.T) {
	fs := Check(t.Context(), Options{Nodes: 3})
	if len(fs) != len(checks) {
		t.Fatalf("%d findings for %d checks", len(fs), len(checks))
	}
	for i, f := range fs {
		t.Logf("%-5s %-14s %s", f.Severity, f.Check, f.Found)
		if f.Check != checks[i].name || f.Found == "" || f.Means == "" {
			t.Errorf("finding %d: %+v, want check %s with what was found and what it means", i, f, checks[i].name)
		}
	}
	if cores := fs[0]; runtime.NumCPU() < 4 {
		if cores.Severity != reports.SeverityWarn || !strings.Contains(cores.Found, "share CPUs") {
			t.Errorf("cores on a %d-CPU machine for 3 nodes: %+v, want the co-location named", runtime.NumCPU(), cores)
		}
	}
}

// TestBusyProcessSeen starts a process spinning on a CPU outside raftcmp's
// tree (Self names no process) and finds it named.
func TestBusyProcessSeen(t *testing.T) {
	hog := exec.Command("sh", "-c", "while :; do :; done")
	if err := hog.Start(); err != nil {
		t.Skipf("no sh to spin: %v", err)
	}
	t.Cleanup(func() {
		hog.Process.Kill()
		hog.Wait()
	})
	f := checkBusy(t.Context(), Options{Self: math.MaxInt32}.withDefaults())
	if f.Severity == reports.SeverityOK || !strings.Contains(f.Found, "(pid "+strconv.Itoa(hog.Process.Pid)+")") {
		t.Errorf("a spinning process outside raftcmp: %s %q, want it named", f.Severity, f.Found)
	}
}
