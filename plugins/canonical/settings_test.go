package canonical

import (
	"strings"
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
)

// The shared knobs and options map onto libraft's settings, and what cannot
// be honoured is reported with what ran instead. Pure Go: it runs without
// cgo too.
func TestSettings(t *testing.T) {
	for _, tc := range []struct {
		name       string
		raft       adapter.Raft
		opts       adapter.Options
		applied    string
		unhonoured []string // knob:word of the reason
		err        string   // substring of resolve's error
		check      func(t *testing.T, r resolved)
	}{
		{
			name:    "production is dqlite's",
			applied: "election=3s,heartbeat=500ms,prevote=on,checkquorum=on,append=no limit,inflight=no limit,snapshot=1024,keep=8192",
			check: func(t *testing.T, r resolved) {
				if r.election != 3*time.Second || r.heartbeat != 500*time.Millisecond || !r.preVote || r.threshold != 1024 || r.trailing != 8192 {
					t.Errorf("resolved %+v", r)
				}
			},
		},
		{
			name:       "uniform",
			raft:       adapter.Uniform,
			applied:    "election=1s,heartbeat=100ms,prevote=on,checkquorum=on,append=no limit,inflight=no limit,snapshot=off,keep=5000",
			unhonoured: []string{"append:no limit", "inflight:no window"},
			check: func(t *testing.T, r resolved) {
				if r.threshold != snapshotsOff {
					t.Errorf("threshold %d, want %d", r.threshold, uint32(snapshotsOff))
				}
			},
		},
		{
			name:    "a short election keeps dqlite's heartbeat ratio",
			raft:    adapter.Raft{ElectionTimeout: 300 * time.Millisecond},
			applied: "election=300ms,heartbeat=50ms,prevote=on,checkquorum=on,append=no limit,inflight=no limit,snapshot=1024,keep=8192",
		},
		{
			name:       "sub-millisecond values run in whole milliseconds",
			raft:       adapter.Raft{ElectionTimeout: 1500*time.Millisecond + 500*time.Microsecond},
			unhonoured: []string{"election:whole milliseconds"},
		},
		{
			name:       "checkquorum cannot be turned off",
			raft:       adapter.Raft{CheckQuorum: adapter.SwitchOff},
			unhonoured: []string{"checkquorum:cannot be turned off"},
		},
		{
			name:       "an option wins over the knob",
			raft:       adapter.Raft{ElectionTimeout: time.Second, SnapshotEntries: 100},
			opts:       adapter.Options{"election_timeout": "2s", "snapshot_threshold": "50"},
			applied:    "election=2s,heartbeat=500ms,prevote=on,checkquorum=on,append=no limit,inflight=no limit,snapshot=50,keep=8192",
			unhonoured: []string{"election:overridden by option election_timeout=2s", "snapshot:overridden by option snapshot_threshold=50"},
		},
		{
			name:    "keep is snapshot_trailing",
			raft:    adapter.Raft{SnapshotEntries: 200, KeepEntries: 100},
			applied: "election=3s,heartbeat=500ms,prevote=on,checkquorum=on,append=no limit,inflight=no limit,snapshot=200,keep=100",
			check: func(t *testing.T, r resolved) {
				if r.threshold != 200 || r.trailing != 100 {
					t.Errorf("threshold %d, trailing %d; want 200, 100", r.threshold, r.trailing)
				}
			},
		},
		{
			name:       "the snapshot_trailing option wins over keep",
			raft:       adapter.Raft{KeepEntries: 100},
			opts:       adapter.Options{"snapshot_trailing": "7"},
			applied:    "election=3s,heartbeat=500ms,prevote=on,checkquorum=on,append=no limit,inflight=no limit,snapshot=1024,keep=7",
			unhonoured: []string{"keep:overridden by option snapshot_trailing=7"},
		},
		{
			// libraft 0.15 drops an InstallSnapshot that reaches a follower
			// taking its own snapshot, unanswered: the leader sends it again
			// after this timeout, 30s in libraft, the election timeout here.
			name: "the install snapshot timeout is the election timeout",
			raft: adapter.Raft{ElectionTimeout: 300 * time.Millisecond},
			check: func(t *testing.T, r resolved) {
				if r.install != 300*time.Millisecond {
					t.Errorf("install snapshot timeout %s, want 300ms", r.install)
				}
			},
		},
		{
			name: "the install_snapshot_timeout option",
			opts: adapter.Options{"install_snapshot_timeout": "30s"},
			check: func(t *testing.T, r resolved) {
				if r.install != 30*time.Second {
					t.Errorf("install snapshot timeout %s, want 30s", r.install)
				}
			},
		},
		{
			name: "an install_snapshot_timeout below a millisecond",
			opts: adapter.Options{"install_snapshot_timeout": "100us"},
			err:  "install_snapshot_timeout",
		},
		{
			name: "heartbeat not below the election timeout",
			raft: adapter.Raft{HeartbeatInterval: 5 * time.Second},
			err:  "heartbeat 5s is not below the election timeout 3s",
		},
		{
			name: "unknown option",
			opts: adapter.Options{"max_append": "3"},
			err:  "max_append",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := resolve(adapter.Config{Storage: adapter.StorageDisk, Raft: tc.raft, Options: tc.opts})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.applied != "" {
				if got := r.report.Applied(); got != tc.applied {
					t.Errorf("applied %q\nwant    %q", got, tc.applied)
				}
			}
			for _, u := range tc.unhonoured {
				knob, word, _ := strings.Cut(u, ":")
				found := false
				for _, got := range r.report.Unhonoured {
					found = found || (got.Knob == knob && strings.Contains(got.Reason, word))
				}
				if !found {
					t.Errorf("%s not reported unhonoured with %q: %v", knob, word, r.report.Unhonoured)
				}
			}
			if len(tc.unhonoured) == 0 && len(r.report.Unhonoured) != 0 {
				t.Errorf("unexpected unhonoured knobs: %v", r.report.Unhonoured)
			}
			for _, v := range r.report.Values {
				if v.Name == "" || v.Source == "" || v.Note == "" {
					t.Errorf("setting without name, source or note: %+v", v)
				}
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}
