// Package netproxy injects network faults between the nodes of a local
// Raft cluster without touching the kernel's queueing disciplines (no tc,
// no netem): every directed link i→j goes through its own TCP proxy, and a
// fault on a node is a set of toxics on exactly the proxies of that node's
// links.
//
// The proxies are github.com/Shopify/toxiproxy/v2 proxies used as a library
// inside the calling process (no toxiproxy HTTP server or CLI). Delay and
// Bandwidth use toxiproxy's own latency and bandwidth toxics; Partition,
// Loss and the byte counters behind Stats are toxics of this package,
// plugged into the same toxiproxy chains (see the doc of each method).
//
// Wiring: NewMesh starts one proxy per ordered pair (i, j), i != j,
// listening on 127.0.0.1:0 and forwarding to node j's real address. Node i
// must be configured to reach node j at PeerAddr(i, j) and to listen on its
// own real Node.Addr. Within a proxy(i→j), toxiproxy calls the stream i→j
// (client to server) "upstream" and j→i "downstream".
package netproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/stream"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/rs/zerolog"
)

// ErrClosed is returned (wrapped) by fault methods called after Close.
var ErrClosed = errors.New("netproxy: mesh is closed")

// ErrUnknownNode is returned (wrapped) when a node id is not part of the mesh.
var ErrUnknownNode = errors.New("netproxy: unknown node")

// closeDrainTimeout bounds how long Close lets proxied connections flush the
// data already accepted by the proxies before it cuts them.
const closeDrainTimeout = 2 * time.Second

// Fault kinds, as they appear in ToxicInfo.Fault.
const (
	FaultDelay     = "delay"
	FaultLoss      = "loss"
	FaultBandwidth = "bandwidth"
	FaultPartition = "partition"
)

var faultKinds = []string{FaultDelay, FaultLoss, FaultBandwidth, FaultPartition}

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
	// up counts bytes from→to, down bytes to→from (toxiproxy's upstream and
	// downstream streams), as they enter the proxy.
	up, down atomic.Uint64
}

