package adapter

import "testing"

func TestConfigListenAddr(t *testing.T) {
	peers := []Peer{{ID: 1, Addr: "127.0.0.1:7001"}, {ID: 2, Addr: "127.0.0.1:7002"}}
	for _, tc := range []struct {
		name    string
		cfg     Config
		want    string
		wantErr bool
	}{
		{"Listen given", Config{ID: 2, Listen: "127.0.0.1:9000", Peers: peers}, "127.0.0.1:9000", false},
		{"own peer entry", Config{ID: 2, Peers: peers}, "127.0.0.1:7002", false},
		{"not among its peers", Config{ID: 3, Peers: peers}, "", true},
	} {
		got, err := tc.cfg.ListenAddr()
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%s: %q, %v; want %q, error %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestCapabilitiesFits(t *testing.T) {
	for _, tc := range []struct {
		max, nodes int
		want       bool
	}{
		{0, 9, true}, {1, 1, true}, {1, 3, false}, {5, 5, true}, {5, 6, false},
	} {
		if got := (Capabilities{MaxNodes: tc.max}).Fits(tc.nodes); got != tc.want {
			t.Errorf("MaxNodes %d, %d nodes: Fits %v, want %v", tc.max, tc.nodes, got, tc.want)
		}
	}
}

// MaxNodes crosses the plugin boundary; a plugin that predates it (0)
// means no limit.
func TestDescriptionRoundTrip(t *testing.T) {
	d := Description{Name: "noop", Module: "m", Version: "v1", PID: 7, GoVersion: "go1",
		Capabilities: Capabilities{ForwardsProposals: true, Storage: []Storage{StorageMemory}, MaxNodes: 1}}
	got := descriptionFromPB(descriptionToPB(d))
	if got.Name != d.Name || got.Capabilities.MaxNodes != 1 || !got.Capabilities.ForwardsProposals || !got.Capabilities.Supports(StorageMemory) {
		t.Errorf("round trip: %+v, want %+v", got, d)
	}
	d.Capabilities.MaxNodes = 0
	if got := descriptionFromPB(descriptionToPB(d)); got.Capabilities.MaxNodes != 0 || !got.Capabilities.Fits(9) {
		t.Errorf("no limit: %+v", got.Capabilities)
	}
}
