package etcd

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Wire format: each message is one frame, a 4-byte big-endian length and
// that many bytes of protobuf-encoded raftpb.Message.
const (
	frameHeader = 4
	// maxFrame bounds a frame a reader accepts. A MsgApp holds at most
	// MaxSizePerMsg of entries unless one entry is larger, so this is the
	// largest single payload the backend can carry.
	maxFrame = 256 << 20
)

// appendFrame appends m as one frame to buf.
func appendFrame(buf []byte, m *raftpb.Message) ([]byte, error) {
	n := proto.Size(m)
	if n > maxFrame {
		return buf, fmt.Errorf("marshal %v: %d bytes exceed the frame limit of %d", m.GetType(), n, maxFrame)
	}
	buf = binary.BigEndian.AppendUint32(slices.Grow(buf, frameHeader+n), uint32(n))
	// Size has just cached every sub-message's size; nothing changes m in
	// between (the Ready loop owns it).
	out, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(buf, m)
	if err != nil || len(out) != len(buf)+n {
		return buf[:len(buf)-frameHeader], fmt.Errorf("marshal %v: size %d, wrote %d: %v", m.GetType(), n, len(out)-len(buf), err)
	}
	return out, nil
}

// readFrame reads one frame from r and decodes its message; buf is scratch
// space kept between calls for frames larger than r's buffer. A clean end
// of stream before a frame is io.EOF. The message never refers to r's or
// buf's memory: decoding copies bytes fields.
func readFrame(r *bufio.Reader, buf *[]byte) (*raftpb.Message, error) {
	h, err := r.Peek(frameHeader)
	if err != nil {
		if len(h) > 0 && errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(h))
	r.Discard(frameHeader)
	if n > maxFrame {
		return nil, fmt.Errorf("frame of %d bytes exceeds the limit of %d", n, maxFrame)
	}
	var b []byte
	if n <= r.Size() {
		// Decode in place in the reader's buffer: no copy.
		b, err = r.Peek(n)
		defer r.Discard(n)
	} else {
		*buf = slices.Grow((*buf)[:0], n)[:n]
		b = *buf
		_, err = io.ReadFull(r, b)
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read frame body: %w", err)
	}
	m := &raftpb.Message{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("decode message: %w", err)
	}
	return m, nil
}

// Transport tuning. The backoff starts short because a refused dial on a
// LAN is instant and a restarted peer should be reached again within a
// heartbeat or two; it is capped well under the default election timeout.
const (
	ioBufSize    = 64 << 10
	dialTimeout  = time.Second
	writeTimeout = 5 * time.Second // etcd rafthttp's ConnWriteTimeout
	minBackoff   = 10 * time.Millisecond
	maxBackoff   = 500 * time.Millisecond
)

// reporter is what the transport tells raft about delivery: raft.Node.
type reporter interface {
	Step(ctx context.Context, m *raftpb.Message) error
	ReportUnreachable(id uint64)
	ReportSnapshot(id uint64, status raft.SnapshotStatus)
}

// outMsg is one encoded message waiting for its peer's writer.
type outMsg struct {
	frame *[]byte // from framePool; the writer returns it
	snap  bool    // a MsgSnap: its outcome is reported with ReportSnapshot
}

// framePool recycles encoded frames: a node sends tens of thousands of
// messages a second under load.
var framePool = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledFrame keeps the occasional huge frame out of the pool.
const maxPooledFrame = 256 << 10

func (m outMsg) release() {
	if cap(*m.frame) <= maxPooledFrame {
		*m.frame = (*m.frame)[:0]
		framePool.Put(m.frame)
	}
}

// peer is the outbound side of one remote node.
type peer struct {
	id    uint64
	addr  string
	queue chan outMsg
}

// transport moves raftpb.Messages between the cluster's processes: it
// accepts connections on this node's address and steps what arrives into
// raft, and keeps one outbound connection per peer.
type transport struct {
	self  uint64
	ln    net.Listener
	pmu   sync.RWMutex // guards peers, which setPeers (membership.go) changes
	peers map[uint64]*peer
	log   *slog.Logger
	raft  reporter

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// listen binds this node's address; run starts moving messages.
func listen(self uint64, addr string, peers map[uint64]string, queue int, log *slog.Logger) (*transport, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	t := &transport{self: self, ln: ln, peers: map[uint64]*peer{}, log: log, conns: map[net.Conn]struct{}{}}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	for id, a := range peers {
		if id != self {
			t.peers[id] = &peer{id: id, addr: a, queue: make(chan outMsg, queue)}
		}
	}
	return t, nil
}

// run starts the accept loop and the peer writers; received messages go to
// r.Step.
func (t *transport) run(r reporter) {
	t.raft = r
	t.wg.Go(t.accept)
	t.pmu.RLock()
	defer t.pmu.RUnlock()
	for _, p := range t.peers {
		t.wg.Go(func() { t.write(p) })
	}
}

// send queues msgs for their peers without blocking. It is called from the
// Ready loop, which encodes every message before the next Ready can change
// the entries it refers to (the library asks for exactly that). A message
// that finds its peer's queue full is dropped and the peer reported
// unreachable, as etcd's rafthttp does; raft retransmits.
func (t *transport) send(msgs []*raftpb.Message) {
	for _, m := range msgs {
		t.pmu.RLock()
		p := t.peers[m.GetTo()]
		t.pmu.RUnlock()
		if p == nil {
			t.log.Warn("message to unknown peer dropped", "to", m.GetTo(), "type", m.GetType().String())
			continue
		}
		out := outMsg{frame: framePool.Get().(*[]byte), snap: m.GetType() == raftpb.MsgSnap}
		var err error
		if *out.frame, err = appendFrame((*out.frame)[:0], m); err != nil {
			out.release()
			t.log.Error("message dropped", "to", m.GetTo(), "err", err)
			t.failed(p.id, out.snap)
			continue
		}
		select {
		case p.queue <- out:
		default:
			out.release()
			t.failed(p.id, out.snap)
		}
	}
}

// failed tells raft that a message to id was not delivered.
func (t *transport) failed(id uint64, snap bool) {
	if snap {
		t.raft.ReportSnapshot(id, raft.SnapshotFailure)
	}
	t.raft.ReportUnreachable(id)
}

// track registers c so that close can close it; it reports false (and
// closes c) once the transport is closed.
func (t *transport) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		c.Close()
		return false
	}
	t.conns[c] = struct{}{}
	return true
}

