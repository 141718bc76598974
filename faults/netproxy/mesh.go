// Package netproxy injects network faults between the nodes of a local
// Raft cluster without touching the kernel's queueing disciplines (no tc,
// no netem): every directed link i→j goes through its own TCP proxy, and a
// fault on a node changes what exactly the proxies of that node's links do.
//
// The proxies are github.com/Shopify/toxiproxy/v2 proxies used as a library
// inside the calling process (no toxiproxy HTTP server or CLI): toxiproxy
// accepts the connections, dials the destination and runs each direction
// of each connection through its chain of toxics. Each chain holds one
// toxic of this package (type "raftcmp_link", installed before the proxy
// starts) that counts bytes and applies the faults currently set on that
// stream. Faults are switched by updating that toxic's shared settings,
// never by adding or removing toxics, because toxiproxy's chain changes
// and its built-in latency and bandwidth toxics hang or leak goroutines
// when a connection's destination dies with data in flight (details on
// linkToxic in toxics.go). The timing rules of the delay and bandwidth
// faults follow toxiproxy's latency and bandwidth toxics.
//
// Wiring: NewMesh starts one proxy per ordered pair (i, j), i != j,
// listening on 127.0.0.1:0 and forwarding to node j's real address. Node i
// must be configured to reach node j at PeerAddr(i, j) and to listen on its
// own real Node.Addr. Within a proxy(i→j), toxiproxy calls the stream i→j
// (client to server) "upstream" and j→i "downstream".
//
// Logging: toxiproxy logs through zerolog. The proxies get a zerolog logger
// at warn level whose records are forwarded to log/slog's default logger
// at debug level (in a fault injector, toxiproxy's warnings, such as
// "Source terminated" or "Unable to open connection to upstream", are the
// normal consequence of faults and connection churn). zerolog's global
// logger, which zerolog's own init sets to trace level on stderr and which
// toxiproxy's bandwidth toxic uses, is redirected the same way when this
// package is imported (github.com/rs/zerolog/log.Logger). Nothing else in
// raftcmp uses zerolog.
package netproxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/stream"
	"github.com/rs/zerolog"
)

// ErrClosed is returned (wrapped) by fault methods called after Close.
var ErrClosed = errors.New("netproxy: mesh is closed")

// ErrUnknownNode is returned (wrapped) when a node id is not part of the mesh.
var ErrUnknownNode = errors.New("netproxy: unknown node")

// closeDrainTimeout bounds how long Close lets proxied connections wind
// down by themselves before it cuts them.
const closeDrainTimeout = 2 * time.Second

// Fault kinds, as they appear in ToxicInfo.Fault.
const (
	FaultDelay     = "delay"
	FaultLoss      = "loss"
	FaultBandwidth = "bandwidth"
	FaultPartition = "partition"
)

var directions = []stream.Direction{stream.Upstream, stream.Downstream}

// Node is one cluster member as the mesh sees it: a unique ID and the real
// address the node listens on (host:port, normally on 127.0.0.1).
type Node struct {
	ID   uint64
	Addr string
}

// link is the proxy of one directed link from→to.
type link struct {
	from, to uint64
	proxy    *toxiproxy.Proxy
	listen   string
	// streams[stream.Upstream] carries from→to, [stream.Downstream] to→from.
	streams [stream.NumDirections]*linkStream
}

// nodeFaults are the faults applied with one node as target.
type nodeFaults struct {
	latency, jitter time.Duration
	loss            float64
	rate            int64
	partition       bool
}

// Mesh is a full mesh of toxiproxy proxies, one per directed link between
// the nodes given to NewMesh. All methods are safe for concurrent use and
// fault methods return at once (they never wait for data in flight).
type Mesh struct {
	shared *meshShared
	nodes  []uint64 // in NewMesh order
	addrs  map[uint64]string
	links  map[[2]uint64]*link

	mu     sync.Mutex // guards faults and closed; serialises changes
	faults map[uint64]nodeFaults
	closed bool
}

