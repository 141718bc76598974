package load

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Payload size distributions, the first word of a PayloadSizes spec.
const (
	// SizesUniform is uniform:MIN:MAX, every size from MIN to MAX bytes
	// equally likely.
	SizesUniform = "uniform"
	// SizesPareto is pareto:MIN:ALPHA[:MAX], a Pareto distribution of
	// scale MIN and shape ALPHA truncated at MAX (the largest payload when
	// omitted). It is the heavy-tailed one because measured request sizes
	// of key-value stores are: Atikoglu et al., "Workload Analysis of a
	// Large-Scale Key-Value Store" (SIGMETRICS 2012) fit Facebook's value
	// sizes with a generalized Pareto, and YCSB-style studies use Pareto
	// and Zipf tails for sizes; most proposals are small, a few very large.
	SizesPareto = "pareto"
)

// PayloadSizes is how long each proposal is: one size, or a distribution
// drawn per proposal. The zero value is not valid; use ParsePayloadSizes or
// FixedPayload.
type PayloadSizes struct {
	kind     string // "" (fixed), SizesUniform or SizesPareto
	min, max int
	alpha    float64
}

// FixedPayload is every proposal n bytes long.
func FixedPayload(n int) PayloadSizes { return PayloadSizes{min: n, max: n} }

const payloadSizesAllowed = "want a size in bytes (2048), uniform:MIN:MAX or pareto:MIN:ALPHA[:MAX]"

// ParsePayloadSizes reads a payload size spec: "2048", "uniform:64:4096"
// or "pareto:64:1.2:65536", every size from 1 to maxBytes (a pareto
// without MAX is truncated at maxBytes). Its error says what is allowed.
func ParsePayloadSizes(text string, maxBytes int) (PayloadSizes, error) {
	parts := strings.Split(strings.TrimSpace(text), ":")
	sizeAt := func(i int) (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(parts[i]))
		if err != nil || n < 1 || n > maxBytes {
			return 0, fmt.Errorf("%s; sizes are from 1 to %d bytes", payloadSizesAllowed, maxBytes)
		}
		return n, nil
	}
	switch {
	case len(parts) == 1:
		n, err := sizeAt(0)
		return FixedPayload(n), err
	case parts[0] == SizesUniform && len(parts) == 3:
		lo, err := sizeAt(1)
		if err != nil {
			return PayloadSizes{}, err
		}
		hi, err := sizeAt(2)
		if err != nil {
			return PayloadSizes{}, err
		}
		if lo > hi {
			return PayloadSizes{}, fmt.Errorf("uniform:MIN:MAX needs MIN <= MAX")
		}
		return PayloadSizes{kind: SizesUniform, min: lo, max: hi}, nil
	case parts[0] == SizesPareto && (len(parts) == 3 || len(parts) == 4):
		lo, err := sizeAt(1)
		if err != nil {
			return PayloadSizes{}, err
		}
		alpha, err := strconv.ParseFloat(strings.TrimSpace(parts[2]), 64)
		if err != nil || !(alpha > 0) || math.IsInf(alpha, 0) {
			return PayloadSizes{}, fmt.Errorf("pareto:MIN:ALPHA[:MAX] needs a positive shape ALPHA (e.g. 1.2)")
		}
		hi := maxBytes
		if len(parts) == 4 {
			if hi, err = sizeAt(3); err != nil {
				return PayloadSizes{}, err
			}
		}
		if lo > hi {
			return PayloadSizes{}, fmt.Errorf("pareto:MIN:ALPHA:MAX needs MIN <= MAX")
		}
		return PayloadSizes{kind: SizesPareto, min: lo, max: hi, alpha: alpha}, nil
	}
	return PayloadSizes{}, fmt.Errorf("%s; sizes are from 1 to %d bytes", payloadSizesAllowed, maxBytes)
}

// Fixed is the size when every proposal has it, and whether they do.
func (p PayloadSizes) Fixed() (int, bool) { return p.min, p.kind == "" }

// Max is the largest size a proposal may have.
func (p PayloadSizes) Max() int { return p.max }

// String is the spec in ParsePayloadSizes's canonical form (a pareto
// always with its MAX), which reads back to p.
func (p PayloadSizes) String() string {
	switch p.kind {
	case SizesUniform:
		return fmt.Sprintf("%s:%d:%d", p.kind, p.min, p.max)
	case SizesPareto:
		return fmt.Sprintf("%s:%d:%s:%d", p.kind, p.min, strconv.FormatFloat(p.alpha, 'g', -1, 64), p.max)
	}
	return strconv.Itoa(p.min)
}

// meanSteps is how finely Mean samples the quantile function.
const meanSteps = 1 << 16

// Mean is the expected payload size in bytes, of the sizes as drawn
// (whole bytes): the average of the quantile function over meanSteps
// evenly spaced probabilities, exact for a fixed size.
func (p PayloadSizes) Mean() float64 {
	if p.kind == "" {
		return float64(p.min)
	}
	var sum float64
	for i := range meanSteps {
		sum += float64(p.at((float64(i) + 0.5) / meanSteps))
	}
	return sum / meanSteps
}

// Size is the size of client id's proposal seq: a pure function of both,
// so that a run draws the same sizes whatever the interleaving of its
// threads (the open loop's workers share a client).
func (p PayloadSizes) Size(id, seq uint64) int {
	if p.kind == "" {
		return p.min
	}
	h := splitmix64(splitmix64(id^0x5851f42d4c957f2d) ^ seq)
	return p.at(float64(h>>11) / (1 << 53))
}

// at is the quantile function: the size at probability u in [0, 1).
func (p PayloadSizes) at(u float64) int {
	var x float64
	switch p.kind {
	case SizesUniform:
		x = float64(p.min) + math.Floor(u*float64(p.max-p.min+1))
	case SizesPareto:
		// Inverse CDF of the Pareto truncated to [min, max].
		lo, hi := float64(p.min), float64(p.max)
		x = math.Floor(lo * math.Pow(1-u*(1-math.Pow(lo/hi, p.alpha)), -1/p.alpha))
	default:
		return p.min
	}
	return min(max(int(x), p.min), p.max)
}

// splitmix64 is SplitMix64's finaliser: a well-mixed hash of x.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
