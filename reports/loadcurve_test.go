package reports

import "testing"

// The knee is the last sustained rate below the first one not sustained; a
// sweep that sustained every rate has none in range.
func TestLoadCurveKnee(t *testing.T) {
	ok := func(offered, achieved float64, queued uint64) LoadPoint {
		return LoadPoint{Offered: offered, Achieved: achieved, Queued: queued, OK: true}
	}
	tests := []struct {
		name      string
		points    []LoadPoint
		knee      int
		saturated bool
	}{
		{"sustained throughout", []LoadPoint{ok(500, 500, 0), ok(1000, 999, 0)}, 1, false},
		{"falls behind", []LoadPoint{ok(500, 500, 0), ok(1000, 990, 0), ok(1500, 1200, 0), ok(2000, 1990, 0)}, 1, true},
		{"queued past it", []LoadPoint{ok(500, 500, 0), ok(1000, 1000, 3)}, 0, true},
		{"not even the lowest", []LoadPoint{ok(500, 400, 0), ok(1000, 990, 0)}, -1, true},
	}
	for _, tt := range tests {
		c := LoadCurve{Knee: -1}
		sustained := true
		for _, p := range tt.points {
			if sustained = sustained && p.Sustained(); sustained {
				c.Knee = len(c.Points)
			}
			c.Points = append(c.Points, p)
		}
		if c.Knee != tt.knee || c.Saturated() != tt.saturated {
			t.Errorf("%s: knee %d, saturated %v; want %d, %v", tt.name, c.Knee, c.Saturated(), tt.knee, tt.saturated)
		}
	}
}
