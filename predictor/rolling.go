package predictor

import "time"

// Rolling is a predictor that learns as a replay goes: Observe adds the
// load to its history, and Forecast refits it, on the data observed so
// far only, whenever the last fit is older than the refit period. It is
// what `rtcscale whatif` runs in predictive mode (it satisfies
// whatif.Forecaster). It is not safe for concurrent use.
type Rolling struct {
	h      *History
	p      *Predictor
	opts   Options
	refit  time.Duration
	fitted time.Time
	fits   int
}

// NewRolling returns a Rolling predictor whose history has the given step
// and holds 5 weeks. It refits every refit period; a fit's Validity is
// raised above that period, so that it serves until the next one, and its
// Lead is the one Forecast is asked for.
func NewRolling(step time.Duration, refit time.Duration, opts Options) *Rolling {
	if opts.Validity < refit+time.Hour {
		opts.Validity = refit + time.Hour
	}
	return &Rolling{h: NewHistory(step, max(1, int(5*7*24*time.Hour/step))), opts: opts, refit: refit}
}

// Observe records the load v measured at t. A value the history refuses (a
// negative or non-finite one, an older slot than it holds) is left out.
func (r *Rolling) Observe(t time.Time, v float64) { _ = r.h.Add(t, v) }

// Forecast returns the highest upper forecast of the load over [now,
// now+lead], bounded as Serve bounds it, or 0 while the predictor has none
// (too little history, no pattern): the forecast metric is then the
// current load.
func (r *Rolling) Forecast(now time.Time, lead time.Duration) float64 {
	if r.fits == 0 || now.Sub(r.fitted) >= r.refit {
		opts := r.opts
		opts.Lead = lead
		r.p, r.fitted = Fit(r.h, opts), now
		r.fits++
	}
	return r.p.Serve(now, lead, 0)
}

// Fits is how many times Forecast has fitted.
func (r *Rolling) Fits() int { return r.fits }
