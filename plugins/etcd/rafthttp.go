package etcd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/types"
	"go.etcd.io/etcd/server/v3/etcdserver/api/rafthttp"
	stats "go.etcd.io/etcd/server/v3/etcdserver/api/v2stats"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
)

// messenger moves raft's messages between the cluster's processes: the TCP
// transport of this package or etcd's rafthttp.
type messenger interface {
	// run starts delivering: received messages are stepped into r.
	run(r reporter)
	// send queues msgs without blocking; undeliverable ones are reported
	// to raft.
	send(msgs []*raftpb.Message)
	// close releases the port, the connections and the goroutines.
	close()
}

// clusterID is the cluster id rafthttp checks on every request; one
// raftcmp cluster never talks to another, so a constant does.
const clusterID = types.ID(0x72616674636d70) // "raftcmp"

// httpTransport is etcd's own peer transport, rafthttp, configured as
// etcd's server configures it (etcdserver/server.go NewServer): HTTP
// streams for MsgApp (msgappv2) and other messages, a pipeline of POSTs
// for the rest and for snapshots, the dial timeout of
// ServerConfig.PeerDialTimeout. Its handler is served on this node's
// address. Peers are added by id at the address this node's peer list
// gives, never one learnt from a peer. Note rafthttp's shape: a stream
// carries messages towards the node that dialled it, so the messages from
// A to B travel on a connection B opened to A, and pipeline POSTs on
// connections A opens to B.
type httpTransport struct {
	self        uint64
	url         string
	peers       map[uint64]string
	dialTimeout time.Duration
	ln          net.Listener
	log         *zap.Logger

	tr     *rafthttp.Transport
	srv    *http.Server
	served chan struct{} // closed when Serve has returned
	errc   chan error
	stopc  chan struct{}
	wg     sync.WaitGroup
}

// listenHTTP binds this node's address for rafthttp; run starts it.
// dialTimeout is etcd's PeerDialTimeout: 1 s plus the election timeout.
func listenHTTP(self uint64, addr string, peers map[uint64]string, dialTimeout time.Duration, log *zap.Logger) (*httpTransport, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return &httpTransport{
		self: self, url: "http://" + peers[self], peers: peers, dialTimeout: dialTimeout, ln: ln, log: log,
		served: make(chan struct{}), errc: make(chan error, 1), stopc: make(chan struct{}),
	}, nil
}

// rafthttpRaft is what rafthttp delivers to: raft.Node, with no member
// reported removed (raftcmp stops a removed member's process right after
// its removal, and SetPeers takes it out of the transport).
type rafthttpRaft struct{ r reporter }

func (a rafthttpRaft) Process(ctx context.Context, m *raftpb.Message) error { return a.r.Step(ctx, m) }
func (a rafthttpRaft) IsIDRemoved(uint64) bool                              { return false }
func (a rafthttpRaft) ReportUnreachable(id uint64)                          { a.r.ReportUnreachable(id) }
func (a rafthttpRaft) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	a.r.ReportSnapshot(id, status)
}

func (t *httpTransport) run(r reporter) {
	urls, err := types.NewURLs([]string{t.url})
	if err != nil {
		// The address came from this node's own peer list, which Start
		// has validated by binding it.
		panic(fmt.Sprintf("peer URL %q: %v", t.url, err))
	}
	id := strconv.FormatUint(t.self, 16)
	t.tr = &rafthttp.Transport{
		Logger:      t.log,
		DialTimeout: t.dialTimeout,
		ID:          types.ID(t.self),
		URLs:        urls,
		ClusterID:   clusterID,
		Raft:        rafthttpRaft{r},
		ServerStats: stats.NewServerStats(id, id),
		LeaderStats: stats.NewLeaderStats(t.log, id),
		ErrorC:      t.errc,
	}
	if err := t.tr.Start(); err != nil {
		panic(fmt.Sprintf("start rafthttp: %v", err)) // only fails on bad TLS settings; there are none
	}
	for pid, addr := range t.peers {
		if pid != t.self {
			t.tr.AddPeer(types.ID(pid), []string{"http://" + addr})
		}
	}
	t.srv = &http.Server{Handler: t.tr.Handler(), ReadHeaderTimeout: 5 * time.Second, ErrorLog: zap.NewStdLog(t.log)}
	go func() {
		defer close(t.served)
		if err := t.srv.Serve(t.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.log.Error("rafthttp server stopped", zap.Error(err))
		}
	}()
	// rafthttp reports a critical error (this member removed, a peer of
	// another cluster) on ErrorC; etcd's server stops on one. Here a
	// removed member is stopped at once and the cluster id is a constant,
	// so one is a bug worth a log line, not a reason to stop the point.
	t.wg.Go(func() {
		select {
		case err := <-t.errc:
			t.log.Error("rafthttp critical error", zap.Error(err))
		case <-t.stopc:
		}
	})
}

func (t *httpTransport) send(msgs []*raftpb.Message) {
	if len(msgs) > 0 {
		t.tr.Send(msgs)
	}
}

// close stops the peers (their streams and pipelines, waiting for their
// goroutines), then the server, which closes the listener and every
// inbound connection.
func (t *httpTransport) close() {
	close(t.stopc)
	if t.tr != nil {
		t.tr.Stop()
	}
	if t.srv != nil {
		t.srv.Close()
		<-t.served
	} else {
		t.ln.Close()
	}
	t.wg.Wait()
}
