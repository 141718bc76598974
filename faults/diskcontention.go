package faults

import (
	"context"
	"os/exec"
	"strconv"
	"time"

	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/faults/faultspec"
)

// diskContention (disk-contention) runs competing writers that write and
// fdatasync blocks on the file system holding the target's data directory,
// contending for the same device. Effect: the bytes the writers got
// written, and their rate.
type diskContention struct {
	dir     string
	block   int64
	writers int
	hogs    []*exec.Cmd
	started time.Time
	effect  Effect
}

func init() {
	register("disk-contention", mechanism{new: func(b Binding) (Fault, error) {
		block, _ := faultspec.ParseBytes(b.Spec.Param("block"))
		writers, _ := strconv.Atoi(b.Spec.Param("writers"))
		return &diskContention{dir: b.Targets[0].DataDir, block: block, writers: max(writers, 1), effect: Effect{}}, nil
	}})
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
		if u, err := cluster.ProcUsage(h.Process.Pid); err == nil {
			written += u.WriteBytes
		}
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
