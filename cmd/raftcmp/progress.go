package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/raftcmp/raftcmp/core/experiment"
	"github.com/raftcmp/raftcmp/reports"
)

// newProgress returns the run's observer: on a terminal a live bar (points
// done of total, the current backend, fault and thread count, an ETA from
// the measured point times) with each finished point printed above it;
// otherwise (CI, a log file) one plain line per point event.
func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetWidth(24),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetItsString("points"),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionSetRenderBlankState(true),
		)
	}
	return p
}

// progress reports a run's points as they start and finish.
type progress struct {
	mu  sync.Mutex
	w   io.Writer
	bar *progressbar.ProgressBar // nil when not on a terminal
}

// Println prints a message above the bar, or as a plain line.
func (p *progress) Println(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Clear()
		fmt.Fprintln(p.w, s)
		p.bar.RenderBlank()
		return
	}
	fmt.Fprintln(p.w, s)
}

func (p *progress) PointStarted(pt experiment.Point, total int) {
	if p.bar != nil {
		p.mu.Lock()
		p.bar.Describe(fmt.Sprintf("%s, %s, %d threads, repeat %d", pt.Impl, pt.Fault, pt.Threads, pt.Repeat))
		p.mu.Unlock()
		return
	}
	p.Println(fmt.Sprintf("[%d/%d] %s: fault %s, threads %d, repeat %d ...", pt.Index, total, pt.Impl, pt.Fault, pt.Threads, pt.Repeat))
}

func (p *progress) PointFinished(pt experiment.Point, total int, r reports.Row) {
	var line string
	if r.Status != reports.StatusOK {
		line = fmt.Sprintf("[%d/%d] %s: %s: %s", pt.Index, total, pt.ID, r.Status, r.Error)
	} else {
		effect := ""
		if r.FaultEffect != "" {
			effect = "; fault on node " + r.FaultTargets + ": " + r.FaultEffect
		}
		line = fmt.Sprintf("[%d/%d] %s: %.2f Kops/s, avg %.0f µs, p99 %d µs, %d errors (%.1fs)%s",
			pt.Index, total, pt.ID, r.ThroughputOps/1000, r.LatAvgUs, r.LatP99Us, r.Errors, r.WallS, effect)
	}
	if p.bar != nil {
		p.mu.Lock()
		p.bar.Add(1)
		p.mu.Unlock()
	}
	p.Println(line)
}

// Done removes the bar before the final table is printed.
func (p *progress) Done() {
	if p.bar != nil {
		p.mu.Lock()
		p.bar.Clear()
		p.mu.Unlock()
	}
}
