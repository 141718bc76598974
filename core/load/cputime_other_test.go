//go:build !unix

package load

import "time"

// cpuTime is not measured here; the benchmark then omits its cores metric.
func cpuTime() time.Duration { return 0 }
