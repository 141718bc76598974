package adapter

import (
	"reflect"
	"testing"
	"time"
)

// Every field of Config, every shared knob included, crosses the plugin
// boundary unchanged: a knob lost on the way is silently not applied.
func TestConfigRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"every knob", Config{
			ID: 2, Listen: "127.0.0.1:1", Peers: []Peer{{1, "a"}, {2, "b"}}, DataDir: "/d", Storage: StorageTmpfs,
			Options: Options{"k": "v"}, ReadMode: ReadLease,
			Raft: Raft{ElectionTimeout: time.Second, HeartbeatInterval: time.Millisecond, PreVote: SwitchOn, CheckQuorum: SwitchOff,
				MaxAppendEntries: 3, MaxInflightAppends: 4, SnapshotEntries: 5, KeepEntries: 6},
		}},
		{"snapshots off", Config{ID: 1, Peers: []Peer{{1, "a"}}, Options: Options{}, Raft: Raft{SnapshotEntries: SnapshotsOff}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := configFromPB(configToPB(tt.cfg)); !reflect.DeepEqual(got, tt.cfg) {
				t.Errorf("round trip = %+v, want %+v", got, tt.cfg)
			}
		})
	}
}