// NewMesh starts N*(N-1) proxies for the given nodes, one per directed link
// i→j (i != j), each listening on 127.0.0.1 on a kernel-chosen port and
// forwarding every accepted connection to node j's real Addr (the proxy
// dials j when a client connects to it). Node IDs must be unique and every
// Addr non-empty. On error nothing is left running. The caller must Close
// the mesh.
func NewMesh(nodes []Node) (*Mesh, error) {
	if len(nodes) == 0 {
		return nil, errors.New("netproxy: new mesh: no nodes")
	}
	m := &Mesh{
		shared: &meshShared{done: make(chan struct{})},
		addrs:  make(map[uint64]string, len(nodes)),
		links:  make(map[[2]uint64]*link, len(nodes)*(len(nodes)-1)),
		faults: make(map[uint64]nodeFaults),
	}
	for _, n := range nodes {
		if n.Addr == "" {
			return nil, fmt.Errorf("netproxy: new mesh: node %d has no address", n.ID)
		}
		if _, dup := m.addrs[n.ID]; dup {
			return nil, fmt.Errorf("netproxy: new mesh: duplicate node id %d", n.ID)
		}
		m.addrs[n.ID] = n.Addr
		m.nodes = append(m.nodes, n.ID)
	}

	// toxiproxy logs through zerolog; keep only warn and above and route
	// those to slog at debug level (see slogWriter).
	logger := zerolog.New(slogWriter{}).Level(zerolog.WarnLevel)
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), logger)

	for _, a := range nodes {
		for _, b := range nodes {
			if a.ID == b.ID {
				continue
			}
			l, err := m.startLink(server, a.ID, b.ID, b.Addr)
			if err != nil {
				m.shutdown()
				return nil, err
			}
			m.links[[2]uint64{a.ID, b.ID}] = l
		}
	}
	return m, nil
}

func (m *Mesh) startLink(server *toxiproxy.ApiServer, from, to uint64, upstream string) (*link, error) {
	l := &link{from: from, to: to}
	p := toxiproxy.NewProxy(server, fmt.Sprintf("n%d->n%d", from, to), "127.0.0.1:0", upstream)
	for _, dir := range directions {
		body, err := json.Marshal(map[string]any{
			"name":       "raftcmp/" + dir.String(),
			"type":       toxicTypeLink,
			"stream":     dir.String(),
			"toxicity":   1,
			"attributes": map[string]any{},
		})
		if err != nil {
			return nil, fmt.Errorf("netproxy: link %d->%d: encode toxic: %w", from, to, err)
		}
		w, err := p.Toxics.AddToxicJson(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("netproxy: link %d->%d: install %s toxic: %w", from, to, dir, err)
		}
		lt, ok := w.Toxic.(*linkToxic)
		if !ok {
			return nil, fmt.Errorf("netproxy: link %d->%d: toxic has unexpected type %T", from, to, w.Toxic)
		}
		// Race-free: the proxy is not started, so no link runs this toxic yet.
		l.streams[dir] = newLinkStream()
		lt.s, lt.sh = l.streams[dir], m.shared
	}
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("netproxy: link %d->%d: start proxy to %s: %w", from, to, upstream, err)
	}
	l.proxy = p
	l.listen = p.Listen // set to the bound address by Start
	return l, nil
}

// PeerAddr returns the address node `from` must dial to reach node `to`:
// the listen address of proxy(from→to), or to's real Addr when from == to.
// It returns "" if either node is not in the mesh. The result does not
// change for the life of the mesh (faults never rebind proxies).
func (m *Mesh) PeerAddr(from, to uint64) string {
	if from == to {
		return m.addrs[to]
	}
	if l, ok := m.links[[2]uint64{from, to}]; ok {
		return l.listen
	}
	return ""
}

