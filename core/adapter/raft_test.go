package adapter

import (
	"strings"
	"testing"
	"time"
)

func TestParseRaft(t *testing.T) {
	tests := []struct {
		in, profile, knobs, err string
	}{
		{in: "production", profile: "production", knobs: ""},
		{in: "uniform", profile: "uniform", knobs: "election=1s,heartbeat=100ms,prevote=on,checkquorum=on,append=64,inflight=128,snapshot=off,keep=5000"},
		{in: "uniform, election=2s", profile: "uniform,election=2s", knobs: "election=2s,heartbeat=100ms,prevote=on,checkquorum=on,append=64,inflight=128,snapshot=off,keep=5000"},
		{in: "prevote=on,election=1s,heartbeat=100ms", profile: "production,election=1s,heartbeat=100ms,prevote=on", knobs: "election=1s,heartbeat=100ms,prevote=on"},
		{in: "snapshot=1000", profile: "production,snapshot=1000", knobs: "snapshot=1000"},
		{in: "snapshot=1000,keep=100", profile: "production,snapshot=1000,keep=100", knobs: "snapshot=1000,keep=100"},
		{in: "keep=0", err: `keep="0": must be an integer from 1 to 1073741824`},
		{in: "fast", err: `"fast": must be a profile (production or uniform) first`},
		{in: "election=1s,uniform", err: `"uniform": must be a profile`},
		{in: "election=soon", err: `election="soon": must be a duration from 1ms to 1m`},
		{in: "prevote=yes", err: `prevote="yes": must be on or off`},
		{in: "append=0", err: `append="0": must be an integer from 1 to 1048576`},
		{in: "snapshot=-5", err: `snapshot="-5": must be off or a positive number`},
		{in: "leases=on", err: `unknown knob "leases": knobs are election, heartbeat, prevote, checkquorum, append, inflight, snapshot, keep`},
	}
	for _, tt := range tests {
		profile, r, err := ParseRaft(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseRaft(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseRaft(%q): %v", tt.in, err)
			continue
		}
		if profile != tt.profile || r.String() != tt.knobs {
			t.Errorf("ParseRaft(%q) = %q, %q; want %q, %q", tt.in, profile, r.String(), tt.profile, tt.knobs)
		}
		// The canonical profile parses back to the same knobs.
		if _, again, err := ParseRaft(profile); err != nil || again != r {
			t.Errorf("ParseRaft(%q) (canonical of %q) = %+v, %v; want %+v", profile, tt.in, again, err, r)
		}
	}
}

func TestSettingsApplied(t *testing.T) {
	s := Settings{
		Values: []Setting{
			{Name: "MaxSizePerMsg", Value: "1048576"},
			{Knob: KnobPreVote, Name: "PreVote", Value: "on"},
			{Knob: KnobElection, Name: "ElectionTick", Value: "1s"},
		},
		Unhonoured: Raft{CheckQuorum: SwitchOff, HeartbeatInterval: 50 * time.Millisecond}.NoEquivalent("fixed"),
	}
	if got, want := s.Applied(), "election=1s,prevote=on"; got != want {
		t.Errorf("Applied = %q, want %q", got, want)
	}
	if got, want := s.UnhonouredString(), "heartbeat=50ms: fixed; checkquorum=off: fixed"; got != want {
		t.Errorf("UnhonouredString = %q, want %q", got, want)
	}
}
