package load

import (
	"context"
	"testing"
	"time"
)

func BenchmarkClosedBaseline(b *testing.B) {
	for i := 0; i < b.N; i++ {
		r, err := Run(context.Background(), Spec{Threads: 8, PayloadBytes: 64, Duration: time.Second}, func(context.Context, []byte) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(r.Throughput(), "ops/s")
	}
}
