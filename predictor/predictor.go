// Package predictor forecasts a workload's load from its own history so that
// the HPA can scale before the daily ramp instead of after it.
//
// A History keeps the load at a regular step (a minute live) in a bounded
// ring. Fit, run in the background every few minutes, detects the series'
// periodicity and prepares the forecast the HPA scales on: for each coming
// minute, how much the load rose over the lead at the same time on past days
// (or weeks) beyond what it rises at any time (see analog.go). The resulting
// Predictor answers Serve at query time without allocating: max(current
// value, level now + that excess).
//
// With too little history (under a day), or no periodicity, the Predictor
// is reactive: Serve returns the current value.
//
// Backtest scores point forecasts of the load, the analogs' and those of
// classical models (seasonal profiles, Holt-Winters, harmonic regression),
// against simple baselines, so that an operator sees how forecastable a
// workload is.
package predictor

import (
	"math"
	"time"
)

// Options tune Fit. The zero value gives the defaults.
type Options struct {
	// Lead is how far ahead Serve looks: the time a new pod needs to be
	// useful. Default 15m.
	Lead time.Duration
	// Validity is how long after the newest sample of the fit Serve keeps
	// answering; past it Serve is reactive until the next Fit. Default 2h.
	Validity time.Duration
	// UnderCost is how much more an under-forecast costs than an
	// over-forecast of the same size when Backtest chooses a model. Default
	// 1: the error either way, which WAPE scores.
	UnderCost float64
	// MaxMultiple bounds a forecast to this multiple of the largest value in
	// the history. Default 2.
	MaxMultiple float64
	// MinHistory is the history below which Backtest's models are not
	// fitted. Default (and minimum) 3 days: periodicity detection needs that
	// much. Serve's analogs need a day.
	MinHistory time.Duration
}

func (o Options) withDefaults() Options {
	if o.Lead <= 0 {
		o.Lead = 15 * time.Minute
	}
	if o.Validity <= 0 {
		o.Validity = 2 * time.Hour
	}
	if !(o.UnderCost >= 1) {
		o.UnderCost = 1
	}
	if !(o.MaxMultiple >= 1) {
		o.MaxMultiple = 2
	}
	o.MinHistory = max(o.MinHistory, 3*24*time.Hour)
	return o
}

// Predictor is a fitted forecast of one workload. It is immutable once
// returned by Fit and safe for concurrent use; replace it with the next Fit.
type Predictor struct {
	hist   *History
	period Periodicity
	// peaks is nil when the Predictor is reactive.
	peaks *peakTable
	// limit is MaxMultiple times the historical maximum.
	limit float64
}

// Fit fits a Predictor to h. It never fails: with under a day of history, or
// 3 days or more without periodicity, the Predictor is reactive.
// It costs a few milliseconds on 5 weeks of minutes; see docs/benchmarks.md.
func Fit(h *History, opts Options) *Predictor {
	opts = opts.withDefaults()
	y, t0 := h.Snapshot(nil)
	p := &Predictor{hist: h}
	if len(y) == 0 {
		return p
	}
	p.limit = opts.MaxMultiple * maxObserved(y)
	s := seasonsOf(h.step)
	p.period = DetectPeriodicity(y, h.step)
	a := newAnalogSeries(y, max(1, int(opts.Lead/h.step)), max(1, int(analogLevel/h.step)))
	p.peaks = fitPeaks(a, p.period, s, h.slotOf(t0)+int64(len(y)-1), int(opts.Validity/h.step))
	return p
}

func maxObserved(y []float64) float64 {
	m := 0.0
	for _, v := range y {
		if v > m {
			m = v
		}
	}
	return m
}

// Model is the name of the forecast served: "analog-daily" or
// "analog-weekly", or "reactive" when there is none.
func (p *Predictor) Model() string {
	if p == nil || p.peaks == nil {
		return "reactive"
	}
	return p.peaks.name
}

// Periodicity is what Fit detected in the history.
func (p *Predictor) Periodicity() Periodicity { return p.period }

// Forecast returns the forecast of the highest load over [now, now+lead]
// that Serve publishes, before the max with the current value and bounded
// by MaxMultiple times the historical maximum: the level of the last
// minutes plus what the analogs add. ok is false when the Predictor has
// none (reactive, or now is past its validity). It reads the last slots of
// the history and does not allocate.
func (p *Predictor) Forecast(now time.Time) (float64, bool) {
	if p == nil || p.peaks == nil {
		return 0, false
	}
	slot := p.hist.slotOf(now)
	i := slot - p.peaks.start
	if i < 0 || i >= int64(len(p.peaks.excess)) || math.IsNaN(p.peaks.excess[i]) {
		return 0, false
	}
	var sum float64
	var n int
	p.hist.window(slot, p.peaks.win, func(_ int64, v float64) { sum += v; n++ })
	if n == 0 {
		return 0, false
	}
	return math.Min(sum/float64(n)+p.peaks.excess[i], p.limit), true
}

// Serve is the value to publish as <gauge>_forecast: max(current,
// Forecast). A nil or reactive Predictor, or one past its validity, gives
// current: scaling is then purely reactive, never worse than without a
// predictor. An invalid current (negative, NaN, infinite) counts as 0.
func (p *Predictor) Serve(now time.Time, current float64) float64 {
	if !(current >= 0) || math.IsInf(current, 1) {
		current = 0
	}
	f, ok := p.Forecast(now)
	if !ok {
		return current
	}
	return math.Max(current, f)
}
