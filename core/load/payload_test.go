package load

import (
	"math"
	"strings"
	"testing"
)

func TestParsePayloadSizes(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "2048", want: "2048"},
		{in: "uniform:64:4096", want: "uniform:64:4096"},
		{in: "uniform:5:5", want: "uniform:5:5"},
		{in: "pareto:64:1.2", want: "pareto:64:1.2:1000000"},
		{in: "pareto:64:1.2:65536", want: "pareto:64:1.2:65536"},
		{in: "0", err: "want a size in bytes"},
		{in: "1000001", err: "sizes are from 1 to 1000000 bytes"},
		{in: "uniform:10:5", err: "MIN <= MAX"},
		{in: "uniform:10", err: "want a size in bytes"},
		{in: "pareto:64:0", err: "positive shape ALPHA"},
		{in: "pareto:64:x", err: "positive shape ALPHA"},
		{in: "pareto:64:1:2000000", err: "sizes are from 1 to"},
		{in: "normal:1:2", err: "uniform:MIN:MAX or pareto:MIN:ALPHA[:MAX]"},
		{in: "", err: "want a size in bytes"},
	} {
		p, err := ParsePayloadSizes(tc.in, 1000000)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || p.String() != tc.want {
			t.Errorf("%q: %v %v, want %s", tc.in, p, err, tc.want)
			continue
		}
		back, err := ParsePayloadSizes(p.String(), 1000000)
		if err != nil || back != p {
			t.Errorf("%q does not read back: %v %v", p, back, err)
		}
	}
}

func TestPayloadSizesDraws(t *testing.T) {
	for _, tc := range []struct {
		spec     string
		meanLo   float64
		meanHi   float64
		medianHi int
	}{
		{"100", 100, 100, 100},
		{"uniform:64:4096", 2079, 2081, 4096},
		// Truncated Pareto of scale 64, shape 1.2, at 65536: mean
		// 64*1.2/0.2*(1-(64/65536)^0.2)/(1-(64/65536)^1.2) ≈ 286 and
		// median 64*2^(1/1.2) ≈ 114; most payloads are small.
		{"pareto:64:1.2:65536", 270, 300, 120},
	} {
		p, err := ParsePayloadSizes(tc.spec, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if m := p.Mean(); m < tc.meanLo || m > tc.meanHi {
			t.Errorf("%s: mean %.1f, want %.0f..%.0f", tc.spec, m, tc.meanLo, tc.meanHi)
		}
		var small int
		var sum float64
		const n = 100000
		for seq := range uint64(n) {
			s := p.Size(3, seq)
			if s < p.min || s > p.max {
				t.Fatalf("%s: size %d out of bounds", tc.spec, s)
			}
			if s != p.Size(3, seq) {
				t.Fatalf("%s: size of (3, %d) not reproducible", tc.spec, seq)
			}
			if s <= tc.medianHi {
				small++
			}
			sum += float64(s)
		}
		if small < n/2 {
			t.Errorf("%s: %d of %d sizes at most %d, want at least half", tc.spec, small, n, tc.medianHi)
		}
		if got := sum / n; math.Abs(got-p.Mean())/p.Mean() > 0.1 {
			t.Errorf("%s: drawn mean %.1f, expected %.1f", tc.spec, got, p.Mean())
		}
	}
}

func TestPayloadsDrawnSizes(t *testing.T) {
	p, _ := ParsePayloadSizes("uniform:1:20", 100)
	pay := newPayloads(7, p)
	seen := map[int]bool{}
	for seq := range uint64(1000) {
		b := pay.make(seq)
		if len(b) != p.Size(7, seq) {
			t.Fatalf("payload %d: %d bytes, want %d", seq, len(b), p.Size(7, seq))
		}
		seen[len(b)] = true
	}
	if len(seen) != 20 {
		t.Errorf("saw %d distinct sizes, want all 20", len(seen))
	}
}
