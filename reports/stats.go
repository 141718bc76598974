package reports

import (
	"math"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Statistical conventions of every report.
const (
	// Confidence is the level of every confidence interval.
	Confidence = 0.95
	// NoisyCV is the coefficient of variation (sd/mean over a point's
	// repeats) above which a point is flagged as noisy.
	NoisyCV = 0.10
	// Alpha is the significance level of the tests in reports and
	// compare: a difference with p < Alpha is reported as a change.
	Alpha = 0.05
)

// Summary describes one figure of a point over its repeats: the sample
// size, mean, sample standard deviation and the half-width of the
// Confidence interval of the mean by Student's t. SD and CIHalf are NaN
// when N < 2 (one repeat says nothing about the spread); everything is NaN
// when N == 0.
type Summary struct {
	N      int
	Mean   float64
	SD     float64
	CIHalf float64
}

// Summarize computes xs's Summary. The interval is
// mean ± t(1-(1-Confidence)/2, N-1) · SD/√N.
func Summarize(xs []float64) Summary {
	s := Summary{N: len(xs), Mean: math.NaN(), SD: math.NaN(), CIHalf: math.NaN()}
	switch len(xs) {
	case 0:
		return s
	case 1:
		s.Mean = xs[0]
		return s
	}
	s.Mean, s.SD = stat.MeanStdDev(xs, nil)
	s.CIHalf = TQuantile(1-(1-Confidence)/2, float64(s.N-1)) * s.SD / math.Sqrt(float64(s.N))
	return s
}

// CV is the coefficient of variation, SD/Mean; NaN when undefined.
func (s Summary) CV() float64 {
	if s.N < 2 || s.Mean == 0 {
		return math.NaN()
	}
	return s.SD / math.Abs(s.Mean)
}

// Noisy reports whether the repeats vary by more than NoisyCV.
func (s Summary) Noisy() bool {
	return s.CV() > NoisyCV // false for NaN
}

// CILow and CIHigh bound the confidence interval; NaN when N < 2.
func (s Summary) CILow() float64 { return s.Mean - s.CIHalf }

// CIHigh is the interval's upper bound; NaN when N < 2.
func (s Summary) CIHigh() float64 { return s.Mean + s.CIHalf }

// TQuantile is the p-quantile of Student's t distribution with df degrees
// of freedom (gonum's distuv.StudentsT), e.g. TQuantile(0.975, 2) ≈ 4.303.
func TQuantile(p, df float64) float64 {
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Quantile(p)
}

// TTest is the outcome of Welch's two-sample t-test.
type TTest struct {
	// T is the statistic (mean of b minus mean of a over the standard
	// error), DF the Welch–Satterthwaite degrees of freedom and P the
	// two-sided p-value.
	T, DF, P float64
	// NA and NB are the sample sizes.
	NA, NB int
	// OK is false when either sample has fewer than 2 values: the test
	// needs a variance on both sides, and P is then NaN.
	OK bool
}

// Significant reports whether the test ran and p < Alpha.
func (t TTest) Significant() bool { return t.OK && t.P < Alpha }

// WelchTest runs Welch's unequal-variance t-test of the null hypothesis
// that a and b have the same mean. When both samples have no spread at all,
// P is 1 if the means are equal and 0 if not.
func WelchTest(a, b []float64) TTest {
	r := TTest{NA: len(a), NB: len(b), T: math.NaN(), DF: math.NaN(), P: math.NaN()}
	if len(a) < 2 || len(b) < 2 {
		return r
	}
	r.OK = true
	ma, va := stat.MeanVariance(a, nil)
	mb, vb := stat.MeanVariance(b, nil)
	na, nb := float64(len(a)), float64(len(b))
	sa, sb := va/na, vb/nb
	se2 := sa + sb
	if se2 == 0 {
		if ma == mb {
			r.T, r.P = 0, 1
		} else {
			r.T, r.P = math.Copysign(math.Inf(1), mb-ma), 0
		}
		r.DF = na + nb - 2
		return r
	}
	r.T = (mb - ma) / math.Sqrt(se2)
	r.DF = se2 * se2 / (sa*sa/(na-1) + sb*sb/(nb-1))
	r.P = 2 * distuv.StudentsT{Mu: 0, Sigma: 1, Nu: r.DF}.Survival(math.Abs(r.T))
	if r.P > 1 {
		r.P = 1
	}
	return r
}
