package faults

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/raftcmp/raftcmp/faults/faultspec"
)

// diskContention (disk-contention) runs competing writers that write and
// fdatasync blocks on the file system holding the target's data directory,
// contending for the same device. Effect: the bytes the writers got
// written, and their rate.
type diskContention struct {
	machine Machine
	dir     string
	block   int64
	writers int
	hogs    []Hog
	started time.Time
	effect  Effect
}

func init() {
	register("disk-contention", mechanism{new: func(b Binding) (Fault, error) {
		block, _ := faultspec.ParseBytes(b.Spec.Param("block"))
		writers, _ := strconv.Atoi(b.Spec.Param("writers"))
		return &diskContention{machine: b.Env.Machine(b.Targets[0].ID), dir: b.Targets[0].DataDir, block: block, writers: max(writers, 1), effect: Effect{}}, nil
	}})
}

func (d *diskContention) Inject(ctx context.Context) error {
	d.started = time.Now()
	for i := 0; i < d.writers; i++ {
		h, err := d.machine.StartHog(ctx, HogSpec{Kind: HogDisk, Dir: d.dir, Block: d.block})
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
	var errs []error
	for _, h := range d.hogs {
		if w, err := h.WriteBytes(); err == nil {
			written += w
		}
		errs = append(errs, h.Stop())
	}
	wall := time.Since(d.started)
	d.effect["writers"] = strconv.Itoa(len(d.hogs))
	d.effect["hog_write_bytes"] = strconv.FormatUint(written, 10)
	d.effect["hog_write_bps"] = strconv.FormatFloat(float64(written)/wall.Seconds(), 'f', 0, 64)
	d.hogs = nil
	return errors.Join(errs...)
}

func (d *diskContention) Effect() Effect { return d.effect }
