package cluster

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// pin applies spec.CPUs, as the original experiment pinned each node to a
// core with taskset.
func (c *Cluster) pin() error {
	for i, cpu := range c.spec.CPUs {
		if i >= len(c.members) || cpu < 0 {
			continue
		}
		if err := c.members[i].Process().Pin(cpu); err != nil {
			return fmt.Errorf("pin node %d to cpu %d: %w", c.members[i].ID, cpu, err)
		}
	}
	return nil
}

// PinProcess restricts every thread of process pid to one CPU. Affinity is
// per thread in Linux and new threads inherit their creator's, so pinning
// every existing thread (repeating until a pass finds no thread left
// unpinned) covers the threads the Go runtime starts later too.
func PinProcess(pid, cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	for pass := 0; pass < 10; pass++ {
		tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
		if err != nil {
			return err
		}
		changed := false
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			var cur unix.CPUSet
			if err := unix.SchedGetaffinity(tid, &cur); err == nil && cur == set {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
				return err
			}
			changed = true
		}
		if !changed {
			return nil
		}
	}
	return fmt.Errorf("threads of process %d kept appearing unpinned", pid)
}

// isAlive reports whether a process with this pid exists and is not a zombie.
func isAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name: "pid (comm) S ...".
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ')' && i+2 < len(b) {
			return b[i+2] != 'Z' && b[i+2] != 'X'
		}
	}
	return true
}