// Delay adds latency to every link of target so that a request/response
// round trip between target and any peer, in either direction of
// initiation, grows by `latency` (±`jitter`). The delay is split in half
// per direction: on each proxy(target→k) and proxy(k→target) the upstream
// stream holds every chunk of data for latency/2 and the downstream stream
// for the rest (latency - latency/2), each ± a uniform jitter/2 drawn per
// chunk (so a round trip varies within ±jitter). Each chunk is delayed
// from the moment the proxy read it, so the delay does not limit
// throughput (up to QueueMaxBytes in flight per connection and direction);
// data is never reordered (a chunk due earlier waits behind the one before
// it). Links between other nodes are untouched, and delays on both ends of
// a link add up. A new Delay on the same target replaces the previous one
// (data already held is re-timed from when it was read: after a removal it
// leaves at once); latency == jitter == 0 removes it.
func (m *Mesh) Delay(target uint64, latency, jitter time.Duration) error {
	if latency < 0 || jitter < 0 {
		return fmt.Errorf("netproxy: delay node %d: negative latency %v or jitter %v", target, latency, jitter)
	}
	return m.update(target, "delay", func(f *nodeFaults) {
		f.latency, f.jitter = latency, jitter
	})
}

// Loss emulates packet loss with probability `fraction` (0..1) on every
// link of target, in both directions. A proxy cannot drop bytes out of a
// TCP stream without corrupting it, and TCP itself would retransmit them,
// so Loss reproduces what the application on top of TCP observes:
//
//   - no byte is ever dropped, duplicated or reordered;
//   - each chunk of n bytes the proxy reads counts as ceil(n/1460) segments
//     (LossSegmentBytes), each lost independently with probability fraction;
//   - a chunk with a lost segment is held for a retransmission timeout of
//     200 ms (LossInitialRTO), plus 400 ms, 800 ms, ... (doubling, capped
//     at LossMaxRTO) for each retransmission that is itself lost (again with
//     probability fraction); every chunk queued behind it on that stream
//     waits too (head-of-line blocking);
//   - after LossMaxRetransmits consecutive lost retransmissions (only
//     likely near fraction 1, where it takes about 13 minutes) the
//     connection is closed, as TCP gives up.
//
// So a user gets latency spikes of ≥200 ms on a fraction of messages and a
// throughput collapse for bulk transfers, never connection errors short of
// fraction ≈ 1. It models RTO-based recovery (right for sparse RPCs such as
// heartbeats and small appends; pessimistic for bulk flows, which real TCP
// often repairs faster by fast retransmit). When both ends of a link have
// Loss, a segment is lost with 1-(1-f1)(1-f2). A new Loss replaces the
// previous one on that target; fraction 0 removes it, and data held for a
// retransmission then leaves at once.
func (m *Mesh) Loss(target uint64, fraction float64) error {
	if math.IsNaN(fraction) || fraction < 0 || fraction > 1 {
		return fmt.Errorf("netproxy: loss node %d: fraction %v outside [0, 1]", target, fraction)
	}
	return m.update(target, "loss", func(f *nodeFaults) { f.loss = fraction })
}

// Bandwidth limits every link of target, both directions, to kbps
// kilobytes (1000 bytes, not kilobits) per second, with toxiproxy's
// bandwidth model: each chunk of data occupies the emulated wire for
// size/rate after the previous one, and chunks larger than 100 ms worth of
// data are released in 100 ms slices. The proxy holds only about 100 ms
// worth of data (at least 64 KiB) and then stops reading, so a faster
// sender is slowed by TCP backpressure; nothing is dropped. The limit
// applies per TCP connection and per direction: a target with two peers
// and one connection per link may still move 2*kbps KB/s out and as much
// in. When both ends of a link are limited, the lower rate applies. A new
// Bandwidth replaces the previous limit on that target; kbps == 0 removes
// it.
func (m *Mesh) Bandwidth(target uint64, kbps int64) error {
	if kbps < 0 {
		return fmt.Errorf("netproxy: bandwidth node %d: negative rate %d KB/s", target, kbps)
	}
	return m.update(target, "bandwidth", func(f *nodeFaults) { f.rate = kbps })
}

