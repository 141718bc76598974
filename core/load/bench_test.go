package load

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// benchmarkNoop runs s against a proposer that returns at once, so the
// figures are the generator's own: its ceiling (ops/s), its CPU per second
// of load (cores, where the OS reports it), its allocations per proposal
// and, in the open loop, how late it sends (the latencies, as the proposer
// takes no time). Each iteration is one run of s.Duration; ns/op is per run.
func benchmarkNoop(b *testing.B, s Spec) {
	noop := func(context.Context, []byte) error { return nil }
	var ops, issued, queued, unsent, mallocs uint64
	var measured, cpu time.Duration
	lat := NewLatencyHistogram()
	var ms runtime.MemStats
	for b.Loop() {
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		cpu0 := cpuTime()
		r, err := Run(context.Background(), s, unpositioned(noop))
		if err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime() - cpu0
		runtime.ReadMemStats(&ms)
		mallocs += ms.Mallocs - before
		ops += r.Ops
		issued += r.Issued
		queued += r.Queued
		unsent += r.Unsent
		measured += r.Measured
		lat.Merge(r.Latency)
	}
	run := measured + time.Duration(b.N)*s.Warmup
	b.ReportMetric(float64(ops)/measured.Seconds(), "ops/s")
	b.ReportMetric(float64(mallocs)/float64(ops), "mallocs/op")
	if cpu > 0 {
		b.ReportMetric(cpu.Seconds()/run.Seconds(), "cores")
	}
	if s.Loop == LoopOpen {
		b.ReportMetric(100*float64(queued)/float64(issued), "%queued")
		b.ReportMetric(100*float64(unsent)/float64(issued), "%unsent")
		b.ReportMetric(float64(lat.ValueAtQuantile(50)), "p50-µs")
		b.ReportMetric(float64(lat.ValueAtQuantile(99)), "p99-µs")
	}
}

// BenchmarkClosedLoopNoop is the closed loop's ceiling: 8 threads, no
// throttle.
func BenchmarkClosedLoopNoop(b *testing.B) {
	benchmarkNoop(b, Spec{Threads: 8, PayloadBytes: 64, Warmup: 100 * time.Millisecond, Duration: time.Second})
}

// BenchmarkOpenLoopNoop is the open loop, default cap, at rates from
// modest to a million requests a second (can the generator keep its
// schedule, how late, at what CPU cost?) and at one no generator here could
// keep (its ceiling: every request late, the window's all unsent as the
// warm-up's backlog is still being sent).
func BenchmarkOpenLoopNoop(b *testing.B) {
	for _, bc := range []struct {
		name string
		rate float64
	}{{"rate=10k", 1e4}, {"rate=100k", 1e5}, {"rate=1M", 1e6}, {"rate=100M", 1e8}} {
		b.Run(bc.name, func(b *testing.B) {
			benchmarkNoop(b, Spec{Loop: LoopOpen, Threads: 8, Rate: bc.rate, PayloadBytes: 64, Warmup: 100 * time.Millisecond, Duration: time.Second})
		})
	}
}
