package netproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
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

// Toxic type names this package registers in toxiproxy's (process-global)
// toxic registry. toxiproxy only builds toxics by registered type name (its
// ToxicCollection.AddToxicJson is the only way to add one), so the custom
// toxics below have to be registered there; the names are prefixed so they
// cannot collide with toxiproxy's own.
const (
	toxicTypeCount     = "raftcmp_count"
	toxicTypePartition = "raftcmp_partition"
	toxicTypeLoss      = "raftcmp_loss"
)

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

func init() {
	// toxiproxy's bandwidth toxic logs through zerolog's global logger,
	// which writes to stderr, and zerolog's own init lowers the global
	// level to trace, so every interruption of a bandwidth toxic would
	// print a line. Redirect that logger like the proxies' loggers: warn
	// and above only, forwarded to slog (see slogWriter). Done here, before
	// any toxic can run, because the variable is not synchronised.
	zlog.Logger = zerolog.New(slogWriter{}).Level(zerolog.WarnLevel)
	toxics.Register(toxicTypeCount, new(countToxic))
	toxics.Register(toxicTypePartition, new(partitionToxic))
	toxics.Register(toxicTypeLoss, new(lossToxic))
}

// meshShared is the state custom toxics need from their Mesh. toxiproxy
// creates a toxic from JSON (reflect.New of the registered type followed by
// json.Decode), and starts running it on live connections before
// AddToxicJson returns, so a toxic cannot be handed a Go pointer without a
// data race; it carries the mesh id in its JSON attributes instead and looks
// the shared state up here.
type meshShared struct {
	// done is closed by Mesh.Close: every custom toxic then stops
	// forwarding, closes its output and discards its input until the
	// connection ends, so no toxic goroutine stays blocked after Close.
	done chan struct{}
	// pipes counts running countToxic.Pipe calls (two per live proxied
	// connection); Close waits for it to drop to zero before stopping the
	// proxies so that data already past the counters is flushed.
	pipes atomic.Int64
}

var (
	meshRegistry sync.Map // mesh id (uint64) -> *meshShared
	nextMeshID   atomic.Uint64
	// closedShared is returned for unknown (closed) meshes: its done
	// channel is already closed.
	closedShared = func() *meshShared {
		s := &meshShared{done: make(chan struct{})}
		close(s.done)
		return s
	}()
)

func sharedFor(id uint64) *meshShared {
	if v, ok := meshRegistry.Load(id); ok {
		return v.(*meshShared)
	}
	return closedShared
}

// discard closes the stub's output (ending the link downstream of it, which
// makes toxiproxy close the destination socket) and then swallows its input
// until the upstream side of the link closes it. It never blocks anyone.
func discard(stub *toxics.ToxicStub) {
	stub.Close()
	for range stub.Input {
	}
}

// countToxic counts the bytes that enter a link. Every proxy gets one per
// stream, installed before the proxy starts, so it always sits right after
// toxiproxy's hidden noop toxic, before any fault toxic.
type countToxic struct {
	Mesh uint64 `json:"mesh"`
	// bytes is set by NewMesh after AddToxicJson and before the proxy is
	// started; no link (and so no Pipe) exists before Start, so this is
	// race-free.
	bytes *atomic.Uint64
}

// countState is the per-connection state of a countToxic: a chunk it has
// counted but not yet handed on. Keeping it across interrupts lets the
// counter give way to toxiproxy's chain rewiring even when the next stage
// is not reading, instead of blocking the whole ToxicCollection.
type countState struct {
	pending *stream.StreamChunk
}

func (t *countToxic) NewState() interface{} { return new(countState) }

func (t *countToxic) Pipe(stub *toxics.ToxicStub) {
	sh := sharedFor(t.Mesh)
	sh.pipes.Add(1)
	defer sh.pipes.Add(-1)
	st, _ := stub.State.(*countState)
	if st == nil {
		st = new(countState)
		stub.State = st
	}
	for {
		if st.pending != nil {
			select {
			case stub.Output <- st.pending:
				st.pending = nil
			case <-stub.Interrupt:
				return // resent to the rewired output on the next Run
			case <-sh.done:
				st.pending = nil
				discard(stub)
				return
			}
			continue
		}
		select {
		case <-stub.Interrupt:
			return
		case <-sh.done:
			discard(stub)
			return
		case c := <-stub.Input:
			if c == nil {
				stub.Close()
				return
			}
			t.bytes.Add(uint64(len(c.Data)))
			st.pending = c
		}
	}
}

// partitionToxic stalls its stream: it reads nothing, so data backs up into
// the proxy's read goroutine and then into the sender's socket buffers, as
// over a network path that silently stopped delivering packets. When it is
// removed, toxiproxy hands everything queued in front of it on, so the TCP
// stream resumes intact.
type partitionToxic struct {
	Mesh uint64 `json:"mesh"`
}

func (t *partitionToxic) Pipe(stub *toxics.ToxicStub) {
	sh := sharedFor(t.Mesh)
	select {
	case <-stub.Interrupt:
	case <-sh.done:
		discard(stub)
	}
}

// lossToxic emulates what an application sees on a TCP connection whose
// packets are lost with probability Fraction: no byte is ever dropped or
// reordered (TCP retransmits), but a chunk with a lost segment, and every
// chunk queued behind it, is held back for the retransmission timeouts.
type lossToxic struct {
	Mesh     uint64  `json:"mesh"`
	Fraction float64 `json:"fraction"`
}

// GetBufferSize lets data queue up behind a held chunk (as in the
// receiver's out-of-order queue) instead of pushing back on the sender at
// once; it matches toxiproxy's latency toxic.
func (t *lossToxic) GetBufferSize() int { return 1024 }

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

func (t *lossToxic) Pipe(stub *toxics.ToxicStub) {
	sh := sharedFor(t.Mesh)
	// forward hands c on; false means the mesh closed meanwhile.
	forward := func(c *stream.StreamChunk) bool {
		select {
		case stub.Output <- c:
			return true
		case <-sh.done:
			discard(stub)
			return false
		}
	}
	for {
		select {
		case <-stub.Interrupt:
			return
		case <-sh.done:
			discard(stub)
			return
		case c := <-stub.Input:
			if c == nil {
				stub.Close()
				return
			}
			hold, abort := lossHold(t.Fraction, len(c.Data), rand.Float64)
			if hold > 0 {
				timer := time.NewTimer(hold)
				select {
				case <-timer.C:
				case <-stub.Interrupt:
					// Removed or rewired: release the chunk now (like
					// toxiproxy's latency toxic), never drop it.
					timer.Stop()
					forward(c)
					return
				case <-sh.done:
					timer.Stop()
					discard(stub)
					return
				}
			}
			if abort {
				// Retransmissions exhausted: the connection is torn down
				// (the destination socket is closed by toxiproxy).
				discard(stub)
				return
			}
			if !forward(c) {
				return
			}
		}
	}
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
