package load

import (
	"syscall"
	"time"
)

// prSetTimerSlack is prctl's PR_SET_TIMERSLACK.
const prSetTimerSlack = 29

// preciseSleep sleeps d in the kernel with a timer slack of one nanosecond
// (the default, 50 µs, would add that much to every wake-up). The slack is
// a property of the calling thread, which keeps it: harmless, as it only
// makes that thread's timed waits more punctual.
func preciseSleep(d time.Duration) {
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, 1, 0)
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}
