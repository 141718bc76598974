package netproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Shopify/toxiproxy/v2/stream"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/rs/zerolog"
	zlog "github.com/rs/zerolog/log"
)

// toxicTypeLink is the toxic type this package registers in toxiproxy's
// (process-global) toxic registry: toxiproxy builds toxics only by
// registered type name (ToxicCollection.AddToxicJson is the only way to add
// one). The name is prefixed so it cannot collide with toxiproxy's own.
const toxicTypeLink = "raftcmp_link"

// Loss emulation parameters. See Mesh.Loss for the model.
const (
	// LossSegmentBytes is the size of one emulated TCP segment: a chunk of
	// n bytes read by the proxy counts as ceil(n/LossSegmentBytes) segments,
	// each lost independently.
	LossSegmentBytes = 1460
	// LossInitialRTO is the retransmission timeout charged for the first
	// loss of a segment (Linux's minimum RTO).
	LossInitialRTO = 200 * time.Millisecond
	// LossMaxRTO caps the doubling retransmission timeout (Linux TCP_RTO_MAX).
	LossMaxRTO = 120 * time.Second
	// LossMaxRetransmits is how many consecutive retransmissions of one
	// segment may be lost before the emulated connection is aborted, as
	// Linux does after net.ipv4.tcp_retries2 (15) retransmissions.
	LossMaxRetransmits = 15
)

// QueueMaxBytes is how much data a proxy holds per connection and
// direction (for a delay, a loss retransmission wait or a partition)
// before it stops reading from the sender, whose writes then block once
// its socket buffers fill. Under a bandwidth limit the proxy holds much
// less (see queueCap).
const QueueMaxBytes = 8 << 20

func init() {
	// toxiproxy's bandwidth toxic (unused here, but linked in) logs through
	// zerolog's global logger, which writes to stderr, and zerolog's own
	// init lowers the global level to trace. Redirect that logger like the
	// proxies' loggers: warn and above only, forwarded to slog (see
	// slogWriter). Done here, before any toxic can run, because the
	// variable is not synchronised.
	zlog.Logger = zerolog.New(slogWriter{}).Level(zerolog.WarnLevel)
	toxics.Register(toxicTypeLink, new(linkToxic))
}

// meshShared is the state every stream of a mesh shares.
type meshShared struct {
	// done is closed by Mesh.Close: every stream then drops what it holds,
	// closes its output and discards its input until the connection ends,
	// so no goroutine stays blocked after Close.
	done chan struct{}
	// pipes counts running linkToxic.Pipe calls (two per live proxied
	// connection); Close waits for it to drop to zero before it stops the
	// proxies, so that every connection has wound down by itself.
	pipes atomic.Int64
}

// faultSet is what applies to one stream (one direction of one proxy) now:
// the sum of the faults of the link's two end nodes.
type faultSet struct {
	latency, jitter time.Duration
	loss            float64 // probability a segment is lost
	rate            int64   // KB/s; 0 means unlimited
	partition       bool
}

// linkStream is the shared state of one stream of one proxy: every
// connection through the proxy runs a linkToxic Pipe on it per direction.
type linkStream struct {
	bytes atomic.Uint64 // bytes read from senders since NewMesh

	mu      sync.Mutex
	faults  faultSet
	changed chan struct{} // closed and replaced on every change
}

func newLinkStream() *linkStream {
	return &linkStream{changed: make(chan struct{})}
}

func (s *linkStream) load() (faultSet, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults, s.changed
}

// store sets the stream's faults; every connection re-evaluates what it
// holds at once.
func (s *linkStream) store(fs faultSet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fs == s.faults {
		return
	}
	s.faults = fs
	close(s.changed)
	s.changed = make(chan struct{})
}