// Partition isolates target from every peer: on every proxy(target→k) and
// proxy(k→target) both streams stall, so no byte flows in either direction
// while links between other nodes are untouched. On the wire:
//
//   - established connections stay open at both ends but deliver nothing.
//     The proxy keeps reading from the sender and holds what it reads, in
//     order, up to QueueMaxBytes per connection and direction; then it
//     stops reading, the sender's socket buffers fill and its writes block,
//     as over a path that silently drops every packet;
//   - new connections to a proxy of target are still accepted (and the
//     proxy still dials the real node), but deliver nothing either: a dial
//     succeeds and the first read times out;
//   - Heal delivers the held data and the streams resume intact, as TCP
//     does when a short partition heals. A connection its sender closed
//     during the partition is closed on the other side only then. Nothing
//     held is discarded, except by Close.
//
// The proxies keep their ports, so peer addresses never change.
// Partitioning an already partitioned target changes nothing.
func (m *Mesh) Partition(target uint64) error {
	return m.update(target, "partition", func(f *nodeFaults) { f.partition = true })
}

// Heal removes every fault that was applied with this target (Delay, Loss,
// Bandwidth, Partition) from all of target's links; data held by them
// leaves at once, in order. Faults applied to other nodes stay in place,
// even on a link shared with target: after Partition(1), Partition(2),
// Heal(1), node 2 is still isolated.
func (m *Mesh) Heal(target uint64) error {
	return m.update(target, "heal", func(f *nodeFaults) { *f = nodeFaults{} })
}

// HealAll removes every fault from every link of the mesh.
func (m *Mesh) HealAll() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("netproxy: heal all: %w", ErrClosed)
	}
	clear(m.faults)
	for _, l := range m.links {
		m.refreshLocked(l)
	}
	return nil
}

// update changes target's faults with change and applies the result to
// every link of target.
func (m *Mesh) update(target uint64, op string, change func(*nodeFaults)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("netproxy: %s node %d: %w", op, target, ErrClosed)
	}
	if _, ok := m.addrs[target]; !ok {
		return fmt.Errorf("netproxy: %s node %d: %w", op, target, ErrUnknownNode)
	}
	f := m.faults[target]
	change(&f)
	if f == (nodeFaults{}) {
		delete(m.faults, target)
	} else {
		m.faults[target] = f
	}
	for _, l := range m.linksOf(target) {
		m.refreshLocked(l)
	}
	return nil
}

// refreshLocked recomputes the fault sets of both streams of l from the
// faults of its two end nodes.
func (m *Mesh) refreshLocked(l *link) {
	for _, dir := range directions {
		var fs faultSet
		pass := 1.0
		for _, owner := range []uint64{l.from, l.to} {
			f, ok := m.faults[owner]
			if !ok {
				continue
			}
			lat, jit := splitDelay(f.latency, f.jitter, dir)
			fs.latency += lat
			fs.jitter += jit
			pass *= 1 - f.loss
			if f.rate > 0 && (fs.rate == 0 || f.rate < fs.rate) {
				fs.rate = f.rate
			}
			fs.partition = fs.partition || f.partition
		}
		fs.loss = 1 - pass
		l.streams[dir].store(fs)
	}
}

// splitDelay returns the share of a node's delay that one stream carries.
func splitDelay(latency, jitter time.Duration, dir stream.Direction) (time.Duration, time.Duration) {
	lat, jit := latency/2, jitter/2
	if dir == stream.Downstream {
		lat, jit = latency-lat, jitter-jit
	}
	return lat, jit
}

// ByteCount is a number of bytes sent and received by a node.
type ByteCount struct {
	Sent     uint64
	Received uint64
}

// ToxicInfo describes one fault's effect on one stream of one link.
type ToxicInfo struct {
	// From and To name the proxy, proxy(From→To).
	From, To uint64
	// Stream is toxiproxy's stream: "upstream" carries bytes From→To,
	// "downstream" bytes To→From.
	Stream string
	// Owner is the node whose fault this is (a link between two faulted
	// nodes carries faults of both).
	Owner uint64
	// Fault is the fault kind: FaultDelay, FaultLoss, FaultBandwidth or
	// FaultPartition.
	Fault string
	// Type is the toxiproxy toxic type that carries the fault: always
	// "raftcmp_link", the one toxic on every stream (see the package doc).
	Type string
	// Attributes are the fault's parameters on this stream as JSON:
	// {"latency_ns":5000000,"jitter_ns":0} (this stream's share of the
	// delay), {"fraction":0.1}, {"rate_kBps":100} or {}.
	Attributes string
}

