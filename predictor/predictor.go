// Package predictor forecasts a workload's load from its own history so that
// the HPA can scale before the daily ramp instead of after it.
//
// A History keeps the load at a regular step (a minute live) in a bounded
// ring. Fit, run in the background every few minutes, detects the series'
// periodicity, cleans outages and holidays out of it, scores every candidate
// model (seasonal profile, double-seasonal Holt-Winters, harmonic
// regression, naive) by a rolling-origin backtest with an asymmetric loss,
// and keeps the best one with an upper band from its backtest residuals.
// The resulting Predictor answers Serve at query time without allocating:
// max(current value, highest upper forecast over [now, now+lead]).
//
// With no or too little history, or no periodicity, the Predictor is
// reactive: Serve returns the current value.
package predictor

import (
	"math"
	"time"
)

// Options tune Fit. The zero value gives the defaults.
type Options struct {
	// Lead is the horizon forecasts are scored for and Serve usually looks
	// ahead: the time a new pod needs to be useful. Default 15m.
	Lead time.Duration
	// Validity is how long after the newest sample of the fit Serve keeps
	// answering; past it Serve is reactive until the next Fit. Default 2h.
	Validity time.Duration
	// UnderCost is how much more an under-forecast costs than an
	// over-forecast of the same size when choosing a model. Default 3.
	UnderCost float64
	// BandQuantile is the quantile of actual/forecast in the backtest that
	// sets the upper band. Default 0.9.
	BandQuantile float64
	// MaxMultiple bounds a forecast to this multiple of the largest value in
	// the history. Default 2.
	MaxMultiple float64
	// MinHistory is the history below which the predictor stays reactive.
	// Default (and minimum) 3 days: periodicity detection needs that much.
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
		o.UnderCost = 3
	}
	if !(o.BandQuantile > 0 && o.BandQuantile < 1) {
		o.BandQuantile = 0.9
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
	step   time.Duration
	period Periodicity
	model  string
	c      corr
	// bounded is false for the naive model, whose level ratio is the
	// recent mean itself.
	bounded bool
	// path is the model's expectation of the slots from pathStart on: the
	// last c.win slots of the fit's history, then the future.
	pathStart int64
	path      []float64
	// band[h] multiplies the forecast h slots ahead into its upper bound.
	band []float64
	// limit is MaxMultiple times the historical maximum.
	limit float64
}

// Fit fits a Predictor to h. It never fails: with too little history or no
// periodicity the Predictor is reactive. It costs up to a second of CPU per
// workload on 5 weeks of minutes; see docs/benchmarks.md.
func Fit(h *History, opts Options) *Predictor {
	opts = opts.withDefaults()
	y, t0 := h.Snapshot(nil)
	p := &Predictor{hist: h, step: h.step, model: "reactive"}
	n := len(y)
	if n == 0 {
		return p
	}
	p.limit = opts.MaxMultiple * maxObserved(y)
	if time.Duration(n)*h.step < opts.MinHistory {
		return p
	}
	lead := max(1, int(opts.Lead/h.step))
	ch := choose(y, h.step, knots(lead), opts)
	if ch == nil {
		return p
	}
	last := n - 1
	ahead := int((opts.Validity+2*opts.Lead)/h.step) + 1
	_, isNaive := ch.model.(naive)
	p.period, p.model, p.c, p.bounded = ch.period, ch.model.name(), ch.c, !isNaive
	p.pathStart = h.slotOf(t0) + int64(last-ch.c.win+1)
	p.path = make([]float64, ch.c.win+ahead)
	lvl := ch.model.level(last)
	for k := range p.path {
		i := last - ch.c.win + 1 + k
		if i <= last {
			p.path[k] = lvl + ch.model.past(i)
		} else {
			p.path[k] = lvl + ch.model.ahead(last, i)
		}
	}
	p.band = interpolate(knots(lead), ch.band, lead)
	return p
}

// choice is a model fitted on a whole series with the correction and band
// its backtest chose.
type choice struct {
	period Periodicity
	model  model
	c      corr
	band   []float64
}

// choose detects y's periodicity, backtests the candidates over the last
// part of y at horizons hs, and refits the winner on all of y. nil means
// nothing beats staying reactive: no periodicity or too short a history.
func choose(y []float64, step time.Duration, hs []int, opts Options) *choice {
	tr := newTrial(y, len(y), step, hs, opts)
	if tr == nil {
		return nil
	}
	all := make([]int, len(hs))
	for i := range all {
		all[i] = i
	}
	mi, ci := tr.sel.choose(all)
	m, c := tr.sel.models[mi], tr.sel.cs[mi][ci]
	bnd := band(m, c, tr.o, tr.split, hs, opts.BandQuantile)
	m.fit(tr.yc)
	m.run(tr.yc)
	return &choice{period: tr.per, model: m, c: c, band: bnd}
}

