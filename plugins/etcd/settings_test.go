package etcd_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/plugins/etcd"
)

// value is the Setting named name (a knob or a library name) in s.
func value(t *testing.T, s adapter.Settings, name string) adapter.Setting {
	t.Helper()
	i := slices.IndexFunc(s.Values, func(v adapter.Setting) bool { return v.Knob == name || (v.Knob == "" && v.Name == name) })
	if i < 0 {
		t.Fatalf("no setting %q in %+v", name, s.Values)
	}
	return s.Values[i]
}

func TestSettings(t *testing.T) {
	profile := func(s string) adapter.Raft {
		_, r, err := adapter.ParseRaft(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, tc := range []struct {
		name    string
		raft    adapter.Raft
		opts    adapter.Options
		applied string
		// unhonoured lists "knob: reason fragment".
		unhonoured []string
		sources    map[string]string // knob -> Source
		tick       string
	}{
		{
			name:    "production is etcd's server",
			raft:    profile("production"),
			applied: "election=1s,heartbeat=100ms,prevote=on,checkquorum=on,inflight=512,snapshot=10000,keep=5000",
			sources: map[string]string{"election": adapter.SourceProduction, "heartbeat": adapter.SourceProduction,
				"prevote": adapter.SourceProduction, "checkquorum": adapter.SourceProduction, "inflight": adapter.SourceProduction, "snapshot": adapter.SourceProduction},
			tick: "100ms",
		},
		{
			name:       "uniform applied exactly but for append",
			raft:       profile("uniform"),
			applied:    "election=1s,heartbeat=100ms,prevote=on,checkquorum=on,inflight=128,snapshot=off,keep=5000",
			unhonoured: []string{"append: bounds an append by bytes"},
			sources:    map[string]string{"election": adapter.SourceRequested, "inflight": adapter.SourceRequested, "snapshot": adapter.SourceRequested},
			tick:       "100ms",
		},
		{
			name:       "election not a whole number of ticks",
			raft:       profile("election=250ms,heartbeat=100ms"),
			applied:    "election=300ms,heartbeat=100ms,prevote=on,checkquorum=on,inflight=512,snapshot=10000,keep=5000",
			unhonoured: []string{"election: not a whole number of 100ms ticks; runs 300ms (3 ticks)"},
			tick:       "100ms",
		},
		{
			name:       "heartbeat becomes the tick; election rounds to it",
			raft:       profile("election=100ms,heartbeat=30ms"),
			applied:    "election=90ms,heartbeat=30ms,prevote=on,checkquorum=on,inflight=512,snapshot=10000,keep=5000",
			unhonoured: []string{"election: runs 90ms (3 ticks)"},
			tick:       "30ms",
		},
		{
			name:       "election must exceed heartbeat",
			raft:       profile("election=100ms,heartbeat=100ms"),
			applied:    "election=200ms,heartbeat=100ms,prevote=on,checkquorum=on,inflight=512,snapshot=10000,keep=5000",
			unhonoured: []string{"election: needs ElectionTick > HeartbeatTick; runs 200ms"},
			tick:       "100ms",
		},
		{
			name:       "heartbeat against a given tick",
			raft:       profile("heartbeat=150ms"),
			opts:       adapter.Options{"tick_interval": "100ms"},
			applied:    "election=1s,heartbeat=200ms,prevote=on,checkquorum=on,inflight=512,snapshot=10000,keep=5000",
			unhonoured: []string{"heartbeat: not a whole number of 100ms ticks; runs 200ms (2 ticks)"},
			tick:       "100ms",
		},
		{
			name:    "a heartbeat alone keeps etcd's election timeout",
			raft:    profile("heartbeat=50ms"),
			applied: "election=1s,heartbeat=50ms,prevote=on,checkquorum=on,inflight=512,snapshot=10000,keep=5000",
			sources: map[string]string{"election": adapter.SourceProduction, "heartbeat": adapter.SourceRequested},
			tick:    "50ms",
		},
		{
			name:    "explicit options win over knobs",
			raft:    profile("uniform,inflight=64"),
			opts:    adapter.Options{"election_tick": "20", "pre_vote": "false", "max_inflight_msgs": "256", "snapshot_entries": "500"},
			applied: "election=2s,heartbeat=100ms,prevote=off,checkquorum=on,inflight=256,snapshot=500,keep=5000",
			unhonoured: []string{
				"election: overridden by option election_tick=20",
				"prevote: overridden by option pre_vote=false",
				"append: bounds an append by bytes",
				"inflight: overridden by option max_inflight_msgs=256",
				"snapshot: overridden by option snapshot_entries=500",
			},
			sources: map[string]string{"election": adapter.SourceRequested, "prevote": adapter.SourceRequested, "checkquorum": adapter.SourceRequested},
			tick:    "100ms",
		},
		{
			name:    "options alone",
			opts:    adapter.Options{"tick_interval": "20ms", "election_tick": "5", "check_quorum": "false", "snapshot_entries": "0"},
			applied: "election=100ms,heartbeat=20ms,prevote=on,checkquorum=off,inflight=512,snapshot=off,keep=5000",
			sources: map[string]string{"election": adapter.SourceRequested, "heartbeat": adapter.SourceProduction, "checkquorum": adapter.SourceRequested},
			tick:    "20ms",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := adapter.Config{ID: 1, Peers: []adapter.Peer{{ID: 1, Addr: "127.0.0.1:0"}}, Storage: adapter.StorageDisk, Options: tc.opts, Raft: tc.raft}
			s, err := etcd.New().Settings(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Applied(); got != tc.applied {
				t.Errorf("applied %q, want %q", got, tc.applied)
			}
			if len(s.Unhonoured) != len(tc.unhonoured) {
				t.Errorf("unhonoured %q, want %d: %q", s.UnhonouredString(), len(tc.unhonoured), tc.unhonoured)
			}
			for _, want := range tc.unhonoured {
				knob, frag, _ := strings.Cut(want, ": ")
				if !slices.ContainsFunc(s.Unhonoured, func(u adapter.Unhonoured) bool {
					return u.Knob == knob && u.Requested != "" && strings.Contains(u.Reason, frag)
				}) {
					t.Errorf("unhonoured %q: want %s with a reason containing %q", s.UnhonouredString(), knob, frag)
				}
			}
			for knob, src := range tc.sources {
				if got := value(t, s, knob); got.Source != src {
					t.Errorf("%s: source %q (%s), want %q", knob, got.Source, got.Note, src)
				}
			}
			if got := value(t, s, "tick").Value; got != tc.tick {
				t.Errorf("tick %s, want %s", got, tc.tick)
			}
			for _, v := range s.Values {
				if v.Value == "" || v.Source == "" || v.Note == "" {
					t.Errorf("setting %+v: want a value, a source and a note", v)
				}
			}
		})
	}
}

func TestSettingsRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		opts adapter.Options
		want string
	}{
		{adapter.Options{"transport": "udp"}, "option transport"},
		{adapter.Options{"ready_order": "random"}, "option ready_order"},
		{adapter.Options{"transport": "rafthttp", "send_queue": "10"}, "option send_queue"},
		{adapter.Options{"election_tick": "3", "heartbeat_tick": "3"}, "greater than heartbeat_tick"},
		{adapter.Options{"bogus": "1"}, "unknown option bogus"},
	} {
		cfg := adapter.Config{ID: 1, Peers: []adapter.Peer{{ID: 1, Addr: "127.0.0.1:0"}}, Storage: adapter.StorageMemory, Options: tc.opts}
		if _, err := etcd.New().Settings(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("options %v: err %v, want one containing %q", tc.opts, err, tc.want)
		}
	}
}