// LinkStats is the traffic of one node through the mesh and the faults on
// its links.
type LinkStats struct {
	Target uint64
	// Sent is the number of bytes target wrote to its peers through the
	// proxies since NewMesh, Received the number its peers wrote to
	// target. Bytes are counted when a proxy reads them from the sender's
	// socket, before any fault applies: data still held by a delay, loss
	// or partition (or dropped by Close) is already counted.
	Sent, Received uint64
	// Peers breaks Sent and Received down by peer.
	Peers map[uint64]ByteCount
	// Toxics lists every fault acting on target's links now, per link and
	// stream, including faults of target's peers on the links they share
	// with target. Empty after Close.
	Toxics []ToxicInfo
}

// Stats returns target's byte counts since NewMesh and the faults acting on
// its links now. It also works after Close (final counts, no faults).
func (m *Mesh) Stats(target uint64) (LinkStats, error) {
	if _, ok := m.addrs[target]; !ok {
		return LinkStats{}, fmt.Errorf("netproxy: stats: node %d: %w", target, ErrUnknownNode)
	}
	st := LinkStats{Target: target, Peers: make(map[uint64]ByteCount)}
	for _, k := range m.nodes {
		if k == target {
			continue
		}
		out := m.links[[2]uint64{target, k}]
		in := m.links[[2]uint64{k, target}]
		bc := ByteCount{
			Sent:     out.streams[stream.Upstream].bytes.Load() + in.streams[stream.Downstream].bytes.Load(),
			Received: out.streams[stream.Downstream].bytes.Load() + in.streams[stream.Upstream].bytes.Load(),
		}
		st.Peers[k] = bc
		st.Sent += bc.Sent
		st.Received += bc.Received
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return st, nil
	}
	for _, l := range m.linksOf(target) {
		for _, dir := range directions {
			for _, owner := range []uint64{l.from, l.to} {
				f, ok := m.faults[owner]
				if !ok {
					continue
				}
				add := func(kind string, attrs map[string]any) {
					b, _ := json.Marshal(attrs) // maps of numbers always encode
					st.Toxics = append(st.Toxics, ToxicInfo{
						From: l.from, To: l.to, Stream: dir.String(),
						Owner: owner, Fault: kind, Type: toxicTypeLink, Attributes: string(b),
					})
				}
				if lat, jit := splitDelay(f.latency, f.jitter, dir); lat > 0 || jit > 0 {
					add(FaultDelay, map[string]any{"latency_ns": lat, "jitter_ns": jit})
				}
				if f.loss > 0 {
					add(FaultLoss, map[string]any{"fraction": f.loss})
				}
				if f.rate > 0 {
					add(FaultBandwidth, map[string]any{"rate_kBps": f.rate})
				}
				if f.partition {
					add(FaultPartition, map[string]any{})
				}
			}
		}
	}
	return st, nil
}

// Close stops every proxy and closes every proxied connection; the proxies'
// ports are released when it returns. Data held by a fault is dropped;
// each connection first gets up to 2 s to wind down by itself (normally
// milliseconds). Close is idempotent and always returns nil; fault methods
// return ErrClosed afterwards.
func (m *Mesh) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	m.shutdown()
	return nil
}

func (m *Mesh) shutdown() {
	close(m.shared.done)
	// With done closed, every stream closes its output and drains its
	// input, so each proxied connection closes both of its sockets itself.
	deadline := time.Now().Add(closeDrainTimeout)
	for m.shared.pipes.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	if n := m.shared.pipes.Load(); n > 0 {
		slog.Debug("netproxy: closing with connections still open", "streams", n)
	}
	for _, l := range m.links {
		l.proxy.Stop() // closes the listener and every remaining connection
	}
}

// linksOf returns every link touching target: proxy(target→k) and
// proxy(k→target) for each peer k, in node order.
func (m *Mesh) linksOf(target uint64) []*link {
	var ls []*link
	for _, k := range m.nodes {
		if k == target {
			continue
		}
		ls = append(ls, m.links[[2]uint64{target, k}], m.links[[2]uint64{k, target}])
	}
	return ls
}