// trial is the model selection as of slot end of a series: the periodicity
// of y[:end], its cleaned copy (cleaning is causal, so yc[:end] depends on
// y[:end] only, and the backtest can run models along the rest), and the
// candidates scored over the validation window [split, end).
type trial struct {
	per   Periodicity
	split int
	o     *observed // y[:end]
	yc    []float64 // all of y, cleaned
	sel   *selection
}

func newTrial(y []float64, end int, step time.Duration, hs []int, opts Options) *trial {
	per := DetectPeriodicity(y[:end], step)
	if per == None {
		return nil
	}
	s := seasonsOf(step)
	split := end - min(max(end/4, s.day), s.week)
	tr := &trial{per: per, split: split, o: newObserved(y[:end])}
	tr.yc = cleanFor(y, per, s, split)
	tr.sel = validate(candidates(per, s, split), tr.o, tr.yc[:end], split, hs, step, opts.UnderCost)
	return tr
}

// cleanFor cleans y against its longest season.
func cleanFor(y []float64, per Periodicity, s seasons, scaleEnd int) []float64 {
	switch per {
	case Weekly:
		return clean(y, s.week, weeksBack, s, scaleEnd)
	case Daily:
		return clean(y, s.day, daysBack, s, scaleEnd)
	}
	return clean(y, 0, 0, s, scaleEnd)
}

// knots are the horizons, in slots, the upper band is measured at: 1, 2,
// 4, ... up to lead, and lead.
func knots(lead int) []int {
	var ks []int
	for k := 1; k < lead; k *= 2 {
		ks = append(ks, k)
	}
	return append(ks, lead)
}

// interpolate spreads values given at horizons ks over 0..upTo, linearly
// between knots and flat beyond them.
func interpolate(ks []int, vs []float64, upTo int) []float64 {
	out := make([]float64, upTo+1)
	j := 0
	for h := range out {
		for j+1 < len(ks) && ks[j+1] <= h {
			j++
		}
		switch {
		case h <= ks[0]:
			out[h] = vs[0]
		case j+1 >= len(ks):
			out[h] = vs[len(vs)-1]
		default:
			w := float64(h-ks[j]) / float64(ks[j+1]-ks[j])
			out[h] = vs[j] + w*(vs[j+1]-vs[j])
		}
	}
	return out
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

// Model is the name of the chosen model ("reactive" when none is used).
func (p *Predictor) Model() string { return p.model }

// Periodicity is what Fit detected in the history.
func (p *Predictor) Periodicity() Periodicity { return p.period }

// Forecast returns the highest upper forecast over the slots [now,
// now+lead], and false when the Predictor has none to give (reactive, or
// now is past its validity). It reads the last slots of the history to
// correct the level and does not allocate.
func (p *Predictor) Forecast(now time.Time, lead time.Duration) (float64, bool) {
	if p.path == nil || lead < 0 {
		return 0, false
	}
	slot := p.hist.slotOf(now)
	at := int(slot - p.pathStart)
	steps := int(lead / p.step)
	if at < p.c.win-1 || at+steps >= len(p.path) {
		return 0, false
	}
	var sy, sb float64
	var cnt int
	p.hist.window(slot, p.c.win, func(s int64, v float64) {
		if k := int(s - p.pathStart); k >= 0 {
			sy += v
			sb += p.path[k]
			cnt++
		}
	})
	r := ratio(sy, sb, cnt, p.bounded)
	upper := 0.0
	for h := 0; h <= steps; h++ {
		f := correct(p.path[at+h], r, p.c.damp(h), math.NaN())
		if b := p.band[min(h, len(p.band)-1)]; f*b > upper {
			upper = f * b
		}
	}
	return upper, !math.IsNaN(upper) && !math.IsInf(upper, 0)
}

// Serve is the value to publish as <gauge>_forecast: max(current, highest
// upper forecast over [now, now+lead]), the forecast bounded by MaxMultiple
// times the historical maximum. A nil or reactive Predictor, or one whose
// forecast is unusable, gives current: scaling is then purely reactive,
// never worse than without a predictor. An invalid current (negative, NaN,
// infinite) counts as 0.
func (p *Predictor) Serve(now time.Time, lead time.Duration, current float64) float64 {
	if !(current >= 0) || math.IsInf(current, 1) {
		current = 0
	}
	if p == nil {
		return current
	}
	upper, ok := p.Forecast(now, lead)
	if !ok {
		return current
	}
	return math.Max(current, math.Min(upper, p.limit))
}