func (t *transport) untrack(c net.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	c.Close()
}

func (t *transport) accept() {
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if t.ctx.Err() == nil {
				t.log.Error("accept failed; no more inbound connections", "err", err)
			}
			return
		}
		if !t.track(c) {
			return
		}
		t.wg.Go(func() { t.read(c) })
	}
}

// read steps every message arriving on c into raft until c fails.
func (t *transport) read(c net.Conn) {
	defer t.untrack(c)
	br := bufio.NewReaderSize(c, ioBufSize)
	var scratch []byte
	for {
		m, err := readFrame(br, &scratch)
		if err != nil {
			if t.ctx.Err() == nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				t.log.Warn("inbound connection dropped", "remote", c.RemoteAddr().String(), "err", err)
			}
			return
		}
		if m.GetTo() != t.self {
			continue
		}
		if err := t.raft.Step(t.ctx, m); err != nil {
			return // stopped
		}
	}
}

// write is peer p's writer: it dials on demand, writes every queued message
// and flushes whenever the queue is empty, and on failure drops what is
// queued, reports p unreachable and redials after a backoff.
func (t *transport) write(p *peer) {
	var (
		conn    net.Conn
		bw      *bufio.Writer
		backoff = minBackoff
		dialer  = net.Dialer{Timeout: dialTimeout}
		down    = false // a dial failed and has been logged
	)
	defer func() {
		if conn != nil {
			t.untrack(conn)
		}
	}()
	for {
		var m outMsg
		select {
		case m = <-p.queue:
		case <-t.ctx.Done():
			return
		}
		if conn == nil {
			c, err := dialer.DialContext(t.ctx, "tcp", p.addr)
			if err == nil && !t.track(c) {
				return
			}
			if err != nil {
				if t.ctx.Err() != nil {
					return
				}
				if !down {
					t.log.Warn("peer unreachable; redialling with backoff", "peer", p.id, "err", err)
					down = true
				}
				m.release()
				t.failed(p.id, m.snap)
				t.drop(p)
				if !t.wait(backoff) {
					return
				}
				backoff = min(2*backoff, maxBackoff)
				continue
			}
			backoff, down = minBackoff, false
			conn = c
			bw = bufio.NewWriterSize(conn, ioBufSize)
		}
		snaps, err := t.writeBatch(conn, bw, p, m)
		if err != nil {
			if t.ctx.Err() != nil {
				return
			}
			t.log.Warn("connection to peer failed", "peer", p.id, "err", err)
			t.untrack(conn)
			conn = nil
			for range snaps {
				t.raft.ReportSnapshot(p.id, raft.SnapshotFailure)
			}
			t.failed(p.id, false)
			t.drop(p)
			continue
		}
		for range snaps {
			t.raft.ReportSnapshot(p.id, raft.SnapshotFinish)
		}
	}
}

// writeBatch writes m and whatever else is queued, then flushes. It
// returns how many MsgSnaps the batch held.
func (t *transport) writeBatch(conn net.Conn, bw *bufio.Writer, p *peer, m outMsg) (snaps int, err error) {
	if err := conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return 0, err
	}
	for {
		if m.snap {
			snaps++
		}
		_, err := bw.Write(*m.frame)
		m.release()
		if err != nil {
			return snaps, err
		}
		select {
		case m = <-p.queue:
			continue
		default:
		}
		return snaps, bw.Flush()
	}
}

// drop discards p's queued messages after a failure: they are stale by the
// time a connection is back, and raft resends what still matters.
func (t *transport) drop(p *peer) {
	for {
		select {
		case m := <-p.queue:
			m.release()
			if m.snap {
				t.raft.ReportSnapshot(p.id, raft.SnapshotFailure)
			}
		default:
			return
		}
	}
}

// wait waits d or until the transport closes; it reports whether to go on.
func (t *transport) wait(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-t.ctx.Done():
		return false
	}
}

// close stops accepting, closes every connection and waits for the
// transport's goroutines. A goroutine that is reporting to raft when close
// is called returns once raft has taken the report or has stopped.
func (t *transport) close() {
	t.cancel()
	t.ln.Close()
	t.mu.Lock()
	t.closed = true
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
}
