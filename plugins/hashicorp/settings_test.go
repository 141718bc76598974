package hashicorp_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/plugins/hashicorp"
)

// The shared knobs and options map onto hashicorp/raft's configuration, and
// what cannot be honoured is reported with what ran instead.
func TestSettings(t *testing.T) {
	uniform := adapter.Uniform
	for _, tc := range []struct {
		name       string
		raft       string // --raft value, "" for none
		opts       adapter.Options
		storage    adapter.Storage
		applied    string
		unhonoured []string // knobs reported unhonoured, with a word of the reason
		check      func(t *testing.T, r hashicorp.Resolved)
	}{
		{
			name:    "production",
			applied: "election=1s,heartbeat=100ms,prevote=on,checkquorum=on,append=64,inflight=2,snapshot=16384,keep=10240",
			check: func(t *testing.T, r hashicorp.Resolved) {
				def := raft.DefaultConfig()
				want(t, "HeartbeatTimeout", r.Conf.HeartbeatTimeout, def.HeartbeatTimeout)
				want(t, "ElectionTimeout", r.Conf.ElectionTimeout, def.ElectionTimeout)
				want(t, "LeaderLeaseTimeout", r.Conf.LeaderLeaseTimeout, def.LeaderLeaseTimeout)
				want(t, "PreVoteDisabled", r.Conf.PreVoteDisabled, false)
				want(t, "MaxRPCsInFlight", r.Transport.MaxRPCsInFlight, raft.DefaultMaxRPCsInFlight)
				want(t, "MaxPool", r.Transport.MaxPool, 3)
				want(t, "LogCache", r.LogCache, 512)
				want(t, "LogStore", r.LogStore, "boltdb")
				// Consul's snapshot policy (agent/consul/config.go).
				want(t, "SnapshotThreshold", r.Conf.SnapshotThreshold, uint64(16384))
				want(t, "SnapshotInterval", r.Conf.SnapshotInterval, 30*time.Second)
			},
		},
		{
			name:    "uniform",
			raft:    adapter.ProfileUniform,
			applied: uniform.String(),
			check: func(t *testing.T, r hashicorp.Resolved) {
				want(t, "HeartbeatTimeout", r.Conf.HeartbeatTimeout, uniform.ElectionTimeout)
				want(t, "MaxAppendEntries", r.Conf.MaxAppendEntries, uniform.MaxAppendEntries)
				want(t, "MaxRPCsInFlight", r.Transport.MaxRPCsInFlight, uniform.MaxInflightAppends)
			},
		},
		{
			name:    "shorter election scales the candidate wait and the lease",
			raft:    "election=200ms",
			applied: "election=200ms,heartbeat=20ms,prevote=on,checkquorum=on,append=64,inflight=2,snapshot=16384,keep=10240",
			check: func(t *testing.T, r hashicorp.Resolved) {
				want(t, "HeartbeatTimeout", r.Conf.HeartbeatTimeout, 200*time.Millisecond)
				want(t, "ElectionTimeout", r.Conf.ElectionTimeout, 200*time.Millisecond)
				want(t, "LeaderLeaseTimeout", r.Conf.LeaderLeaseTimeout, 100*time.Millisecond)
			},
		},
		{
			name:       "heartbeat not a tenth of the election timeout",
			raft:       "heartbeat=50ms",
			applied:    "election=1s,heartbeat=100ms,prevote=on,checkquorum=on,append=64,inflight=2,snapshot=16384,keep=10240",
			unhonoured: []string{"heartbeat:HeartbeatTimeout/10"},
		},
		{
			name:       "election below the library's floor",
			raft:       "election=2ms",
			unhonoured: []string{"election:5ms"},
			check: func(t *testing.T, r hashicorp.Resolved) {
				want(t, "HeartbeatTimeout", r.Conf.HeartbeatTimeout, 5*time.Millisecond)
				want(t, "LeaderLeaseTimeout", r.Conf.LeaderLeaseTimeout, 5*time.Millisecond)
			},
		},
		{
			name:       "check quorum cannot be turned off",
			raft:       "checkquorum=off",
			unhonoured: []string{"checkquorum:cannot be turned off"},
		},
		{
			name:    "pre-vote off",
			raft:    "prevote=off",
			applied: "election=1s,heartbeat=100ms,prevote=off,checkquorum=on,append=64,inflight=2,snapshot=16384,keep=10240",
			check:   func(t *testing.T, r hashicorp.Resolved) { want(t, "PreVoteDisabled", r.Conf.PreVoteDisabled, true) },
		},
		{
			name:       "more entries per append than the library takes",
			raft:       "append=2048",
			unhonoured: []string{"append:1024"},
			check:      func(t *testing.T, r hashicorp.Resolved) { want(t, "MaxAppendEntries", r.Conf.MaxAppendEntries, 1024) },
		},
		{
			name:  "one append in flight turns pipelining off",
			raft:  "inflight=1",
			check: func(t *testing.T, r hashicorp.Resolved) { want(t, "MaxRPCsInFlight", r.Transport.MaxRPCsInFlight, 1) },
		},
		{
			name:       "snapshot every N entries is checked on a timer",
			raft:       "snapshot=500",
			unhonoured: []string{"snapshot:timer"},
			check: func(t *testing.T, r hashicorp.Resolved) {
				want(t, "SnapshotThreshold", r.Conf.SnapshotThreshold, uint64(500))
				want(t, "SnapshotInterval", r.Conf.SnapshotInterval, time.Second)
			},
		},
		{
			name:       "an option wins over the knob for the same setting",
			raft:       "append=128,inflight=8",
			opts:       adapter.Options{"max_append_entries": "32", "max_rpcs_in_flight": "4"},
			unhonoured: []string{"append:overridden by option max_append_entries=32", "inflight:overridden by option max_rpcs_in_flight=4"},
			check: func(t *testing.T, r hashicorp.Resolved) {
				want(t, "MaxAppendEntries", r.Conf.MaxAppendEntries, 32)
				want(t, "MaxRPCsInFlight", r.Transport.MaxRPCsInFlight, 4)
			},
		},
		{
			name:       "heartbeat_timeout wins over election",
			raft:       "election=2s",
			opts:       adapter.Options{"heartbeat_timeout": "500ms"},
			unhonoured: []string{"election:overridden by option heartbeat_timeout=500ms"},
			check: func(t *testing.T, r hashicorp.Resolved) {
				want(t, "HeartbeatTimeout", r.Conf.HeartbeatTimeout, 500*time.Millisecond)
				want(t, "ElectionTimeout", r.Conf.ElectionTimeout, 500*time.Millisecond)
			},
		},
		{
			name: "snapshot_threshold alone brings the library's interval back",
			opts: adapter.Options{"snapshot_threshold": "100"},
			check: func(t *testing.T, r hashicorp.Resolved) {
				want(t, "SnapshotThreshold", r.Conf.SnapshotThreshold, uint64(100))
				want(t, "SnapshotInterval", r.Conf.SnapshotInterval, raft.DefaultConfig().SnapshotInterval)
			},
		},
		{
			name:    "memory storage has no log cache",
			storage: adapter.StorageMemory,
			check:   func(t *testing.T, r hashicorp.Resolved) { want(t, "LogCache", r.LogCache, 0) },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := adapter.Config{ID: 1, Storage: adapter.StorageDisk, Options: tc.opts}
			if tc.storage != "" {
				cfg.Storage = tc.storage
			}
			if tc.raft != "" {
				_, k, err := adapter.ParseRaft(tc.raft)
				if err != nil {
					t.Fatal(err)
				}
				cfg.Raft = k
			}
			r, err := hashicorp.Resolve(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := raft.ValidateConfig(withID(r.Conf)); err != nil {
				t.Errorf("the library refuses the resolved config: %v", err)
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
			set, err := hashicorp.New().Settings(cfg)
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

// Conflicting options are refused, naming what to change.
func TestSettingsRefused(t *testing.T) {
	for _, opts := range []adapter.Options{
		{"leader_lease_timeout": "2s"},
		{"election_timeout": "100ms"},
		{"max_append_entries": "4096"},
		{"log_cache": "-1"},
		{"no_such_option": "1"},
	} {
		if _, err := hashicorp.New().Settings(adapter.Config{ID: 1, Storage: adapter.StorageDisk, Options: opts}); err == nil {
			t.Errorf("Settings with %v: no error", opts)
		}
	}
}

// What Start runs is what Settings reports: the node keeps the resolved
// configuration, and the running raft.Raft reports the same timings.
func TestStartAppliesSettings(t *testing.T) {
	addrs, err := cluster.FreeAddrs(1)
	if err != nil {
		t.Fatal(err)
	}
	for _, storage := range []adapter.Storage{adapter.StorageMemory, adapter.StorageDisk} {
		t.Run(string(storage), func(t *testing.T) {
			_, k, err := adapter.ParseRaft("uniform,election=300ms,snapshot=1000")
			if err != nil {
				t.Fatal(err)
			}
			cfg := adapter.Config{
				ID: 1, Peers: []adapter.Peer{{ID: 1, Addr: addrs[0]}}, DataDir: t.TempDir(), Storage: storage,
				Options: adapter.Options{"max_append_entries": "16"}, Raft: k,
			}
			want, err := hashicorp.Resolve(cfg)
			if err != nil {
				t.Fatal(err)
			}
			n := hashicorp.New()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := n.Start(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			defer n.Stop(ctx)
			got := n.Applied()
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Start ran\n%+v\nSettings said\n%+v", got, want)
			}
			run := n.Running()
			if run.HeartbeatTimeout != want.Conf.HeartbeatTimeout || run.ElectionTimeout != want.Conf.ElectionTimeout ||
				run.SnapshotThreshold != want.Conf.SnapshotThreshold || run.SnapshotInterval != want.Conf.SnapshotInterval ||
				run.TrailingLogs != want.Conf.TrailingLogs {
				t.Errorf("running raft has %+v, resolved %+v", run, want.Conf)
			}
		})
	}
}

func withID(c raft.Config) *raft.Config {
	c.LocalID = "1"
	return &c
}

func want[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// checkUnhonoured checks that exactly the knobs in want ("knob:word of the
// reason") are reported unhonoured.
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
