package faults

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
)

// kill SIGKILLs its target, as a crash would, and with restart_after > 0
// restarts it on its data directory after that delay. Effect: the time from
// the kill until a leader is serving again (a new one if the leader was
// killed), and with a restart, the time from the restart until the node has
// applied everything committed when it came back.
type kill struct {
	c            *cluster.Cluster
	target       *cluster.Member
	restartAfter time.Duration

	mu       sync.Mutex
	killedAt time.Time
	effect   Effect
	done     chan struct{} // closed when the recovery watcher ends
	cancel   context.CancelFunc
	restart  error
}

func init() {
	register("kill", mechanism{new: func(b Binding) (Fault, error) {
		d, _ := time.ParseDuration(b.Spec.Param("restart_after"))
		return &kill{c: b.Cluster, target: b.Targets[0], restartAfter: d, effect: Effect{}}, nil
	}})
}

func (k *kill) Inject(ctx context.Context) error {
	k.mu.Lock()
	k.killedAt = time.Now()
	k.mu.Unlock()
	if err := k.c.KillMember(k.target.ID); err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	k.cancel = cancel
	k.done = make(chan struct{})
	go k.watch(wctx)
	return nil
}

// watch measures recovery and performs the restart, until Revert.
func (k *kill) watch(ctx context.Context) {
	defer close(k.done)
	if err := k.c.WaitReady(ctx); err == nil {
		k.set("leader_back_s", seconds(time.Since(k.killedAt)))
	}
	if k.restartAfter == 0 {
		return
	}
	t := time.NewTimer(time.Until(k.killedAt.Add(k.restartAfter)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	restarted := time.Now()
	if err := k.c.RestartMember(ctx, k.target.ID); err != nil {
		k.mu.Lock()
		k.restart = err
		k.mu.Unlock()
		return
	}
	var goal uint64
	err := cluster.Poll(ctx, fmt.Sprintf("node %d to catch up", k.target.ID), func(ctx context.Context) (bool, string, error) {
		st, errs := k.c.Statuses(ctx)
		var mine *adapter.Status
		for i := range st {
			if errs[i] == nil && st[i].Role == adapter.RoleLeader && goal == 0 {
				goal = st[i].Commit
			}
			if st[i].ID == k.target.ID && errs[i] == nil {
				mine = &st[i]
			}
		}
		if goal == 0 || mine == nil {
			return false, "waiting for the leader's commit index and the node's status", nil
		}
		return mine.Applied >= goal, fmt.Sprintf("applied %d of %d", mine.Applied, goal), nil
	})
	if err == nil {
		k.set("catch_up_s", seconds(time.Since(restarted)))
	}
}

func (k *kill) set(name, value string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.effect[name] = value
}

// Revert stops the watcher. A killed node that was not restarted stays
// down: its process is already reaped, so nothing is left to undo.
func (k *kill) Revert(ctx context.Context) error {
	if k.cancel == nil {
		return nil
	}
	k.cancel()
	<-k.done
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.restart
}

func (k *kill) Effect() Effect {
	k.mu.Lock()
	defer k.mu.Unlock()
	e := Effect{"killed": fmt.Sprint(k.target.ID)}
	for n, v := range k.effect {
		e[n] = v
	}
	return e
}