// queueCap is how many bytes a connection holds under fs before it stops
// reading: QueueMaxBytes, or under a bandwidth limit only what the emulated
// wire can carry in 100 ms plus the delay (at least 64 KiB), so that a
// limited sender is slowed by backpressure rather than buffered for
// seconds.
func queueCap(fs faultSet) int {
	if fs.rate <= 0 || fs.partition {
		return QueueMaxBytes
	}
	window := fs.latency + fs.jitter + 100*time.Millisecond
	n := float64(fs.rate) * 1000 * window.Seconds()
	return int(min(max(n, 64<<10), QueueMaxBytes))
}

// linkToxic is the one toxic on every stream of every proxy, installed
// before the proxy starts. It counts the bytes it reads and applies the
// stream's current faultSet. Faults are changed by updating the faultSet,
// never by adding or removing toxics. Found with toxiproxy v2.5.0:
// ToxicCollection.AddToxicJson/RemoveToxic wait, under the proxy's
// collection lock, for data in flight to be handed on (RemoveToxic with a
// 5 s timeout per buffered chunk, after which it drops the chunk), while a
// link whose destination died waits for that same lock in RemoveLink and
// no longer reads: a Heal then hung for 5 s per buffered chunk (minutes
// with a full latency buffer). And the built-in latency and bandwidth
// toxics send to the next stage without watching anything, so when a
// destination dies while they hold data they stay blocked forever, one
// goroutine per connection, surviving Close.
type linkToxic struct {
	// Set by NewMesh after AddToxicJson and before the proxy starts; no
	// link (and so no Pipe) exists before Start, so this is race-free.
	s  *linkStream
	sh *meshShared
}

// entry is a piece of data the toxic holds.
type entry struct {
	c        *stream.StreamChunk
	arrival  time.Time     // when the proxy read it
	u        float64       // jitter sample in [-1, 1)
	lossHold time.Duration // retransmission wait, if it was "lost"
	abort    bool          // the emulated connection gives up on it
}

// linkState is a connection's queue; kept in the stub so that it would
// survive an interrupt (toxiproxy interrupts only on chain changes, which
// this package never makes after Start).
type linkState struct {
	queue    []entry
	queued   int       // bytes in queue
	wireFree time.Time // bandwidth: when the emulated wire is free again
	eof      bool      // the sender closed: end the stream once drained
}

func (t *linkToxic) NewState() interface{} { return new(linkState) }

// releaseAt is when e may leave under fs, ignoring bandwidth.
func (e *entry) releaseAt(fs faultSet) time.Time {
	at := e.arrival.Add(fs.latency + time.Duration(e.u*float64(fs.jitter)))
	if fs.loss > 0 {
		at = at.Add(e.lossHold)
	}
	return at
}

func (t *linkToxic) Pipe(stub *toxics.ToxicStub) {
	s, sh := t.s, t.sh
	sh.pipes.Add(1)
	defer sh.pipes.Add(-1)
	st, _ := stub.State.(*linkState)
	if st == nil {
		st = new(linkState)
		stub.State = st
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		fs, changed := s.load()
		now := time.Now()
		var (
			out  chan<- *stream.StreamChunk
			head *stream.StreamChunk
			at   time.Time
			wake <-chan time.Time
			in   <-chan *stream.StreamChunk
		)
		if len(st.queue) > 0 && !fs.partition {
			e := &st.queue[0]
			at = e.releaseAt(fs)
			if fs.rate > 0 {
				if st.wireFree.After(at) {
					at = st.wireFree
				}
				at = at.Add(time.Duration(len(e.c.Data)) * time.Millisecond / time.Duration(fs.rate))
			}
			switch {
			case now.Before(at):
				timer.Reset(at.Sub(now))
				wake = timer.C
			case e.abort && fs.loss > 0:
				// Retransmissions exhausted: the connection is torn down
				// (toxiproxy closes the destination socket).
				st.queue = nil
				discard(stub)
				return
			default:
				out, head = stub.Output, e.c
			}
		}
		if !st.eof && st.queued < queueCap(fs) {
			in = stub.Input
		}
		select {
		case c := <-in:
			if c == nil {
				st.eof = true
				if len(st.queue) == 0 {
					stub.Close()
					return
				}
				continue
			}
			s.bytes.Add(uint64(len(c.Data)))
			st.enqueue(c, fs)
		case out <- head:
			e := st.queue[0]
			st.queue[0] = entry{}
			st.queue = st.queue[1:]
			st.queued -= len(e.c.Data)
			if fs.rate > 0 {
				st.wireFree = at
			}
			if st.eof && len(st.queue) == 0 {
				stub.Close()
				return
			}
		case <-wake:
		case <-changed:
		case <-stub.Interrupt:
			return
		case <-sh.done:
			st.queue = nil
			discard(stub)
			return
		}
	}
}

