package reports

import "testing"

// The setup lists the preflight findings that were not ok, and nothing
// when every one was ok or none was recorded (older runs).
func TestPreflightText(t *testing.T) {
	cases := []struct {
		name string
		in   []Finding
		want string
	}{
		{"older run", nil, ""},
		{"all ok", []Finding{{Check: "swap", Severity: SeverityOK, Found: "no swap"}}, ""},
		{"warn and bad", []Finding{
			{Check: "cores", Severity: SeverityWarn, Found: "2 CPUs for 3 nodes"},
			{Check: "swap", Severity: SeverityOK, Found: "no swap"},
			{Check: "data-dir", Severity: SeverityBad, Found: "/dev/shm on tmpfs"},
		}, "warn cores: 2 CPUs for 3 nodes; bad data-dir: /dev/shm on tmpfs"},
	}
	for _, tc := range cases {
		if got := preflightText(tc.in); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
