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
//
// It is a test fixture only, never built by make.
package main

import (
	"context"
	"errors"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/plugins/hashicorp"
)

type broken struct {
	*hashicorp.Node
	mode  string
	id    uint64
	nodes uint64
}

func (b *broken) Start(ctx context.Context, cfg adapter.Config) error {
	opts := adapter.Options{}
	for k, v := range cfg.Options {
		if k == "broken" {
			b.mode = v
			continue
		}
		opts[k] = v
	}
	cfg.Options = opts
	b.id, b.nodes = cfg.ID, uint64(len(cfg.Peers))
	return b.Node.Start(ctx, cfg)
}

func (b *broken) Propose(ctx context.Context, payload []byte) error {
	err := b.Node.Propose(ctx, payload)
	var nl *adapter.NotLeaderError
	if b.mode == "wrong-hint" && errors.As(err, &nl) {
		return &adapter.NotLeaderError{Leader: nl.Leader%b.nodes + 1}
	}
	return err
}

func (b *broken) Status(ctx context.Context) (adapter.Status, error) {
	st, err := b.Node.Status(ctx)
	if b.mode == "lossy" && b.id == b.nodes && st.AppliedPayloads >= 1000 {
		st.AppliedPayloads -= st.AppliedPayloads / 1000
		st.Digest ^= 0x9e3779b97f4a7c15 // a different history, a different digest
	}
	return st, err
}

func main() { adapter.Serve(&broken{Node: hashicorp.New()}) }