// enqueue queues chunk c, read now under faults fs: under a bandwidth limit
// it is split into slices of 100 ms worth of data (as toxiproxy's bandwidth
// toxic does), and under loss each piece draws its retransmission wait.
func (st *linkState) enqueue(c *stream.StreamChunk, fs faultSet) {
	slice := len(c.Data)
	if fs.rate > 0 {
		slice = int(min(fs.rate*100, math.MaxInt32))
	}
	for data := c.Data; len(data) > 0; {
		n := min(len(data), slice)
		e := entry{
			c:       &stream.StreamChunk{Data: data[:n], Timestamp: c.Timestamp},
			arrival: c.Timestamp,
			u:       rand.Float64()*2 - 1,
		}
		if fs.loss > 0 {
			e.lossHold, e.abort = lossHold(fs.loss, n, rand.Float64)
		}
		st.queue = append(st.queue, e)
		st.queued += n
		data = data[n:]
	}
}

// discard closes the stub's output (ending the link downstream of it, which
// makes toxiproxy close the destination socket) and then swallows its input
// until the upstream side of the link closes it. It never blocks anyone.
func discard(stub *toxics.ToxicStub) {
	stub.Close()
	for range stub.Input {
	}
}

// lossHold returns how long a chunk of n bytes is held, and whether the
// emulated connection gives up on it (too many consecutive losses). rnd
// returns uniform numbers in [0, 1).
func lossHold(fraction float64, n int, rnd func() float64) (time.Duration, bool) {
	if fraction <= 0 {
		return 0, false
	}
	segments := (n + LossSegmentBytes - 1) / LossSegmentBytes
	if segments < 1 {
		segments = 1
	}
	lost := false
	for i := 0; i < segments; i++ {
		if rnd() < fraction {
			lost = true
			break
		}
	}
	if !lost {
		return 0, false
	}
	rto := LossInitialRTO
	hold := rto
	for retransmits := 1; rnd() < fraction; retransmits++ {
		if retransmits >= LossMaxRetransmits {
			return hold, true
		}
		rto = min(2*rto, LossMaxRTO)
		hold += rto
	}
	return hold, false
}

// slogWriter receives toxiproxy's zerolog JSON lines (only warn and above
// reach it) and re-emits them through log/slog at debug level: in a fault
// injector toxiproxy's warnings ("Source terminated", "Unable to open
// connection to upstream", ...) are the expected consequence of the faults
// and of connection churn, and would otherwise flood stderr.
type slogWriter struct{}

func (slogWriter) Write(p []byte) (int, error) {
	ctx := context.Background()
	l := slog.Default()
	if !l.Enabled(ctx, slog.LevelDebug) {
		return len(p), nil
	}
	var rec map[string]any
	if err := json.Unmarshal(p, &rec); err != nil {
		l.DebugContext(ctx, "toxiproxy", "raw", string(bytes.TrimSpace(p)))
		return len(p), nil
	}
	msg, _ := rec["message"].(string)
	delete(rec, "message")
	keys := make([]string, 0, len(rec))
	for k := range rec {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := make([]any, 0, 2*len(keys)+2)
	args = append(args, "component", "toxiproxy")
	for _, k := range keys {
		args = append(args, k, rec[k])
	}
	l.DebugContext(ctx, "toxiproxy: "+msg, args...)
	return len(p), nil
}
