//go:build !linux

package load

import "time"

// preciseSleep falls back to the runtime's sleep where no kernel sleep with
// a settable timer slack is wired in.
func preciseSleep(d time.Duration) { time.Sleep(d) }
