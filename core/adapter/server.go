package adapter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftcmp/raftcmp/core/adapter/adapterpb"
	"github.com/raftcmp/raftcmp/core/load"
)

// server exposes a Node over gRPC inside the plugin process, and runs the
// embedded load generator against it.
type server struct {
	adapterpb.UnimplementedNodeServer
	impl Node
	desc Description
}

func (s *server) Describe(context.Context, *adapterpb.DescribeRequest) (*adapterpb.Description, error) {
	return descriptionToPB(s.desc), nil
}

func (s *server) Settings(_ context.Context, req *adapterpb.StartRequest) (*adapterpb.SettingsResponse, error) {
	set, err := s.impl.Settings(configFromPB(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return settingsToPB(set), nil
}

func (s *server) Start(ctx context.Context, req *adapterpb.StartRequest) (*adapterpb.StartResponse, error) {
	if err := s.impl.Start(ctx, configFromPB(req)); err != nil {
		return nil, toStatus(err)
	}
	return &adapterpb.StartResponse{}, nil
}

func (s *server) Propose(ctx context.Context, req *adapterpb.ProposeRequest) (*adapterpb.ProposeResponse, error) {
	pos, err := s.impl.Propose(ctx, req.GetPayload())
	var nl *NotLeaderError
	if errors.As(err, &nl) {
		return &adapterpb.ProposeResponse{NotLeader: true, LeaderHint: nl.Leader}, nil
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return &adapterpb.ProposeResponse{Position: pos}, nil
}

func (s *server) Read(ctx context.Context, req *adapterpb.ReadRequest) (*adapterpb.ReadResponse, error) {
	rs, err := s.impl.Read(ctx, ReadMode(req.GetMode()))
	var nl *NotLeaderError
	if errors.As(err, &nl) {
		return &adapterpb.ReadResponse{NotLeader: true, LeaderHint: nl.Leader}, nil
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return &adapterpb.ReadResponse{AppliedPayloads: rs.AppliedPayloads, Digest: rs.Digest}, nil
}

func (s *server) Status(ctx context.Context, _ *adapterpb.StatusRequest) (*adapterpb.NodeStatus, error) {
	st, err := s.impl.Status(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &adapterpb.NodeStatus{
		Id: st.ID, Role: string(st.Role), Leader: st.Leader, Term: st.Term,
		Commit: st.Commit, Applied: st.Applied, AppliedPayloads: st.AppliedPayloads, Digest: st.Digest,
		Snapshots: st.Snapshots, SnapshotInstalls: st.SnapshotInstalls, SnapshotTimeNs: int64(st.SnapshotTime),
	}, nil
}

func (s *server) Stop(ctx context.Context, _ *adapterpb.StopRequest) (*adapterpb.StopResponse, error) {
	if err := s.impl.Stop(ctx); err != nil {
		return nil, toStatus(err)
	}
	return &adapterpb.StopResponse{}, nil
}

func (s *server) ChangeMembership(ctx context.Context, req *adapterpb.MemberChangeRequest) (*adapterpb.MemberChangeResponse, error) {
	r, ok := s.impl.(Reconfigurer)
	if !ok {
		return nil, toStatus(fmt.Errorf("membership change: %w", ErrUnsupported))
	}
	ch := MemberChange{Op: MemberOp(req.GetOp()), Peer: Peer{ID: req.GetPeer().GetId(), Addr: req.GetPeer().GetAddr()}}
	if ch.Op != MemberAdd && ch.Op != MemberRemove {
		return nil, status.Errorf(codes.InvalidArgument, "membership change op %q: want add or remove", ch.Op)
	}
	err := r.ChangeMembership(ctx, ch)
	var nl *NotLeaderError
	if errors.As(err, &nl) {
		return &adapterpb.MemberChangeResponse{NotLeader: true, LeaderHint: nl.Leader}, nil
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return &adapterpb.MemberChangeResponse{}, nil
}

func (s *server) SetPeers(ctx context.Context, req *adapterpb.SetPeersRequest) (*adapterpb.SetPeersResponse, error) {
	r, ok := s.impl.(Reconfigurer)
	if !ok {
		return nil, toStatus(fmt.Errorf("set peers: %w", ErrUnsupported))
	}
	var peers []Peer
	for _, p := range req.GetPeers() {
		peers = append(peers, Peer{ID: p.GetId(), Addr: p.GetAddr()})
	}
	if err := r.SetPeers(ctx, peers); err != nil {
		return nil, toStatus(err)
	}
	return &adapterpb.SetPeersResponse{}, nil
}

func (s *server) RunLoad(ctx context.Context, spec *adapterpb.LoadSpec) (*adapterpb.LoadResult, error) {
	res, err := load.RunClient(ctx, loadSpecFromPB(spec), LoadClient(s.impl))
	if err != nil {
		return nil, status.Error(codes.Aborted, err.Error())
	}
	return loadResultToPB(res)
}

// toStatus maps the contract's sentinel errors onto gRPC codes that the
// client maps back; everything else crosses as its message.
func toStatus(err error) error {
	switch {
	case errors.Is(err, ErrUnsupported):
		return status.Error(codes.Unimplemented, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Unknown, err.Error())
}

func descriptionToPB(d Description) *adapterpb.Description {
	pb := &adapterpb.Description{
		Name: d.Name, Module: d.Module, Version: d.Version, Pid: int64(d.PID), GoVersion: d.GoVersion,
		ForwardsProposals: d.Capabilities.ForwardsProposals, ProtocolVersion: ProtocolVersion,
		MaxNodes: uint32(max(d.Capabilities.MaxNodes, 0)), Membership: d.Capabilities.Membership,
	}
	for _, m := range d.Capabilities.Storage {
		pb.StorageModes = append(pb.StorageModes, string(m))
	}
	for _, m := range d.Capabilities.ReadModes {
		pb.ReadModes = append(pb.ReadModes, string(m))
	}
	return pb
}

func descriptionFromPB(pb *adapterpb.Description) Description {
	d := Description{
		Name: pb.GetName(), Module: pb.GetModule(), Version: pb.GetVersion(), PID: int(pb.GetPid()), GoVersion: pb.GetGoVersion(),
		Capabilities: Capabilities{ForwardsProposals: pb.GetForwardsProposals(), MaxNodes: int(pb.GetMaxNodes()), Membership: pb.GetMembership()},
	}
	for _, m := range pb.GetStorageModes() {
		d.Capabilities.Storage = append(d.Capabilities.Storage, Storage(m))
	}
	for _, m := range pb.GetReadModes() {
		d.Capabilities.ReadModes = append(d.Capabilities.ReadModes, ReadMode(m))
	}
	return d
}

func configToPB(cfg Config) *adapterpb.StartRequest {
	r := cfg.Raft
	req := &adapterpb.StartRequest{
		Id: cfg.ID, Listen: cfg.Listen, DataDir: cfg.DataDir, Storage: string(cfg.Storage), Options: cfg.Options, ReadMode: string(cfg.ReadMode), Join: cfg.Join,
		Raft: &adapterpb.RaftKnobs{
			ElectionTimeoutNs: int64(r.ElectionTimeout), HeartbeatIntervalNs: int64(r.HeartbeatInterval),
			PreVote: string(r.PreVote), CheckQuorum: string(r.CheckQuorum),
			MaxAppendEntries: int64(r.MaxAppendEntries), MaxInflightAppends: int64(r.MaxInflightAppends),
			SnapshotEntries: int64(r.SnapshotEntries), KeepEntries: int64(r.KeepEntries),
		},
	}
	for _, p := range cfg.Peers {
		req.Peers = append(req.Peers, &adapterpb.Peer{Id: p.ID, Addr: p.Addr})
	}
	return req
}

func configFromPB(req *adapterpb.StartRequest) Config {
	r := req.GetRaft()
	cfg := Config{
		ID:       req.GetId(),
		Listen:   req.GetListen(),
		DataDir:  req.GetDataDir(),
		Storage:  Storage(req.GetStorage()),
		Options:  Options(req.GetOptions()),
		ReadMode: ReadMode(req.GetReadMode()),
		Join:     req.GetJoin(),
		Raft: Raft{
			ElectionTimeout: time.Duration(r.GetElectionTimeoutNs()), HeartbeatInterval: time.Duration(r.GetHeartbeatIntervalNs()),
			PreVote: Switch(r.GetPreVote()), CheckQuorum: Switch(r.GetCheckQuorum()),
			MaxAppendEntries: int(r.GetMaxAppendEntries()), MaxInflightAppends: int(r.GetMaxInflightAppends()),
			SnapshotEntries: int(r.GetSnapshotEntries()), KeepEntries: int(r.GetKeepEntries()),
		},
	}
	for _, p := range req.GetPeers() {
		cfg.Peers = append(cfg.Peers, Peer{ID: p.GetId(), Addr: p.GetAddr()})
	}
	return cfg
}

func settingsToPB(s Settings) *adapterpb.SettingsResponse {
	pb := &adapterpb.SettingsResponse{}
	for _, v := range s.Values {
		pb.Values = append(pb.Values, &adapterpb.Setting{Knob: v.Knob, Name: v.Name, Value: v.Value, Source: v.Source, Note: v.Note})
	}
	for _, u := range s.Unhonoured {
		pb.Unhonoured = append(pb.Unhonoured, &adapterpb.Unhonoured{Knob: u.Knob, Requested: u.Requested, Reason: u.Reason})
	}
	return pb
}

func settingsFromPB(pb *adapterpb.SettingsResponse) Settings {
	var s Settings
	for _, v := range pb.GetValues() {
		s.Values = append(s.Values, Setting{Knob: v.GetKnob(), Name: v.GetName(), Value: v.GetValue(), Source: v.GetSource(), Note: v.GetNote()})
	}
	for _, u := range pb.GetUnhonoured() {
		s.Unhonoured = append(s.Unhonoured, Unhonoured{Knob: u.GetKnob(), Requested: u.GetRequested(), Reason: u.GetReason()})
	}
	return s
}

// loadSpecToPB converts a load spec for the wire.
func loadSpecToPB(s load.Spec) *adapterpb.LoadSpec {
	return &adapterpb.LoadSpec{
		Threads: uint32(s.Threads), Rate: s.Rate, PayloadBytes: uint32(s.PayloadBytes),
		WarmupNs: int64(s.Warmup), DurationNs: int64(s.Duration), IntervalNs: int64(s.Interval), OpTimeoutNs: int64(s.OpTimeout),
		Loop: s.Loop, MaxInFlight: uint32(s.MaxInFlight), PayloadSizes: s.PayloadSizes,
		ReadRatio: s.ReadRatio, ReadMode: s.ReadMode,
	}
}

func loadSpecFromPB(pb *adapterpb.LoadSpec) load.Spec {
	return load.Spec{
		Threads: int(pb.GetThreads()), Rate: pb.GetRate(), PayloadBytes: int(pb.GetPayloadBytes()),
		Warmup: time.Duration(pb.GetWarmupNs()), Duration: time.Duration(pb.GetDurationNs()),
		Interval: time.Duration(pb.GetIntervalNs()), OpTimeout: time.Duration(pb.GetOpTimeoutNs()),
		Loop: pb.GetLoop(), MaxInFlight: int(pb.GetMaxInFlight()), PayloadSizes: pb.GetPayloadSizes(),
		ReadRatio: pb.GetReadRatio(), ReadMode: pb.GetReadMode(),
	}
}

// LoadClient is the load generator's client of a local node n: its
// Propose, and its Read in the load's read mode.
func LoadClient(n Node) load.Client {
	return load.Client{
		Propose: n.Propose,
		Read: func(ctx context.Context, mode string) (uint64, error) {
			rs, err := n.Read(ctx, ReadMode(mode))
			return rs.AppliedPayloads, err
		},
	}
}

func loadResultToPB(r *load.Result) (*adapterpb.LoadResult, error) {
	hist, err := r.Latency.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return nil, fmt.Errorf("encode latency histogram: %w", err)
	}
	pb := &adapterpb.LoadResult{
		Ops: r.Ops, Acked: r.Acked, Errors: r.Errors, MeasuredNs: int64(r.Measured), Histogram: hist,
		Loop: r.Loop, Issued: r.Issued, Queued: r.Queued, QueuedTimeNs: int64(r.QueuedTime), Unsent: r.Unsent,
	}
	if pb.Intervals, err = intervalsToPB(r.Intervals); err != nil {
		return nil, err
	}
	if rr := r.Reads; rr != nil {
		hist, err := rr.Latency.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		if err != nil {
			return nil, fmt.Errorf("encode read latency histogram: %w", err)
		}
		pb.Reads = &adapterpb.ReadResult{Mode: rr.Mode, Ops: rr.Ops, Errors: rr.Errors, Histogram: hist, Stale: rr.Stale,
			Issued: rr.Issued, Queued: rr.Queued, QueuedTimeNs: int64(rr.QueuedTime), Unsent: rr.Unsent}
		if pb.Reads.Intervals, err = intervalsToPB(rr.Intervals); err != nil {
			return nil, fmt.Errorf("reads: %w", err)
		}
		for _, ex := range rr.StaleExamples {
			pb.Reads.StaleExamples = append(pb.Reads.StaleExamples, &adapterpb.StaleRead{AtNs: int64(ex.At), Acked: ex.Acked, Applied: ex.Applied})
		}
	}
	return pb, nil
}

func intervalsToPB(ivs []load.Interval) ([]*adapterpb.Interval, error) {
	var out []*adapterpb.Interval
	for i, iv := range ivs {
		var ih []byte
		if iv.Histogram != nil {
			var err error
			if ih, err = iv.Histogram.Encode(); err != nil {
				return nil, fmt.Errorf("encode latency histogram of interval %d: %w", i, err)
			}
		}
		out = append(out, &adapterpb.Interval{
			StartNs: int64(iv.Start), Ops: iv.Ops, Errors: iv.Errors, P50Us: iv.P50Micros, P99Us: iv.P99Micros, Histogram: ih,
		})
	}
	return out, nil
}

func loadResultFromPB(pb *adapterpb.LoadResult) (*load.Result, error) {
	hist, err := hdrhistogram.Decode(pb.GetHistogram())
	if err != nil {
		return nil, fmt.Errorf("decode latency histogram: %w", err)
	}
	r := &load.Result{
		Ops: pb.GetOps(), Acked: pb.GetAcked(), Errors: pb.GetErrors(),
		Measured: time.Duration(pb.GetMeasuredNs()), Latency: hist,
		Loop: pb.GetLoop(), Issued: pb.GetIssued(), Queued: pb.GetQueued(), QueuedTime: time.Duration(pb.GetQueuedTimeNs()), Unsent: pb.GetUnsent(),
	}
	if r.Errors == nil {
		r.Errors = map[string]uint64{}
	}
	if r.Intervals, err = intervalsFromPB(pb.GetIntervals()); err != nil {
		return nil, err
	}
	if rp := pb.GetReads(); rp != nil {
		hist, err := hdrhistogram.Decode(rp.GetHistogram())
		if err != nil {
			return nil, fmt.Errorf("decode read latency histogram: %w", err)
		}
		rr := &load.ReadResult{Mode: rp.GetMode(), Ops: rp.GetOps(), Errors: rp.GetErrors(), Latency: hist, Stale: rp.GetStale(),
			Issued: rp.GetIssued(), Queued: rp.GetQueued(), QueuedTime: time.Duration(rp.GetQueuedTimeNs()), Unsent: rp.GetUnsent()}
		if rr.Errors == nil {
			rr.Errors = map[string]uint64{}
		}
		if rr.Intervals, err = intervalsFromPB(rp.GetIntervals()); err != nil {
			return nil, fmt.Errorf("reads: %w", err)
		}
		for _, ex := range rp.GetStaleExamples() {
			rr.StaleExamples = append(rr.StaleExamples, load.StaleRead{At: time.Duration(ex.GetAtNs()), Acked: ex.GetAcked(), Applied: ex.GetApplied()})
		}
		r.Reads = rr
	}
	return r, nil
}

func intervalsFromPB(ivs []*adapterpb.Interval) ([]load.Interval, error) {
	var out []load.Interval
	for i, iv := range ivs {
		li := load.Interval{
			Start: time.Duration(iv.GetStartNs()), Ops: iv.GetOps(), Errors: iv.GetErrors(),
			P50Micros: iv.GetP50Us(), P99Micros: iv.GetP99Us(),
		}
		if b := iv.GetHistogram(); len(b) > 0 { // empty from a plugin that predates interval histograms
			var err error
			if li.Histogram, err = hdrhistogram.DecodePacked(b); err != nil {
				return nil, fmt.Errorf("decode latency histogram of interval %d: %w", i, err)
			}
		}
		out = append(out, li)
	}
	return out, nil
}
