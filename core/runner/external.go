package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/load"
)

// Client placements.
const (
	ClientEmbedded = "embedded" // the load runs inside the leader's process
	ClientExternal = "external" // the load runs in raftcmp, over gRPC
)

// Paths of the client's proposals to the nodes (results.csv client_path).
const (
	PathInProcess = "in-process" // embedded: inside the leader's process
	PathLocal     = "local"      // external: the plugin's socket on this machine
	PathSSH       = "ssh"        // external: the plugin's socket on its host, forwarded through the host's SSH connection
)

// ClientPath is the path the proposals of client take to the nodes; remote
// says the nodes run on hosts (--hosts), whose plugin sockets raftcmp
// reaches only through each host's SSH connection.
func ClientPath(client string, remote bool) string {
	switch {
	case client != ClientExternal:
		return PathInProcess
	case remote:
		return PathSSH
	}
	return PathLocal
}

// externalClient proposes from the raftcmp process to whichever node leads,
// over one gRPC proposal stream per node process (adapter.StreamProposer):
// a unary call per proposal costs more CPU than a fast backend's proposal.
// It follows leader changes: a NotLeaderError
// with a hint redirects to the hinted node; a failure of the current target
// (its process gone, or no hint) re-resolves the leader by polling the
// cluster. Redirects are counted. A slow or killed leader therefore does
// not also slow or kill the client, as it does with the embedded client.
//
// Reads travel on the same streams. From the leader they follow it as
// proposals do; from followers (or any node) each read goes to the next
// live node other than the current target (or to the next live node) in
// turn, and is not redirected: a follower's answer, stale or refused, is
// what is measured.
type externalClient struct {
	c         *cluster.Cluster
	readFrom  string // "leader", "followers" or "any"
	nextRead  atomic.Uint64
	target    atomic.Pointer[cluster.Member]
	redirects atomic.Uint64
	resolveMu sync.Mutex

	streamsMu sync.Mutex
	streams   map[cluster.Node]*adapter.StreamProposer // per node process
}

// maxRedirects bounds the redirects of one proposal before it fails.
const maxRedirects = 5

func newExternalClient(c *cluster.Cluster, leader *cluster.Member, readFrom string) *externalClient {
	e := &externalClient{c: c, readFrom: readFrom, streams: map[cluster.Node]*adapter.StreamProposer{}}
	e.target.Store(leader)
	return e
}

// stream returns the proposal stream to m's current process, opening it
// on first use.
func (e *externalClient) stream(ctx context.Context, m *cluster.Member) (*adapter.StreamProposer, error) {
	node := m.Node()
	e.streamsMu.Lock()
	defer e.streamsMu.Unlock()
	if p, ok := e.streams[node]; ok {
		return p, nil
	}
	client, ok := node.(*adapter.Client)
	if !ok {
		return nil, fmt.Errorf("node %d is not a plugin process: the external client needs its proposal stream", m.ID)
	}
	p, err := client.Proposer(ctx)
	if err != nil {
		return nil, err
	}
	e.streams[node] = p
	return p, nil
}

// close ends every proposal stream.
func (e *externalClient) close() {
	e.streamsMu.Lock()
	defer e.streamsMu.Unlock()
	for _, p := range e.streams {
		p.Close()
	}
	e.streams = nil
}

// propose is the load.ProposeFunc of the external client.
func (e *externalClient) propose(ctx context.Context, payload []byte) (uint64, error) {
	return e.onLeader(ctx, func(p *adapter.StreamProposer) (uint64, error) { return p.Propose(ctx, payload) })
}

// read is the load.ReadFunc of the external client.
func (e *externalClient) read(ctx context.Context, mode string) (uint64, error) {
	readOn := func(p *adapter.StreamProposer) (uint64, error) {
		rs, err := p.Read(ctx, adapter.ReadMode(mode))
		return rs.AppliedPayloads, err
	}
	if e.readFrom == "leader" {
		return e.onLeader(ctx, readOn)
	}
	m, err := e.readTarget()
	if err != nil {
		return 0, err
	}
	p, err := e.stream(ctx, m)
	if err != nil {
		return 0, err
	}
	return readOn(p)
}

// onLeader runs op on the stream of the node believed to lead, following
// a NotLeaderError's hint or finding the leader again (a node that says
// it does not lead, or that is gone) up to maxRedirects times. An error
// from a live leader is op's answer and is returned as is.
func (e *externalClient) onLeader(ctx context.Context, op func(*adapter.StreamProposer) (uint64, error)) (uint64, error) {
	var err error
	for attempt := 0; attempt <= maxRedirects; attempt++ {
		m := e.target.Load()
		var p *adapter.StreamProposer
		var v uint64
		if p, err = e.stream(ctx, m); err == nil {
			v, err = op(p)
		}
		if err == nil || ctx.Err() != nil {
			return v, err
		}
		var nl *adapter.NotLeaderError
		switch {
		case errors.As(err, &nl) && nl.Leader != 0 && nl.Leader != m.ID && e.c.Member(nl.Leader) != nil:
			e.target.CompareAndSwap(m, e.c.Member(nl.Leader))
		case errors.As(err, &nl) || !m.Live() || m.Exited():
			e.resolve(ctx, m)
		default:
			return 0, err // an answer from a live leader: the operation failed
		}
		e.redirects.Add(1)
	}
	return 0, err
}

// readTarget is the node the next read goes to under readFrom followers
// or any: the live nodes (other than the current target, for followers)
// in turn.
func (e *externalClient) readTarget() (*cluster.Member, error) {
	leader := e.target.Load()
	var nodes []*cluster.Member
	for _, m := range e.c.Live() {
		if e.readFrom == "any" || m != leader {
			nodes = append(nodes, m)
		}
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("no live node to read from (read from %s)", e.readFrom)
	}
	return nodes[int(e.nextRead.Add(1)%uint64(len(nodes)))], nil
}

// resolve finds the current leader after stale stopped working; concurrent
// callers wait for one resolution instead of each polling.
func (e *externalClient) resolve(ctx context.Context, stale *cluster.Member) {
	e.resolveMu.Lock()
	defer e.resolveMu.Unlock()
	if e.target.Load() != stale {
		return // another thread already moved on
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if m, err := e.c.Leader(rctx); err == nil {
		e.target.Store(m)
	}
}

// run drives the load from this process.
func (e *externalClient) run(ctx context.Context, spec load.Spec) (*load.Result, error) {
	defer e.close()
	return load.RunClient(ctx, spec, load.Client{Propose: e.propose, Read: e.read})
}