// What Settings reports is what Start gives the library: a one-node
// cluster is started with each configuration and its raft.Config read back.
func TestSettingsAreWhatStartRuns(t *testing.T) {
	for _, tc := range []struct {
		raft string
		opts adapter.Options
	}{
		{"production", nil},
		{"uniform", nil},
		{"election=250ms,heartbeat=30ms,prevote=off,checkquorum=off,inflight=7,snapshot=50", nil},
		{"uniform", adapter.Options{"election_tick": "4", "heartbeat_tick": "2", "tick_interval": "25ms", "pre_vote": "false"}},
		{"production", adapter.Options{"transport": "rafthttp", "ready_order": "persist-first"}},
	} {
		t.Run(tc.raft+","+optString(tc.opts), func(t *testing.T) {
			_, knobs, err := adapter.ParseRaft(tc.raft)
			if err != nil {
				t.Fatal(err)
			}
			cfg := adapter.Config{ID: 1, Peers: []adapter.Peer{{ID: 1, Addr: "127.0.0.1:0"}}, DataDir: t.TempDir(),
				Storage: adapter.StorageMemory, Options: tc.opts, Raft: knobs}
			n := etcd.New()
			s, err := n.Settings(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Start(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			defer n.Stop(context.Background())
			run := n.Running()
			dur := func(ticks int) string { return (time.Duration(ticks) * run.Tick).String() }
			onOff := func(b bool) string { return string(adapter.SwitchOf(b)) }
			snap := "off"
			if run.Snapshot > 0 {
				snap = strconv.FormatUint(run.Snapshot, 10)
			}
			for _, c := range []struct{ name, got string }{
				{adapter.KnobElection, dur(run.Raft.ElectionTick)},
				{adapter.KnobHeartbeat, dur(run.Raft.HeartbeatTick)},
				{adapter.KnobPreVote, onOff(run.Raft.PreVote)},
				{adapter.KnobCheckQuorum, onOff(run.Raft.CheckQuorum)},
				{adapter.KnobInflight, strconv.Itoa(run.Raft.MaxInflightMsgs)},
				{adapter.KnobSnapshot, snap},
				{"tick", run.Tick.String()},
				{"transport", run.Transport},
				{"ready order", run.ReadyOrder},
			} {
				if want := value(t, s, c.name).Value; c.got != want {
					t.Errorf("%s: Start runs %s, Settings says %s", c.name, c.got, want)
				}
			}
			if !run.Raft.DisableProposalForwarding {
				t.Error("Start lets followers forward proposals; Settings says they do not")
			}
		})
	}
}

func optString(o adapter.Options) string {
	var parts []string
	for k, v := range o {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}
