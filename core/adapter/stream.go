package adapter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftcmp/raftcmp/core/adapter/adapterpb"
)

// maxBatch bounds how many proposals or answers one stream message carries.
const maxBatch = 256

// ProposeStream serves a stream of proposal batches: each proposal (or
// read, for a request with a read mode) runs concurrently on the node and
// its answer goes back, by id, in the next batch of answers the sender gets
// out.
func (s *server) ProposeStream(stream adapterpb.Node_ProposeStreamServer) error {
	ctx := stream.Context()
	answers := make(chan *adapterpb.ProposeResponse, maxBatch)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		sendBatches(answers, func(batch []*adapterpb.ProposeResponse) error {
			return stream.Send(&adapterpb.ProposeResults{Responses: batch})
		})
	}()
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		close(answers)
		<-sent
	}()
	for {
		batch, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		for _, req := range batch.GetRequests() {
			wg.Go(func() {
				resp := &adapterpb.ProposeResponse{Id: req.GetId()}
				var err error
				if mode := req.GetReadMode(); mode != "" {
					var rs ReadState
					rs, err = s.impl.Read(ctx, ReadMode(mode))
					resp.AppliedPayloads, resp.Digest = rs.AppliedPayloads, rs.Digest
				} else {
					resp.Position, err = s.impl.Propose(ctx, req.GetPayload())
				}
				var nl *NotLeaderError
				switch {
				case errors.As(err, &nl):
					resp.NotLeader, resp.LeaderHint = true, nl.Leader
				case err != nil:
					st, _ := status.FromError(toStatus(err))
					resp.ErrorCode, resp.Error = int32(st.Code()), st.Message()
				}
				answers <- resp
			})
		}
	}
}

// sendBatches sends what arrives on ch in batches: it blocks for the first
// item, then takes whatever else is already waiting (up to maxBatch), so a
// busy stream packs many items per message and an idle one adds no delay.
// It returns when ch is closed and drained, or send fails (it then drains
// ch so that producers never block).
func sendBatches[T any](ch <-chan T, send func([]T) error) {
	batch := make([]T, 0, maxBatch)
	for first := range ch {
		batch = append(batch[:0], first)
	more:
		for len(batch) < maxBatch {
			select {
			case v, ok := <-ch:
				if !ok {
					break more
				}
				batch = append(batch, v)
			default:
				break more
			}
		}
		if err := send(batch); err != nil {
			for range ch {
			}
			return
		}
	}
}

// StreamProposer proposes over one ProposeStream: any number of goroutines
// may call Propose concurrently, each waiting only for its own answer;
// proposals made together travel together. If the stream breaks, every
// waiting and later Propose fails with the cause; open a new one.
type StreamProposer struct {
	stream  adapterpb.Node_ProposeStreamClient
	cancel  context.CancelFunc
	nextID  atomic.Uint64
	pending chan *adapterpb.ProposeRequest

	mu      sync.Mutex
	waiting map[uint64]chan *adapterpb.ProposeResponse
	err     error // set once the stream is broken
	done    chan struct{}
	sent    chan struct{}
}

// Proposer opens a proposal stream to the node; Close it when done.
func (c *Client) Proposer(ctx context.Context) (*StreamProposer, error) {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stream, err := c.rpc.ProposeStream(sctx)
	if err != nil {
		cancel()
		return nil, fromStatus(err)
	}
	p := &StreamProposer{
		stream: stream, cancel: cancel, pending: make(chan *adapterpb.ProposeRequest, maxBatch),
		waiting: map[uint64]chan *adapterpb.ProposeResponse{}, done: make(chan struct{}), sent: make(chan struct{}),
	}
	go p.receive()
	go func() {
		defer close(p.sent)
		sendBatches(p.pending, func(batch []*adapterpb.ProposeRequest) error {
			if err := stream.Send(&adapterpb.ProposeBatch{Requests: batch}); err != nil {
				p.fail(fmt.Errorf("send proposals: %w", fromStatus(err)))
				return err
			}
			return nil
		})
	}()
	return p, nil
}

func (p *StreamProposer) receive() {
	defer close(p.done)
	for {
		results, err := p.stream.Recv()
		if err != nil {
			if err == io.EOF {
				err = errors.New("proposal stream closed by the node")
			}
			p.fail(fromStatus(err))
			return
		}
		p.mu.Lock()
		for _, resp := range results.GetResponses() {
			if ch := p.waiting[resp.GetId()]; ch != nil {
				delete(p.waiting, resp.GetId())
				ch <- resp
			}
		}
		p.mu.Unlock()
	}
}

// fail ends every waiting proposal with err.
func (p *StreamProposer) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
	for id, ch := range p.waiting {
		close(ch)
		delete(p.waiting, id)
	}
}

// Propose proposes payload and waits for its answer; see Node.Propose. If
// ctx ends first, the proposal may still be applied.
func (p *StreamProposer) Propose(ctx context.Context, payload []byte) (uint64, error) {
	resp, err := p.call(ctx, &adapterpb.ProposeRequest{Payload: payload})
	if err != nil {
		return 0, err
	}
	return resp.GetPosition(), nil
}

// Read serves one read in mode over the stream and waits for its answer;
// see Node.Read.
func (p *StreamProposer) Read(ctx context.Context, mode ReadMode) (ReadState, error) {
	if mode == "" {
		return ReadState{}, fmt.Errorf("read: no read mode: %w", ErrUnsupported)
	}
	resp, err := p.call(ctx, &adapterpb.ProposeRequest{ReadMode: string(mode)})
	if err != nil {
		return ReadState{}, err
	}
	return ReadState{AppliedPayloads: resp.GetAppliedPayloads(), Digest: resp.GetDigest()}, nil
}

// call sends req with a fresh id and waits for its answer, mapping a
// refusal or failure to the contract's errors.
func (p *StreamProposer) call(ctx context.Context, req *adapterpb.ProposeRequest) (*adapterpb.ProposeResponse, error) {
	id := p.nextID.Add(1)
	req.Id = id
	ch := make(chan *adapterpb.ProposeResponse, 1)
	p.mu.Lock()
	if p.err != nil {
		p.mu.Unlock()
		return nil, p.err
	}
	p.waiting[id] = ch
	p.mu.Unlock()

	select {
	case p.pending <- req:
	case <-ctx.Done():
		p.forget(id)
		return nil, ctx.Err()
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			p.mu.Lock()
			defer p.mu.Unlock()
			return nil, p.err
		}
		switch {
		case resp.GetNotLeader():
			return nil, &NotLeaderError{Leader: resp.GetLeaderHint()}
		case resp.GetErrorCode() != 0:
			return nil, fromStatus(status.Error(codes.Code(resp.GetErrorCode()), resp.GetError()))
		}
		return resp, nil
	case <-ctx.Done():
		p.forget(id)
		return nil, ctx.Err()
	}
}

func (p *StreamProposer) forget(id uint64) {
	p.mu.Lock()
	delete(p.waiting, id)
	p.mu.Unlock()
}

// Close ends the stream and waits for its goroutines. Propose must not be
// called during or after Close.
func (p *StreamProposer) Close() {
	close(p.pending)
	<-p.sent
	p.stream.CloseSend()
	p.cancel()
	<-p.done
}
