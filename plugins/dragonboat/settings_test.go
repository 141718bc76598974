package dragonboat_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/plugins/dragonboat"
)

// The shared knobs and options map onto dragonboat's configuration, and
// what cannot be honoured is reported with what ran instead.
func TestSettings(t *testing.T) {
	type timing struct{ rtt, election, heartbeat uint64 }
	for _, tc := range []struct {
		name       string
		raft       string // --raft value, "" for none
		opts       adapter.Options
		applied    string
		timing     timing
		unhonoured []string // knobs reported unhonoured, with a word of the reason
		check      func(t *testing.T, r dragonboat.Resolved)
	}{
		{
			name:    "production",
			applied: "election=200ms,heartbeat=20ms,prevote=off,checkquorum=on,snapshot=off,keep=0",
			timing:  timing{5, 40, 4},
			check: func(t *testing.T, r dragonboat.Resolved) {
				want(t, "LogDB", r.LogDB, "pebble")
				want(t, "LogDB shards", r.LogDBConfig.Shards, uint64(1))
				want(t, "SnapshotEntries", r.Shard.SnapshotEntries, uint64(0))
			},
		},
		{
			name:       "uniform keeps the 5ms tick",
			raft:       adapter.ProfileUniform,
			applied:    "election=1s,heartbeat=100ms,prevote=on,checkquorum=on,snapshot=off,keep=5000",
			timing:     timing{5, 200, 20},
			unhonoured: []string{"append:bytes", "inflight:no in-flight limit"},
			check: func(t *testing.T, r dragonboat.Resolved) {
				want(t, "PreVote", r.Shard.PreVote, true)
				want(t, "CheckQuorum", r.Shard.CheckQuorum, true)
			},
		},
		{
			name:    "not multiples of 5ms: a tick of their gcd",
			raft:    "election=333ms,heartbeat=21ms",
			applied: "election=333ms,heartbeat=21ms,prevote=off,checkquorum=on,snapshot=off,keep=0",
			timing:  timing{3, 111, 7},
		},
		{
			name:   "election alone keeps the production heartbeat",
			raft:   "election=1s",
			timing: timing{5, 200, 4},
		},
		{
			name:   "election alone below twice the production heartbeat lowers it",
			raft:   "election=30ms",
			timing: timing{5, 6, 2},
		},
		{
			name:   "heartbeat alone raises the production election",
			raft:   "heartbeat=150ms",
			timing: timing{5, 61, 30},
		},
		{
			name:       "both requested against dragonboat's rule: the heartbeat gives way",
			raft:       "election=200ms,heartbeat=100ms",
			timing:     timing{5, 40, 19},
			unhonoured: []string{"heartbeat:95ms"},
		},
		{
			name:       "sub-millisecond values",
			raft:       "election=2500us,heartbeat=1ms",
			timing:     timing{1, 3, 1},
			unhonoured: []string{"election:3ms"},
		},
		{
			name:       "timing options win over the knobs",
			raft:       "election=1s,heartbeat=100ms",
			opts:       adapter.Options{"rtt_ms": "25"},
			timing:     timing{25, 40, 4},
			unhonoured: []string{"election:overridden by option rtt_ms=25", "heartbeat:overridden by option rtt_ms=25"},
		},
		{
			name:       "switch options win over the knobs",
			raft:       "prevote=on,checkquorum=off,snapshot=1000",
			opts:       adapter.Options{"pre_vote": "false", "check_quorum": "true", "snapshot_entries": "50"},
			applied:    "election=200ms,heartbeat=20ms,prevote=off,checkquorum=on,snapshot=50,keep=0",
			timing:     timing{5, 40, 4},
			unhonoured: []string{"prevote:overridden", "checkquorum:overridden", "snapshot:overridden"},
		},
		{
			name:    "check quorum off and snapshots",
			raft:    "checkquorum=off,snapshot=1000",
			applied: "election=200ms,heartbeat=20ms,prevote=off,checkquorum=off,snapshot=1000,keep=0",
			timing:  timing{5, 40, 4},
			check: func(t *testing.T, r dragonboat.Resolved) {
				want(t, "CheckQuorum", r.Shard.CheckQuorum, false)
				want(t, "SnapshotEntries", r.Shard.SnapshotEntries, uint64(1000))
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := adapter.Config{ID: 1, Storage: adapter.StorageDisk, Options: tc.opts}
			if tc.raft != "" {
				_, k, err := adapter.ParseRaft(tc.raft)
				if err != nil {
					t.Fatal(err)
				}
				cfg.Raft = k
			}
			r, err := dragonboat.Resolve(cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := timing{r.RTTMillis, r.Shard.ElectionRTT, r.Shard.HeartbeatRTT}
			want(t, "rtt, election, heartbeat ticks", got, tc.timing)
			shard := r.Shard
			shard.ReplicaID = 1
			if err := shard.Validate(); err != nil {
				t.Errorf("dragonboat refuses the resolved config: %v", err)
			}
			if tc.applied != "" {
				want(t, "Applied", r.Report.Applied(), tc.applied)
			}
			checkUnhonoured(t, r.Report, tc.unhonoured)
			for _, v := range r.Report.Values {
				if v.Name == "" || v.Value == "" || v.Source == "" || v.Note == "" {
					t.Errorf("incomplete setting %+v", v)
				}
			}
			set, err := dragonboat.New().Settings(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(set, r.Report) {
				t.Errorf("Settings differs from resolve's report:\n%+v\n%+v", set, r.Report)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

// What Start runs is what Settings reports: the node keeps the resolved
// configuration, and the running NodeHost has the resolved tick.
func TestStartAppliesSettings(t *testing.T) {
	addrs, err := cluster.FreeAddrs(1)
	if err != nil {
		t.Fatal(err)
	}
	_, k, err := adapter.ParseRaft("uniform,election=300ms,snapshot=1000")
	if err != nil {
		t.Fatal(err)
	}
	cfg := adapter.Config{
		ID: 1, Peers: []adapter.Peer{{ID: 1, Addr: addrs[0]}}, DataDir: t.TempDir(), Storage: adapter.StorageDisk,
		Options: adapter.Options{"check_quorum": "false"}, Raft: k,
	}
	wantRes, err := dragonboat.Resolve(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := dragonboat.New()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := n.Start(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	defer n.Stop(ctx)
	if got := n.Applied(); !reflect.DeepEqual(got, wantRes) {
		t.Errorf("Start ran\n%+v\nSettings said\n%+v", got, wantRes)
	}
	want(t, "running RTTMillisecond", n.Running().RTTMillisecond, wantRes.RTTMillis)
}

func want[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// checkUnhonoured checks that exactly the knobs in want ("knob:word of the
// reason") are reported unhonoured, in order.
func checkUnhonoured(t *testing.T, s adapter.Settings, want []string) {
	t.Helper()
	if len(s.Unhonoured) != len(want) {
		t.Errorf("unhonoured %q, want %q", s.UnhonouredString(), want)
		return
	}
	for i, w := range want {
		knob, word, _ := strings.Cut(w, ":")
		u := s.Unhonoured[i]
		if u.Knob != knob || !strings.Contains(u.Reason, word) || u.Requested == "" {
			t.Errorf("unhonoured[%d] = %v, want knob %s with %q in the reason", i, u, knob, word)
		}
	}
}
