package reports

import (
	"math"
	"testing"
)

func near(got, want, tol float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	return math.Abs(got-want) <= tol
}

// Quantiles from any t table.
func TestTQuantile(t *testing.T) {
	for _, tc := range []struct {
		p, df, want float64
	}{
		{0.975, 1, 12.706},
		{0.975, 2, 4.303},
		{0.975, 4, 2.776},
		{0.975, 9, 2.262},
		{0.975, 29, 2.045},
		{0.95, 4, 2.132},
	} {
		if got := TQuantile(tc.p, tc.df); !near(got, tc.want, 0.0005) {
			t.Errorf("TQuantile(%v, %v) = %.4f, want %.3f", tc.p, tc.df, got, tc.want)
		}
	}
}

// Intervals computed by hand: half = t(0.975, n-1) · sd / √n.
func TestSummarize(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name               string
		xs                 []float64
		n                  int
		mean, sd, half, cv float64
		noisy              bool
	}{
		{"empty", nil, 0, nan, nan, nan, nan, false},
		{"one repeat", []float64{7}, 1, 7, nan, nan, nan, false},
		// sd = √2, half = 12.706 · √2/√2.
		{"two repeats, df=1", []float64{10, 12}, 2, 11, math.Sqrt2, 12.706, math.Sqrt2 / 11, true},
		// sd = 1, half = 4.303/√3.
		{"three repeats, df=2", []float64{1, 2, 3}, 3, 2, 1, 4.303 / math.Sqrt(3), 0.5, true},
		// sd = √2.5, half = 2.776 · √2.5/√5.
		{"five repeats, df=4", []float64{1, 2, 3, 4, 5}, 5, 3, math.Sqrt(2.5), 2.776 * math.Sqrt(2.5) / math.Sqrt(5), math.Sqrt(2.5) / 3, true},
		// sd = 0.1 (≈0.1% of the mean): quiet.
		{"quiet", []float64{99.9, 100, 100.1}, 3, 100, 0.1, 4.303 * 0.1 / math.Sqrt(3), 0.001, false},
		// cv exactly at the threshold is not noisy; 11% is.
		{"at the threshold", []float64{90, 100, 110}, 3, 100, 10, 4.303 * 10 / math.Sqrt(3), 0.10, false},
		{"just noisy", []float64{89, 100, 111}, 3, 100, 11, 4.303 * 11 / math.Sqrt(3), 0.11, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Summarize(tc.xs)
			if s.N != tc.n || !near(s.Mean, tc.mean, 1e-9) || !near(s.SD, tc.sd, 1e-9) || !near(s.CIHalf, tc.half, 0.002*math.Max(1, tc.half)) {
				t.Errorf("Summarize(%v) = %+v, want n=%d mean=%v sd=%v half=%v", tc.xs, s, tc.n, tc.mean, tc.sd, tc.half)
			}
			if !near(s.CV(), tc.cv, 1e-9) || s.Noisy() != tc.noisy {
				t.Errorf("cv = %v noisy = %v, want %v %v", s.CV(), s.Noisy(), tc.cv, tc.noisy)
			}
			if tc.n >= 2 && (!near(s.CILow(), tc.mean-s.CIHalf, 1e-12) || !near(s.CIHigh(), tc.mean+s.CIHalf, 1e-12)) {
				t.Errorf("interval [%v, %v] is not mean ± half", s.CILow(), s.CIHigh())
			}
		})
	}
}

func TestWelchTest(t *testing.T) {
	for _, tc := range []struct {
		name      string
		a, b      []float64
		t, df, p  float64
		ok, signf bool
	}{
		// Equal n and variances: df = 2(n-1) = 4, t = 3/√(2/3);
		// p from R's t.test(c(1,2,3), c(4,5,6)).
		{"classic", []float64{1, 2, 3}, []float64{4, 5, 6}, 3 / math.Sqrt(2.0/3), 4, 0.02131, true, true},
		// Unequal variances: se² = 2.5/5 + 10/5, df = 6.25/(0.0625+1)
		// (Welch–Satterthwaite); p = 0.10753 by numerical integration of
		// the t density with that df.
		{"unequal variances", []float64{1, 2, 3, 4, 5}, []float64{2, 4, 6, 8, 10}, 3 / math.Sqrt(2.5), 6.25 / 1.0625, 0.10753, true, false},
		{"same data", []float64{5, 6, 7}, []float64{5, 6, 7}, 0, 4, 1, true, false},
		{"negative change", []float64{4, 5, 6}, []float64{1, 2, 3}, -3 / math.Sqrt(2.0/3), 4, 0.02131, true, true},
		{"no spread, equal", []float64{3, 3}, []float64{3, 3, 3}, 0, 3, 1, true, false},
		{"no spread, different", []float64{3, 3}, []float64{4, 4}, math.Inf(1), 2, 0, true, true},
		{"one repeat", []float64{3}, []float64{4, 5}, math.NaN(), math.NaN(), math.NaN(), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := WelchTest(tc.a, tc.b)
			if r.OK != tc.ok || r.Significant() != tc.signf || r.NA != len(tc.a) || r.NB != len(tc.b) {
				t.Errorf("%+v: want ok=%v significant=%v", r, tc.ok, tc.signf)
			}
			if !math.IsInf(tc.t, 0) && !near(r.T, tc.t, 1e-9) || math.IsInf(tc.t, 0) && r.T != tc.t {
				t.Errorf("t = %v, want %v", r.T, tc.t)
			}
			if !near(r.DF, tc.df, 1e-9) || !near(r.P, tc.p, 0.0001) {
				t.Errorf("df = %v p = %v, want %v %v", r.DF, r.P, tc.df, tc.p)
			}
		})
	}
	// The quantiles of the table above are the 5% two-sided boundaries.
	se := math.Sqrt(2.0 / 3)
	shift := 2.776 * se
	r := WelchTest([]float64{1, 2, 3}, []float64{1 + shift, 2 + shift, 3 + shift})
	if !near(r.P, 0.05, 0.0002) {
		t.Errorf("t = t(0.975, 4): p = %v, want 0.05", r.P)
	}
}
