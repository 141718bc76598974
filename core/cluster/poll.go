package cluster

import (
	"context"
	"fmt"
	"time"
)

// pollInterval is how often Poll re-evaluates its condition: short enough
// that waiting adds little to a point, long enough to cost nothing.
const pollInterval = 10 * time.Millisecond

// Poll evaluates cond until it holds, returns an error, or ctx ends. cond
// returns whether the condition holds and, when it does not, a description
// of the state seen, which the timeout error quotes. This is how raftcmp
// waits for a cluster: on a condition with a deadline, never a fixed sleep.
func Poll(ctx context.Context, what string, cond func(context.Context) (ok bool, state string, err error)) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	last := "not yet checked"
	for {
		ok, state, err := cond(ctx)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		last = state
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last seen: %s)", what, ctx.Err(), last)
		case <-t.C:
		}
	}
}
