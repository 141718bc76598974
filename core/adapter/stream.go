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

// ProposeStream serves a stream of proposals: each runs concurrently on
// the node and is answered, by id, as soon as it returns. Sends are
// serialised (a gRPC stream allows one sender at a time).
func (s *server) ProposeStream(stream adapterpb.Node_ProposeStreamServer) error {
	ctx := stream.Context()
	var sendMu sync.Mutex
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		wg.Go(func() {
			resp := &adapterpb.ProposeResponse{Id: req.GetId()}
			err := s.impl.Propose(ctx, req.GetPayload())
			var nl *NotLeaderError
			switch {
			case errors.As(err, &nl):
				resp.NotLeader, resp.LeaderHint = true, nl.Leader
			case err != nil:
				st, _ := status.FromError(toStatus(err))
				resp.ErrorCode, resp.Error = int32(st.Code()), st.Message()
			}
			sendMu.Lock()
			defer sendMu.Unlock()
			stream.Send(resp) // a failed send means the stream is gone; Recv reports it
		})
	}
}

// StreamProposer proposes over one ProposeStream: any number of goroutines
// may call Propose concurrently, each waiting only for its own answer. If
// the stream breaks, every waiting and later Propose fails with the cause;
// open a new one.
type StreamProposer struct {
	stream adapterpb.Node_ProposeStreamClient
	cancel context.CancelFunc
	sendMu sync.Mutex
	nextID atomic.Uint64

	mu      sync.Mutex
	waiting map[uint64]chan *adapterpb.ProposeResponse
	err     error // set once the stream is broken
	done    chan struct{}
}

// Proposer opens a proposal stream to the node; Close it when done.
func (c *Client) Proposer(ctx context.Context) (*StreamProposer, error) {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stream, err := c.rpc.ProposeStream(sctx)
	if err != nil {
		cancel()
		return nil, fromStatus(err)
	}
	p := &StreamProposer{stream: stream, cancel: cancel, waiting: map[uint64]chan *adapterpb.ProposeResponse{}, done: make(chan struct{})}
	go p.receive()
	return p, nil
}

func (p *StreamProposer) receive() {
	defer close(p.done)
	for {
		resp, err := p.stream.Recv()
		if err != nil {
			if err == io.EOF {
				err = errors.New("proposal stream closed by the node")
			}
			p.fail(fromStatus(err))
			return
		}
		p.mu.Lock()
		ch := p.waiting[resp.GetId()]
		delete(p.waiting, resp.GetId())
		p.mu.Unlock()
		if ch != nil {
			ch <- resp
		}
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
func (p *StreamProposer) Propose(ctx context.Context, payload []byte) error {
	id := p.nextID.Add(1)
	ch := make(chan *adapterpb.ProposeResponse, 1)
	p.mu.Lock()
	if p.err != nil {
		p.mu.Unlock()
		return p.err
	}
	p.waiting[id] = ch
	p.mu.Unlock()

	p.sendMu.Lock()
	err := p.stream.Send(&adapterpb.ProposeRequest{Id: id, Payload: payload})
	p.sendMu.Unlock()
	if err != nil {
		p.mu.Lock()
		delete(p.waiting, id)
		p.mu.Unlock()
		return fmt.Errorf("send proposal: %w", fromStatus(err))
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.err
		}
		switch {
		case resp.GetNotLeader():
			return &NotLeaderError{Leader: resp.GetLeaderHint()}
		case resp.GetErrorCode() != 0:
			return fromStatus(status.Error(codes.Code(resp.GetErrorCode()), resp.GetError()))
		}
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		delete(p.waiting, id)
		p.mu.Unlock()
		return ctx.Err()
	}
}

// Close ends the stream and waits for its receiver.
func (p *StreamProposer) Close() {
	p.sendMu.Lock()
	p.stream.CloseSend()
	p.sendMu.Unlock()
	p.cancel()
	<-p.done
}
