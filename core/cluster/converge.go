package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
)

// Converge waits until every member has applied the same log: equal applied
// index, equal count of applied payloads and equal digest, with the applied
// index at least the highest commit index any member reported. It returns
// the agreeing statuses, or a *DivergenceError with what each node last
// reported. Call it once the load has stopped.
//
// A node that a fault slowed may be far behind and catch up slowly (some
// libraries send a lagging follower one batch per heartbeat once the load
// stops), so the wait lasts as long as some node's applied index keeps
// advancing: it fails when no node has advanced for stall, or when ctx
// ends. Only a disagreement that outlasts that is reported; a digest
// mismatch at equal applied index is the signature of a lost or reordered
// write.
func (c *Cluster) Converge(ctx context.Context, stall time.Duration) ([]adapter.Status, error) {
	var last []adapter.Status
	var lastErrs []error
	progress := map[uint64]uint64{}
	lastProgress := time.Now()
	err := Poll(ctx, "every node to apply the same log", func(ctx context.Context) (bool, string, error) {
		st, errs := c.Statuses(ctx)
		if ctx.Err() != nil {
			return false, "", nil // keep what the last complete poll saw
		}
		last, lastErrs = st, errs
		for i, s := range st {
			if errs[i] == nil && s.Applied > progress[s.ID] {
				progress[s.ID] = s.Applied
				lastProgress = time.Now()
			}
		}
		ok, why := false, ""
		if err := errors.Join(lastErrs...); err != nil {
			if err := exitedError(c, err); err != nil {
				return false, "", err
			}
			why = err.Error()
		} else {
			ok, why = Converged(st)
		}
		if !ok && time.Since(lastProgress) > stall {
			return false, why, errStalled
		}
		return ok, why, nil
	})
	if err != nil {
		if (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errStalled)) && last != nil {
			return last, &DivergenceError{Statuses: last, Errs: lastErrs}
		}
		return last, err
	}
	return last, nil
}

var errStalled = errors.New("no node advanced")

// Converged reports whether nodes reporting st have applied the same log:
// equal applied index, payload count and digest, and nobody behind the
// highest commit index any of them reported.
func Converged(st []adapter.Status) (bool, string) {
	var commit uint64
	for _, s := range st {
		commit = max(commit, s.Commit)
	}
	for _, s := range st {
		if s.Applied < commit {
			return false, fmt.Sprintf("node %d applied %d of commit %d", s.ID, s.Applied, commit)
		}
		if s.Applied != st[0].Applied || s.AppliedPayloads != st[0].AppliedPayloads || s.Digest != st[0].Digest {
			return false, fmt.Sprintf("node %d differs from node %d", s.ID, st[0].ID)
		}
	}
	return true, ""
}

// DivergenceError says that the nodes did not converge on one applied log:
// the safety check's failure.
type DivergenceError struct {
	Statuses []adapter.Status
	Errs     []error
}

// Violation reports whether two nodes applied the same log index with
// different payload counts or digests: a lost or reordered write. When it
// is false, the nodes merely did not catch up in time (a liveness problem,
// also a failed point, but not a safety violation).
func (e *DivergenceError) Violation() bool {
	for i, a := range e.Statuses {
		for j, b := range e.Statuses {
			if i < j && e.ok(i) && e.ok(j) && a.Applied == b.Applied && (a.Digest != b.Digest || a.AppliedPayloads != b.AppliedPayloads) {
				return true
			}
		}
	}
	return false
}

func (e *DivergenceError) ok(i int) bool { return i >= len(e.Errs) || e.Errs[i] == nil }

func (e *DivergenceError) Error() string {
	var b strings.Builder
	if e.Violation() {
		b.WriteString("safety: nodes applied different logs:")
	} else {
		b.WriteString("safety check incomplete: nodes did not catch up to the same log in time:")
	}
	for i, s := range e.Statuses {
		if !e.ok(i) {
			fmt.Fprintf(&b, " node %d: %v;", s.ID, e.Errs[i])
			continue
		}
		fmt.Fprintf(&b, " node %d applied index %d, %d payloads, digest %016x;", s.ID, s.Applied, s.AppliedPayloads, s.Digest)
	}
	return strings.TrimSuffix(b.String(), ";")
}
