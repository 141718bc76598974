// Command brokenplugin is a deliberately broken raftcmp backend, kept to
// prove that the conformance kit and the safety check catch broken adapters.
// It is the hashicorp backend with one fault, chosen by the option
// "broken":
//
//   - "lossy": the node with the highest id behaves as if its state machine
//     skipped every 1000th payload: its Status reports the count and digest
//     that such a state machine would have. (A wrapper cannot reach into the
//     FSM, so the loss is simulated at the Status boundary, which is all a
//     black-box check can observe anyway.)
//   - "wrong-hint": a follower's NotLeaderError names the wrong leader.
//   - "bad-join": a node started to join a running cluster (Config.Join)
//     reports a digest of a different history than the one it applied,
//     as a joiner that missed or reordered entries would.
//   - "no-installs": Status never counts a snapshot installed from a
//     leader (SnapshotInstalls stays 0).
//   - "silent-knobs": Settings drops every shared Raft knob it was asked
//     for without a word (no Setting for it, nothing reported not honoured).
//   - "panic", "exit", "hang": after "broken_after" proposals (default
//     200) the leader's Propose panics, exits the process with status 3, or
//     blocks forever ignoring its context: a plugin crashing or hanging in
//     the middle of a point, for the runner's crash-isolation tests.
//
// And, chosen by the environment (Describe is called before any option
// arrives), BROKENPLUGIN_MAX_NODES=N: Describe declares clusters of at most
// N nodes, a limit the hashicorp node does not keep.
//
// It is a test fixture only, never built by make.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/plugins/hashicorp"
)

type broken struct {
	*hashicorp.Node
	mode      string
	after     int64
	proposals atomic.Int64
	id        uint64
	nodes     uint64
	joined    bool
}

// own takes the fixture's own options out of cfg, leaving the hashicorp
// node's.
func (b *broken) own(cfg adapter.Config) adapter.Config {
	opts := adapter.Options{}
	for k, v := range cfg.Options {
		if k == "broken" {
			b.mode = v
			continue
		}
		if k == "broken_after" {
			b.after, _ = strconv.ParseInt(v, 10, 64)
			continue
		}
		opts[k] = v
	}
	cfg.Options = opts
	return cfg
}

func (b *broken) Settings(cfg adapter.Config) (adapter.Settings, error) {
	set, err := b.Node.Settings(b.own(cfg))
	if err != nil || b.mode != "silent-knobs" {
		return set, err
	}
	var own []adapter.Setting
	for _, v := range set.Values {
		if v.Knob == "" {
			own = append(own, v)
		}
	}
	return adapter.Settings{Values: own}, nil
}

func (b *broken) Start(ctx context.Context, cfg adapter.Config) error {
	cfg = b.own(cfg)
	b.id, b.nodes, b.joined = cfg.ID, uint64(len(cfg.Peers)), cfg.Join
	return b.Node.Start(ctx, cfg)
}

func (b *broken) Propose(ctx context.Context, payload []byte) (uint64, error) {
	if n := b.proposals.Add(1); n > b.limit() {
		switch b.mode {
		case "panic":
			panic(fmt.Sprintf("brokenplugin: deliberate panic after %d proposals", n-1))
		case "exit":
			// fd 2 itself: go-plugin swaps os.Stderr for a pipe whose
			// contents may not reach raftcmp before the process is gone.
			fmt.Fprintf(os.NewFile(2, "stderr"), "brokenplugin: deliberate exit after %d proposals\n", n-1)
			os.Exit(3)
		case "hang":
			select {} // deliberately ignores ctx
		}
	}
	pos, err := b.Node.Propose(ctx, payload)
	var nl *adapter.NotLeaderError
	if b.mode == "wrong-hint" && errors.As(err, &nl) {
		return 0, &adapter.NotLeaderError{Leader: nl.Leader%b.nodes + 1}
	}
	return pos, err
}

func (b *broken) Status(ctx context.Context) (adapter.Status, error) {
	st, err := b.Node.Status(ctx)
	if b.mode == "lossy" && b.id == b.nodes && st.AppliedPayloads >= 1000 {
		st.AppliedPayloads -= st.AppliedPayloads / 1000
		st.Digest ^= 0x9e3779b97f4a7c15 // a different history, a different digest
	}
	if b.mode == "bad-join" && b.joined && st.AppliedPayloads > 0 {
		st.Digest ^= 0x9e3779b97f4a7c15
	}
	if b.mode == "no-installs" {
		st.SnapshotInstalls = 0
	}
	return st, err
}

// Describe declares the limit BROKENPLUGIN_MAX_NODES asks for, if any.
func (b *broken) Describe() adapter.Description {
	d := b.Node.Describe()
	d.Capabilities.MaxNodes, _ = strconv.Atoi(os.Getenv("BROKENPLUGIN_MAX_NODES"))
	return d
}

func main() { adapter.Serve(&broken{Node: hashicorp.New()}) }

// limit is how many proposals pass before a crash mode strikes.
func (b *broken) limit() int64 {
	if b.after > 0 {
		return b.after
	}
	return 200
}