// Mesh is a full mesh of toxiproxy proxies, one per directed link between
// the nodes given to NewMesh. All methods are safe for concurrent use;
// fault changes are serialised.
type Mesh struct {
	id     uint64
	shared *meshShared
	nodes  []uint64 // in NewMesh order
	addrs  map[uint64]string
	links  map[[2]uint64]*link

	mu     sync.Mutex // serialises fault changes and Close
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
		id:     nextMeshID.Add(1),
		shared: &meshShared{done: make(chan struct{})},
		addrs:  make(map[uint64]string, len(nodes)),
		links:  make(map[[2]uint64]*link, len(nodes)*(len(nodes)-1)),
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
	meshRegistry.Store(m.id, m.shared)

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
		w, err := addToxic(p, toxicSpec{
			Name:       "raftcmp/count/" + dir.String(),
			Type:       toxicTypeCount,
			Stream:     dir.String(),
			Toxicity:   1,
			Attributes: &countToxic{Mesh: m.id},
		})
		if err != nil {
			return nil, fmt.Errorf("netproxy: link %d->%d: install byte counter: %w", from, to, err)
		}
		ct, ok := w.Toxic.(*countToxic)
		if !ok {
			return nil, fmt.Errorf("netproxy: link %d->%d: byte counter has unexpected type %T", from, to, w.Toxic)
		}
		// Race-free: the proxy is not started, so no link runs this toxic yet.
		if dir == stream.Upstream {
			ct.bytes = &l.up
		} else {
			ct.bytes = &l.down
		}
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
// per direction: each proxy(target→k) and proxy(k→target) gets a toxiproxy
// latency toxic of latency/2 (jitter/2) on its upstream stream and the
// other half on its downstream stream. Both are rounded to whole
// milliseconds (toxiproxy's unit); an odd millisecond goes downstream.
// Jitter is uniform per chunk of data in ±jitter/2 per direction; data is
// never reordered (a chunk waits behind a later-due one). The delay is
// added per chunk, measured from when the proxy read it, so it does not
// reduce throughput. Links between other nodes are untouched, and a delay
// on both ends of a link adds up. A new Delay on the same target replaces
// the previous one; latency == jitter == 0 removes it.
func (m *Mesh) Delay(target uint64, latency, jitter time.Duration) error {
	if latency < 0 || jitter < 0 {
		return fmt.Errorf("netproxy: delay node %d: negative latency %v or jitter %v", target, latency, jitter)
	}
	latMs := latency.Round(time.Millisecond).Milliseconds()
	jitMs := jitter.Round(time.Millisecond).Milliseconds()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkLocked(target); err != nil {
		return fmt.Errorf("netproxy: delay: %w", err)
	}
	if latMs == 0 && jitMs == 0 {
		return m.removeLocked(target, FaultDelay)
	}
	return m.applyLocked(target, FaultDelay, "latency", func(dir stream.Direction) any {
		lat, jit := latMs/2, jitMs/2
		if dir == stream.Downstream {
			lat, jit = latMs-lat, jitMs-jit
		}
		if lat == 0 && jit == 0 {
			return nil
		}
		return &toxics.LatencyToxic{Latency: lat, Jitter: jit}
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
// often repairs faster by fast retransmit). A new Loss replaces the
// previous one on that target; fraction 0 removes it.
func (m *Mesh) Loss(target uint64, fraction float64) error {
	if math.IsNaN(fraction) || fraction < 0 || fraction > 1 {
		return fmt.Errorf("netproxy: loss node %d: fraction %v outside [0, 1]", target, fraction)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkLocked(target); err != nil {
		return fmt.Errorf("netproxy: loss: %w", err)
	}
	if fraction == 0 {
		return m.removeLocked(target, FaultLoss)
	}
	return m.applyLocked(target, FaultLoss, toxicTypeLoss, func(stream.Direction) any {
		return &lossToxic{Mesh: m.id, Fraction: fraction}
	})
}

// Bandwidth limits every link of target, both directions, with toxiproxy's
// bandwidth toxic at kbps kilobytes (1000 bytes, not kilobits) per second.
// The limit applies per TCP connection and per direction: a target with
// two peers and one connection per link may still move 2*kbps KB/s out
// and as much in. A new Bandwidth replaces the previous limit on that
// target; kbps == 0 removes it.
func (m *Mesh) Bandwidth(target uint64, kbps int64) error {
	if kbps < 0 {
		return fmt.Errorf("netproxy: bandwidth node %d: negative rate %d KB/s", target, kbps)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkLocked(target); err != nil {
		return fmt.Errorf("netproxy: bandwidth: %w", err)
	}
	if kbps == 0 {
		return m.removeLocked(target, FaultBandwidth)
	}
	return m.applyLocked(target, FaultBandwidth, "bandwidth", func(stream.Direction) any {
		return &toxics.BandwidthToxic{Rate: kbps}
	})
}

// Partition isolates target from every peer: on every proxy(target→k) and
// proxy(k→target) both streams stall, so no byte flows in either direction
// while links between other nodes are untouched. On the wire:
//
//   - established connections stay open at both ends but carry nothing:
//     the proxy stops reading what it cannot deliver, so data backs up into
//     the sender's socket buffers and writes eventually block, as over a
//     path that silently drops every packet. Nothing is discarded;
//   - new connections to a proxy of target are still accepted (and the
//     proxy still dials the real node), but carry no data either; a dial
//     therefore succeeds and the first read times out;
//   - Heal resumes the stalled streams intact: queued data is delivered,
//     as TCP does when a short partition heals. Connections an endpoint
//     closed during the partition are closed on the other side only then.
//
// The proxies keep their ports, so peer addresses never change.
func (m *Mesh) Partition(target uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkLocked(target); err != nil {
		return fmt.Errorf("netproxy: partition: %w", err)
	}
	return m.applyLocked(target, FaultPartition, toxicTypePartition, func(stream.Direction) any {
		return &partitionToxic{Mesh: m.id}
	})
}

// Heal removes every fault that was applied with this target (Delay, Loss,
// Bandwidth, Partition) from all of target's links. Faults applied to other
// nodes stay in place, even on a link shared with target: after
// Partition(1), Partition(2), Heal(1), node 2 is still isolated. Data held
// by a removed toxic is handed on, never dropped; because toxiproxy hands
// it on synchronously, Heal can wait while a destination socket is not
// being read (e.g. a stopped process with full buffers).
func (m *Mesh) Heal(target uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkLocked(target); err != nil {
		return fmt.Errorf("netproxy: heal: %w", err)
	}
	return m.healLocked(target)
}

// HealAll removes every fault from every link of the mesh.
func (m *Mesh) HealAll() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("netproxy: heal all: %w", ErrClosed)
	}
	var errs []error
	for _, id := range m.nodes {
		errs = append(errs, m.healLocked(id))
	}
	return errors.Join(errs...)
}

// ByteCount is a number of bytes sent and received by a node.
type ByteCount struct {
	Sent     uint64
	Received uint64
}

// ToxicInfo describes one toxic installed on a link.
type ToxicInfo struct {
	// From and To name the proxy, proxy(From→To).
	From, To uint64
	// Stream is toxiproxy's stream: "upstream" affects bytes From→To,
	// "downstream" bytes To→From.
	Stream string
	// Owner is the node whose fault installed the toxic (a link between
	// two faulted nodes carries toxics of both).
	Owner uint64
	// Fault is the fault kind: FaultDelay, FaultLoss, FaultBandwidth or
	// FaultPartition.
	Fault string
	// Type is the toxiproxy toxic type ("latency", "bandwidth",
	// "raftcmp_loss", "raftcmp_partition").
	Type string
	// Attributes are the toxic's attributes as toxiproxy JSON, e.g.
	// {"latency":5,"jitter":0} (milliseconds) or {"rate":100} (KB/s).
	Attributes string
}

// LinkStats is the traffic of one node through the mesh and the toxics on
// its links.
type LinkStats struct {
	Target uint64
	// Sent is the number of bytes target wrote to its peers through the
	// proxies since NewMesh, Received the number its peers wrote to
	// target. Bytes are counted when a proxy reads them from the sender's
	// socket, before any fault toxic: data still held by a delay, loss or
	// partition (or lost when a connection is cut) is already counted.
	Sent, Received uint64
	// Peers breaks Sent and Received down by peer.
	Peers map[uint64]ByteCount
	// Toxics lists the toxics installed on target's links now (including
	// those of faults on peers), read back from toxiproxy. Empty after
	// Close.
	Toxics []ToxicInfo
}

// Stats returns target's byte counts since NewMesh and the toxics currently
// installed on its links. It also works after Close (final counts, no
// toxics).
func (m *Mesh) Stats(target uint64) (LinkStats, error) {
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
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
			Sent:     out.up.Load() + in.down.Load(),
			Received: out.down.Load() + in.up.Load(),
		}
		st.Peers[k] = bc
		st.Sent += bc.Sent
		st.Received += bc.Received
		if closed {
			continue
		}
		for _, l := range []*link{out, in} {
			infos, err := toxicInfos(l)
			if err != nil {
				return st, err
			}
			st.Toxics = append(st.Toxics, infos...)
		}
	}
	return st, nil
}

// Close stops every proxy and closes every proxied connection; the proxies'
// ports are released when it returns. Data the proxies already accepted is
// first given up to 2 s to drain to its destination, except data held by
// Partition or Loss, which is discarded. Close is idempotent and always
// returns nil; fault methods return ErrClosed afterwards.
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
	// With done closed, every counter closes its stream, so each proxied
	// connection flushes what is past its counter and then closes itself.
	deadline := time.Now().Add(closeDrainTimeout)
	for m.shared.pipes.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	if n := m.shared.pipes.Load(); n > 0 {
		slog.Debug("netproxy: closing with undrained connections", "streams", n)
	}
	for _, l := range m.links {
		l.proxy.Stop() // closes the listener and every remaining connection
	}
	meshRegistry.Delete(m.id)
}

func (m *Mesh) checkLocked(target uint64) error {
	if m.closed {
		return ErrClosed
	}
	if _, ok := m.addrs[target]; !ok {
		return fmt.Errorf("node %d: %w", target, ErrUnknownNode)
	}
	return nil
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

// applyLocked replaces target's fault of the given kind with toxics of type
// typ on every link of target; attrs returns the attributes for a stream,
// or nil to leave that stream alone.
func (m *Mesh) applyLocked(target uint64, kind, typ string, attrs func(stream.Direction) any) error {
	if err := m.removeLocked(target, kind); err != nil {
		return err
	}
	for _, l := range m.linksOf(target) {
		for _, dir := range directions {
			a := attrs(dir)
			if a == nil {
				continue
			}
			_, err := addToxic(l.proxy, toxicSpec{
				Name:       toxicName(kind, target, dir),
				Type:       typ,
				Stream:     dir.String(),
				Toxicity:   1,
				Attributes: a,
			})
			if err != nil {
				err = fmt.Errorf("netproxy: %s node %d: link %d->%d %s: %w", kind, target, l.from, l.to, dir, err)
				return errors.Join(err, m.removeLocked(target, kind))
			}
		}
	}
	return nil
}

// removeLocked removes target's toxics of one kind from all its links.
func (m *Mesh) removeLocked(target uint64, kind string) error {
	var errs []error
	for _, l := range m.linksOf(target) {
		for _, dir := range directions {
			err := l.proxy.Toxics.RemoveToxic(context.Background(), toxicName(kind, target, dir))
			if err != nil && !errors.Is(err, toxiproxy.ErrToxicNotFound) {
				errs = append(errs, fmt.Errorf("netproxy: remove %s of node %d from link %d->%d %s: %w", kind, target, l.from, l.to, dir, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (m *Mesh) healLocked(target uint64) error {
	var errs []error
	for _, kind := range faultKinds {
		errs = append(errs, m.removeLocked(target, kind))
	}
	return errors.Join(errs...)
}

// toxicSpec is the JSON toxiproxy's AddToxicJson takes.
type toxicSpec struct {
	Name       string  `json:"name"`
	Type       string  `json:"type"`
	Stream     string  `json:"stream"`
	Toxicity   float32 `json:"toxicity"`
	Attributes any     `json:"attributes"`
}

func addToxic(p *toxiproxy.Proxy, spec toxicSpec) (*toxics.ToxicWrapper, error) {
	body, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encode toxic %q: %w", spec.Name, err)
	}
	w, err := p.Toxics.AddToxicJson(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("add toxic %q (%s): %w", spec.Name, body, err)
	}
	return w, nil
}

// toxicName names the toxic of fault kind owned by node owner on one
// stream; the same name is used on every link of the owner.
func toxicName(kind string, owner uint64, dir stream.Direction) string {
	return fmt.Sprintf("raftcmp/%s/n%d/%s", kind, owner, dir)
}

func parseToxicName(name string) (kind string, owner uint64, ok bool) {
	parts := strings.Split(name, "/")
	if len(parts) != 4 || parts[0] != "raftcmp" || !strings.HasPrefix(parts[2], "n") {
		return "", 0, false
	}
	owner, err := strconv.ParseUint(parts[2][1:], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return parts[1], owner, true
}

func toxicInfos(l *link) ([]ToxicInfo, error) {
	var infos []ToxicInfo
	for _, t := range l.proxy.Toxics.GetToxicArray() {
		w, ok := t.(*toxics.ToxicWrapper)
		if !ok || w.Type == toxicTypeCount {
			continue
		}
		attrs, err := json.Marshal(w.Toxic)
		if err != nil {
			return nil, fmt.Errorf("netproxy: stats: encode toxic %q on link %d->%d: %w", w.Name, l.from, l.to, err)
		}
		kind, owner, _ := parseToxicName(w.Name)
		infos = append(infos, ToxicInfo{
			From:       l.from,
			To:         l.to,
			Stream:     w.Stream,
			Owner:      owner,
			Fault:      kind,
			Type:       w.Type,
			Attributes: string(attrs),
		})
	}
	return infos, nil
}
