package etcd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func TestFrameRoundTrip(t *testing.T) {
	msgs := []*raftpb.Message{
		{Type: raftpb.MsgHeartbeat.Enum(), To: new(uint64(2)), From: new(uint64(1)), Term: new(uint64(7)), Commit: new(uint64(42))},
		{Type: raftpb.MsgApp.Enum(), To: new(uint64(3)), From: new(uint64(1)), Entries: []*raftpb.Entry{
			{Term: new(uint64(7)), Index: new(uint64(43)), Data: bytes.Repeat([]byte{0xab}, 2048)},
			{Term: new(uint64(7)), Index: new(uint64(44)), Data: []byte("x")},
		}},
		// Larger than the reader's buffer, so decoded from scratch space.
		{Type: raftpb.MsgApp.Enum(), To: new(uint64(3)), Entries: []*raftpb.Entry{{Data: bytes.Repeat([]byte{0xcd}, 10000)}}},
		{},
	}
	var buf []byte
	for _, m := range msgs {
		var err error
		if buf, err = appendFrame(buf, m); err != nil {
			t.Fatal(err)
		}
	}
	r := bufio.NewReader(bytes.NewReader(buf))
	var scratch []byte
	// Decode everything before comparing: a message that aliased the
	// reader's buffer or the scratch space would have been overwritten.
	var got []*raftpb.Message
	for i := range msgs {
		m, err := readFrame(r, &scratch)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		got = append(got, m)
	}
	for i, want := range msgs {
		if !proto.Equal(got[i], want) {
			t.Errorf("frame %d: got %v, want %v", i, got[i], want)
		}
	}
	if _, err := readFrame(r, &scratch); err != io.EOF {
		t.Errorf("after the last frame: err %v, want io.EOF", err)
	}
}

func TestFrameErrors(t *testing.T) {
	good, err := appendFrame(nil, &raftpb.Message{Type: raftpb.MsgHeartbeat.Enum(), To: new(uint64(2))})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"truncated header", good[:2], "unexpected EOF"},
		{"truncated body", good[:len(good)-1], "unexpected EOF"},
		{"oversized", []byte{0xff, 0xff, 0xff, 0xff}, "exceeds the limit"},
		{"garbage", []byte{0, 0, 0, 2, 0xff, 0xff}, "decode message"},
	} {
		var scratch []byte
		_, err := readFrame(bufio.NewReader(bytes.NewReader(tc.in)), &scratch)
		if err == nil || errors.Is(err, io.EOF) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestOneAppResp(t *testing.T) {
	msg := func(typ raftpb.MessageType, index uint64) *raftpb.Message {
		return &raftpb.Message{Type: typ.Enum(), Index: new(index)}
	}
	for _, tc := range []struct {
		name string
		in   []*raftpb.Message
		want []*raftpb.Message
	}{
		{"none", nil, nil},
		{"no responses", []*raftpb.Message{msg(raftpb.MsgApp, 1), msg(raftpb.MsgHeartbeat, 0)},
			[]*raftpb.Message{msg(raftpb.MsgApp, 1), msg(raftpb.MsgHeartbeat, 0)}},
		{"the last response stays in place", []*raftpb.Message{msg(raftpb.MsgAppResp, 3), msg(raftpb.MsgHeartbeatResp, 0), msg(raftpb.MsgAppResp, 5), msg(raftpb.MsgVoteResp, 0)},
			[]*raftpb.Message{msg(raftpb.MsgHeartbeatResp, 0), msg(raftpb.MsgAppResp, 5), msg(raftpb.MsgVoteResp, 0)}},
	} {
		got := oneAppResp(tc.in)
		if len(got) != len(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if !proto.Equal(got[i], tc.want[i]) {
				t.Errorf("%s: message %d is %v, want %v", tc.name, i, got[i], tc.want[i])
			}
		}
	}
}
