package adapter

import (
	"errors"
	"fmt"
	"testing"
)

// The client maps what toStatus sent back to the contract's errors, and
// says ErrUnsupported's text once.
func TestFromStatus(t *testing.T) {
	tests := []struct {
		sent   error
		want   string
		wantIs error
	}{
		{fmt.Errorf("noop runs as a one-node cluster, not 3 nodes: %w", ErrUnsupported), "noop runs as a one-node cluster, not 3 nodes: " + ErrUnsupported.Error(), ErrUnsupported},
		{ErrUnsupported, ErrUnsupported.Error(), ErrUnsupported},
		{fmt.Errorf("option x: %w", ErrUnsupported), "option x: " + ErrUnsupported.Error(), ErrUnsupported},
		{errors.New("disk full"), "disk full", nil},
	}
	for _, tc := range tests {
		got := fromStatus(toStatus(tc.sent))
		if got.Error() != tc.want || (tc.wantIs != nil && !errors.Is(got, tc.wantIs)) {
			t.Errorf("%v came back as %q, want %q wrapping %v", tc.sent, got, tc.want, tc.wantIs)
		}
	}
}
