package adapter

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftcmp/raftcmp/core/adapter/adapterpb"
	"github.com/raftcmp/raftcmp/core/load"
)

// Client is raftcmp's handle on one plugin process. It implements Node
// over gRPC, mapping the contract's errors back (*NotLeaderError,
// ErrUnsupported), and adds RunLoad, the embedded load generator, and
// Proposer, a proposal stream.
type Client struct {
	rpc  adapterpb.NodeClient
	desc Description
}

// Node is what Client implements: raftcmp drives a plugin process through
// the same interface a backend implements.
var _ Node = (*Client)(nil)

// Identify completes raftcmp's side of the launch handshake: it asks the
// plugin to describe itself (the plugin process completes the description
// with its PID and library version), refuses a plugin that speaks another
// protocol version, and keeps the description for Describe. Call it once,
// right after the plugin is dispensed.
func (c *Client) Identify(ctx context.Context) (Description, error) {
	pb, err := c.rpc.Describe(ctx, &adapterpb.DescribeRequest{})
	if err != nil {
		return Description{}, fromStatus(err)
	}
	if v := pb.GetProtocolVersion(); v != ProtocolVersion {
		return Description{}, fmt.Errorf("plugin speaks raftcmp protocol %d, raftcmp speaks %d: rebuild the plugin", v, ProtocolVersion)
	}
	c.desc = descriptionFromPB(pb)
	return c.desc, nil
}

// Describe returns the description Identify received (zero before it);
// see Node.Describe.
func (c *Client) Describe() Description { return c.desc }

// Settings asks the plugin what Start(cfg) would run; see Node.Settings.
// It takes no context because Node.Settings does not; the call is bounded
// by settingsTimeout.
func (c *Client) Settings(cfg Config) (Settings, error) {
	ctx, cancel := context.WithTimeout(context.Background(), settingsTimeout)
	defer cancel()
	pb, err := c.rpc.Settings(ctx, configToPB(cfg))
	if err != nil {
		return Settings{}, fromStatus(err)
	}
	return settingsFromPB(pb), nil
}

// settingsTimeout bounds a Settings call, which computes a table and must
// not block.
const settingsTimeout = 10 * time.Second

// Start starts the node; see Node.Start.
func (c *Client) Start(ctx context.Context, cfg Config) error {
	_, err := c.rpc.Start(ctx, configToPB(cfg))
	return fromStatus(err)
}

// Propose proposes payload; see Node.Propose.
func (c *Client) Propose(ctx context.Context, payload []byte) (uint64, error) {
	resp, err := c.rpc.Propose(ctx, &adapterpb.ProposeRequest{Payload: payload})
	if err != nil {
		return 0, fromStatus(err)
	}
	if resp.GetNotLeader() {
		return 0, &NotLeaderError{Leader: resp.GetLeaderHint()}
	}
	return resp.GetPosition(), nil
}

// Read serves one read; see Node.Read.
func (c *Client) Read(ctx context.Context, mode ReadMode) (ReadState, error) {
	resp, err := c.rpc.Read(ctx, &adapterpb.ReadRequest{Mode: string(mode)})
	if err != nil {
		return ReadState{}, fromStatus(err)
	}
	if resp.GetNotLeader() {
		return ReadState{}, &NotLeaderError{Leader: resp.GetLeaderHint()}
	}
	return ReadState{AppliedPayloads: resp.GetAppliedPayloads(), Digest: resp.GetDigest()}, nil
}

// Status returns the node's status; see Node.Status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	pb, err := c.rpc.Status(ctx, &adapterpb.StatusRequest{})
	if err != nil {
		return Status{}, fromStatus(err)
	}
	return Status{
		ID: pb.GetId(), Role: Role(pb.GetRole()), Leader: pb.GetLeader(), Term: pb.GetTerm(),
		Commit: pb.GetCommit(), Applied: pb.GetApplied(), AppliedPayloads: pb.GetAppliedPayloads(), Digest: pb.GetDigest(),
		Snapshots: pb.GetSnapshots(), SnapshotInstalls: pb.GetSnapshotInstalls(), SnapshotTime: time.Duration(pb.GetSnapshotTimeNs()),
	}, nil
}

// Stop stops the node; see Node.Stop.
func (c *Client) Stop(ctx context.Context) error {
	_, err := c.rpc.Stop(ctx, &adapterpb.StopRequest{})
	return fromStatus(err)
}

// Client implements Reconfigurer over gRPC; a plugin whose backend does
// not answers ErrUnsupported.
var _ Reconfigurer = (*Client)(nil)

// ChangeMembership makes a membership change through the node; see
// Reconfigurer.
func (c *Client) ChangeMembership(ctx context.Context, ch MemberChange) error {
	resp, err := c.rpc.ChangeMembership(ctx, &adapterpb.MemberChangeRequest{Op: string(ch.Op), Peer: &adapterpb.Peer{Id: ch.Peer.ID, Addr: ch.Peer.Addr}})
	if err != nil {
		return fromStatus(err)
	}
	if resp.GetNotLeader() {
		return &NotLeaderError{Leader: resp.GetLeaderHint()}
	}
	return nil
}

// SetPeers replaces the node's address book; see Reconfigurer.
func (c *Client) SetPeers(ctx context.Context, peers []Peer) error {
	req := &adapterpb.SetPeersRequest{}
	for _, p := range peers {
		req.Peers = append(req.Peers, &adapterpb.Peer{Id: p.ID, Addr: p.Addr})
	}
	_, err := c.rpc.SetPeers(ctx, req)
	return fromStatus(err)
}

// RunLoad runs the load generator inside the plugin process against its
// local node (the embedded client) and returns what it measured.
func (c *Client) RunLoad(ctx context.Context, spec load.Spec) (*load.Result, error) {
	pb, err := c.rpc.RunLoad(ctx, loadSpecToPB(spec))
	if err != nil {
		return nil, fromStatus(err)
	}
	return loadResultFromPB(pb)
}

// fromStatus maps gRPC codes set by toStatus back to the contract's errors.
func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Canceled:
		if st.Message() == context.Canceled.Error() {
			return context.Canceled
		}
		return fmt.Errorf("%s: %w", st.Message(), context.Canceled)
	case codes.Unimplemented:
		// The plugin's message usually ends with ErrUnsupported's own text
		// (toStatus sent it wrapped): say it once.
		msg := strings.TrimSuffix(strings.TrimSuffix(st.Message(), ErrUnsupported.Error()), ": ")
		if msg == "" {
			return ErrUnsupported
		}
		return fmt.Errorf("%s: %w", msg, ErrUnsupported)
	case codes.DeadlineExceeded:
		return fmt.Errorf("%s: %w", st.Message(), context.DeadlineExceeded)
	}
	return fmt.Errorf("%s", st.Message())
}
