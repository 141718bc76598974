package cluster

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in
// /proc/PID/stat. It is 100 on every Linux architecture Go supports (Go
// cannot ask sysconf without cgo); a tick is 10 ms, fine over windows of
// seconds.
const clockTicks = 100

// Usage is what the kernel says a process has used so far.
type Usage struct {
	CPU        time.Duration // user + system, every thread
	WriteBytes uint64        // bytes sent to the storage layer (/proc/PID/io)
	PeakRSS    uint64        // VmHWM
}

// ProcUsage reads a process's counters from /proc. CPU comes from
// /proc/PID/stat and is required; the others are zero where unreadable.
func ProcUsage(pid int) (Usage, error) {
	var u Usage
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of the whole line, 12 and 13 after ")".
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(f) < 13 {
		return u, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	u.CPU = time.Duration(ut+st) * time.Second / clockTicks
	u.WriteBytes = procField(fmt.Sprintf("/proc/%d/io", pid), "write_bytes:")
	u.PeakRSS = procField(fmt.Sprintf("/proc/%d/status", pid), "VmHWM:") * 1024 // reported in kB
	return u, nil
}

// procField reads the number after name in a "name: value" /proc file, 0
// if absent.
func procField(path, name string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name); ok {
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
