package faults

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/raftcmp/raftcmp/core/cluster"
)

// diskContention runs competing writers that write and fdatasync blocks on
// the file system holding the target's data directory, contending for the
// same device. Effect: the bytes the writers got written, and their rate.
type diskContention struct {
	dir     string
	block   int64
	writers int
	hogs    []*exec.Cmd
	started time.Time
	effect  Effect
}

func newDiskContention(spec Spec, targets []*cluster.Member) (Fault, error) {
	block, _ := ParseBytes(spec.Param("block"))
	writers, _ := strconv.Atoi(spec.Param("writers"))
	return &diskContention{dir: targets[0].DataDir, block: block, writers: max(writers, 1), effect: Effect{}}, nil
}

func (d *diskContention) Inject(ctx context.Context) error {
	d.started = time.Now()
	for i := 0; i < d.writers; i++ {
		h, err := startHog("disk:"+d.dir, HogEnv+"_BLOCK="+strconv.FormatInt(d.block, 10))
		if err != nil {
			return err
		}
		d.hogs = append(d.hogs, h)
	}
	return nil
}

func (d *diskContention) Revert(ctx context.Context) error {
	if len(d.hogs) == 0 {
		return nil
	}
	var written uint64
	for _, h := range d.hogs {
		written += procWriteBytes(h.Process.Pid)
		stopHog(h)
	}
	wall := time.Since(d.started)
	d.effect["writers"] = strconv.Itoa(len(d.hogs))
	d.effect["hog_write_bytes"] = strconv.FormatUint(written, 10)
	d.effect["hog_write_bps"] = strconv.FormatFloat(float64(written)/wall.Seconds(), 'f', 0, 64)
	d.hogs = nil
	return nil
}

func (d *diskContention) Effect() Effect { return d.effect }

// procWriteBytes reads write_bytes (bytes sent to the storage layer) from
// /proc/PID/io, 0 if unreadable.
func procWriteBytes(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}
