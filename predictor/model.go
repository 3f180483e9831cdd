package predictor

import (
	"math"
	"slices"
)

// model is one way of forecasting a series. Its parameters are estimated by
// fit on a training prefix; run then computes its state along a (possibly
// longer) series with those parameters fixed, so that a rolling-origin
// backtest can ask it for a forecast from any origin without refitting.
//
// A forecast from origin t (data y[:t+1] known) for slot i > t is
// level(t) + ahead(t, i). The level correction (see corr) compares the
// actual values of the slots just before the origin with what the model
// expected of them, level(t) + past(i) for i in (t-L, t], L at most a day.
// Splitting it this way lets the backtest sum past(i) with prefix sums.
type model interface {
	name() string
	// fit estimates the parameters from the cleaned series y (no NaN).
	fit(y []float64)
	// run computes the state along the cleaned series y, parameters fixed;
	// y starts like the one given to fit and may be longer.
	run(y []float64)
	// first is the first origin run gives a forecast from.
	first() int
	level(t int) float64
	past(i int) float64
	ahead(t, i int) float64
}

// naive is "same as now": the mean of the last L actual values, which the
// level correction computes when the model expects 1 everywhere. It is both
// a candidate and the baseline every other model has to beat.
type naive struct{}

func (naive) name() string           { return "naive" }
func (naive) fit([]float64)          {}
func (naive) run([]float64)          {}
func (naive) first() int             { return 0 }
func (naive) level(int) float64      { return 0 }
func (naive) past(int) float64       { return 1 }
func (naive) ahead(int, int) float64 { return 1 }

// profile is the seasonal profile: the value of the same slot of the day (or
// week) over the last k periods, combined robustly (trimmed mean: the
// highest and lowest of 4 or more are dropped, the median of 3), so that one
// holiday or outage among them does not move it. Each period's value is
// first smoothed over ±m slots to average out minute-to-minute noise.
type profile struct {
	period, k, m int
	label        string
	y, sm, prof  []float64
	buf          []float64
}

func newProfile(label string, period, k int, s seasons) *profile {
	return &profile{label: label, period: period, k: k, m: s.day / 288, buf: make([]float64, k)}
}

// newSeasonalNaive is the value of the same slot one period back, as it
// was: a profile of one period, unsmoothed. With a level correction over
// the last hour it is "last week's profile × the last hour's level".
func newSeasonalNaive(label string, period int) *profile {
	return &profile{label: label, period: period, k: 1, buf: make([]float64, 1)}
}

func (p *profile) name() string      { return p.label }
func (p *profile) fit([]float64)     {}
func (p *profile) first() int        { return p.period }
func (p *profile) level(int) float64 { return 0 }

func (p *profile) run(y []float64) {
	p.y = y
	p.sm = movingAverage(p.sm, y, p.m)
	p.prof = slices.Grow(p.prof[:0], len(y)+p.period)[:len(y)+p.period]
	for i := range p.prof {
		p.prof[i] = p.combine(i, 1)
	}
}

// combine is the robust value of sm[i-j*period], j = j0 .. j0+k-1.
func (p *profile) combine(i, j0 int) float64 {
	v := p.buf[:0]
	for j := j0; j < j0+p.k && i-j*p.period >= 0; j++ {
		v = append(v, p.sm[i-j*p.period])
	}
	return robustMean(v)
}

func (p *profile) past(i int) float64 { return p.prof[i] }

func (p *profile) ahead(t, i int) float64 {
	// The cached value uses smoothed slots up to i-period+m; nearer to a
	// full period ahead, skip the periods that are not fully known yet.
	if i-p.period+p.m <= t && i < len(p.prof) {
		return p.prof[i]
	}
	j0 := (i - t + p.m + p.period - 1) / p.period
	return p.combine(i, j0)
}

// robustMean sorts v in place and averages it without its extremes.
func robustMean(v []float64) float64 {
	switch len(v) {
	case 0:
		return math.NaN()
	case 1:
		return v[0]
	case 2:
		return (v[0] + v[1]) / 2
	}
	slices.Sort(v)
	if len(v) == 3 {
		return v[1]
	}
	s := 0.0
	for _, x := range v[1 : len(v)-1] {
		s += x
	}
	return s / float64(len(v)-2)
}

// movingAverage writes into dst the centered mean of y over ±m slots (fewer
// at the ends).
func movingAverage(dst, y []float64, m int) []float64 {
	dst = slices.Grow(dst[:0], len(y))[:len(y)]
	if m == 0 {
		copy(dst, y)
		return dst
	}
	var s float64
	lo, hi := 0, 0 // window is y[lo:hi]
	for i := range y {
		for hi < len(y) && hi <= i+m {
			s += y[hi]
			hi++
		}
		for lo < i-m {
			s -= y[lo]
			lo++
		}
		dst[i] = s / float64(hi-lo)
	}
	return dst
}

// ensemble averages the expectations of its members: combining forecasts
// whose errors differ is more accurate than most of them alone, and the
// level correction then applies to the average.
type ensemble struct{ ms []model }

func (e ensemble) name() string { return "ensemble" }
func (e ensemble) fit(y []float64) {
	for _, m := range e.ms {
		m.fit(y)
	}
}
func (e ensemble) run(y []float64) {
	for _, m := range e.ms {
		m.run(y)
	}
}
func (e ensemble) first() int {
	f := 0
	for _, m := range e.ms {
		f = max(f, m.first())
	}
	return f
}
func (e ensemble) level(t int) float64 {
	s := 0.0
	for _, m := range e.ms {
		s += m.level(t)
	}
	return s / float64(len(e.ms))
}
func (e ensemble) past(i int) float64 {
	s := 0.0
	for _, m := range e.ms {
		s += m.past(i)
	}
	return s / float64(len(e.ms))
}
func (e ensemble) ahead(t, i int) float64 {
	s := 0.0
	for _, m := range e.ms {
		s += m.ahead(t, i)
	}
	return s / float64(len(e.ms))
}
