package predictor

import (
	"context"
	"math"
	"time"
)

// Rolling forecasts a whole load series as the adapter would have lived
// it: every Refit it fits the forecast on the series up to then, as a live
// history of 5 weeks holds it (the periodicity is detected again once a
// day), and it serves each slot from the latest fit, its level read from
// the series up to that slot. It is what `rtcscale whatif` runs in
// predictive mode. A fit costs the slots it serves, so a replay of months
// takes seconds, whatever the refit period.
type Rolling struct {
	// Refit is how often the forecast is refitted. Default 15m, as the
	// live adapter does.
	Refit time.Duration
	// Options tune the fits; Lead is the one Forecast is asked for.
	Options Options
}

// Forecast returns, for each slot k of y (y[k] the load at start + k×step),
// the forecast of the highest load over [t_k, t_k+lead] that Serve
// publishes before its max with the current load, from y[:k+1] alone; NaN
// where the predictor has none (under a day of history, or no periodicity
// in 3 days or more).
func (r Rolling) Forecast(ctx context.Context, start time.Time, step time.Duration, y []float64, lead time.Duration) ([]float64, error) {
	if err := checkStep(step); err != nil {
		return nil, err
	}
	opts := r.Options.withDefaults()
	refit := max(1, int(r.Refit/step))
	if r.Refit <= 0 {
		refit = max(1, int(15*time.Minute/step))
	}
	s := seasonsOf(step)
	keep := max(1, int(5*7*24*time.Hour/step))
	a := newAnalogSeries(y, max(1, int(lead/step)), max(1, int(analogLevel/step)))
	// The highest value of each day, for the bound on a forecast: twice the
	// highest of the history's 5 weeks.
	dayMax := make([]float64, len(y)/s.day+1)
	for i, v := range y {
		if v > dayMax[i/s.day] {
			dayMax[i/s.day] = v
		}
	}
	out := make([]float64, len(y))
	var per Periodicity
	var buf []float64
	for f := 0; f < len(y); f += refit {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		lo := max(0, f+1-keep)
		if f == 0 || f/s.day != (f-refit)/s.day {
			per = DetectPeriodicity(y[lo:f+1], step)
		}
		end := min(len(y), f+refit)
		p, typ, b, ok := a.serving(f, f+1-lo, per, s, buf)
		buf = b
		if !ok {
			for k := f; k < end; k++ {
				out[k] = math.NaN()
			}
			continue
		}
		limit := 0.0
		for d := lo / s.day; d < f/s.day; d++ {
			limit = math.Max(limit, dayMax[d])
		}
		for _, v := range y[max(lo, f/s.day*s.day) : f+1] {
			limit = math.Max(limit, v) // NaN compares false: skipped
		}
		limit *= opts.MaxMultiple
		for k := f; k < end; k++ {
			var e float64
			e, buf = a.excess(k, f, lo, p, typ, buf)
			out[k] = math.Min(a.level(k)+e, limit) // NaN when k has no analog
		}
	}
	return out, nil
}
