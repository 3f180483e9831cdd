package predictor

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/optimize"
)

// holtWinters is additive Holt-Winters exponential smoothing with a daily
// and, for weekly series, a weekly season (Taylor's double-seasonal form),
// without a trend: the level correction already follows drift, and a trend
// extrapolated over a day is what makes Holt-Winters overshoot.
//
//	e    = y[t] - (l[t-1] + d[t-D] + w[t-W])
//	l[t] = l[t-1] + α·e
//	d[t] = d[t-D] + δ·(1-α)·e
//	w[t] = w[t-W] + ω·(1-α)·e
//
// α, δ, ω are fitted by minimizing the in-sample one-step squared error
// with Nelder-Mead (gonum/optimize) over the last few weeks. Additive
// seasons stay stable where the load drops to zero, which multiplicative
// ones do not.
type holtWinters struct {
	s      seasons
	weekly bool
	// window is how many of the most recent slots fit uses.
	window int

	alpha, delta, omega float64

	start int // y index of state index 0
	l     []float64
	d, w  []float64
}

func newHoltWinters(s seasons, weekly bool) *holtWinters {
	hw := &holtWinters{s: s, weekly: weekly, alpha: 0.1, delta: 0.1, omega: 0.1}
	if weekly {
		hw.window = 5 * s.week
	} else {
		hw.window = 14 * s.day
	}
	return hw
}

func (hw *holtWinters) name() string { return "holt-winters" }

// init is the length of the start-up period the initial state comes from.
func (hw *holtWinters) init() int {
	if hw.weekly {
		return hw.s.week
	}
	return hw.s.day
}

func (hw *holtWinters) fit(y []float64) {
	hw.start = max(0, len(y)-hw.window)
	x := y[hw.start:]
	if len(x) < 2*hw.init() {
		return // keep the defaults; too short to fit anything better
	}
	logistic := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	problem := optimize.Problem{Func: func(p []float64) float64 {
		hw.alpha, hw.delta, hw.omega = logistic(p[0]), logistic(p[1]), logistic(p[2])
		return hw.smooth(x)
	}}
	// logit(0.1): a moderate start; the search is on the logit scale so the
	// parameters stay in (0, 1) without constraints.
	x0 := []float64{-2.2, -2.2, -2.2}
	if !hw.weekly {
		problem.Func = func(p []float64) float64 {
			hw.alpha, hw.delta, hw.omega = logistic(p[0]), logistic(p[1]), 0
			return hw.smooth(x)
		}
		x0 = x0[:2]
	}
	// An evaluation limit ends the search with the best point so far, which
	// is all a forecast needs; anything unusable keeps the start point.
	best := x0
	res, _ := optimize.Minimize(problem, x0, &optimize.Settings{FuncEvaluations: 150}, &optimize.NelderMead{})
	if res != nil && len(res.X) == len(x0) && !math.IsNaN(res.F) && !math.IsInf(res.F, 0) {
		best = res.X
	}
	hw.alpha, hw.delta = logistic(best[0]), logistic(best[1])
	hw.omega = 0
	if hw.weekly {
		hw.omega = logistic(best[2])
	}
}

// smooth runs the recursion over x (x[0] is state index 0) with the current
// parameters, keeping the states, and returns the mean squared one-step
// error after the start-up period.
func (hw *holtWinters) smooth(x []float64) float64 {
	n, m := len(x), hw.init()
	hw.l = slices.Grow(hw.l[:0], n)[:n]
	hw.d = slices.Grow(hw.d[:0], n)[:n]
	hw.w = slices.Grow(hw.w[:0], n)[:n]
	if n < m {
		for i := range n {
			hw.l[i], hw.d[i], hw.w[i] = x[i], 0, 0
		}
		return math.NaN()
	}
	D, W := hw.s.day, hw.s.week
	l0 := 0.0
	for _, v := range x[:m] {
		l0 += v
	}
	l0 /= float64(m)
	// Initial daily season: the mean deviation of each slot of the day from
	// its day's mean over the start-up period; the weekly one: what is left.
	days := m / D
	for p := range D {
		hw.d[p] = 0
	}
	for k := range days {
		dm := mean(x[k*D : (k+1)*D])
		for p := range D {
			hw.d[p] += (x[k*D+p] - dm) / float64(days)
		}
	}
	for i := range m {
		hw.l[i] = l0
		hw.d[i] = hw.d[i%D]
		hw.w[i] = 0
		if hw.weekly {
			hw.w[i] = x[i] - l0 - hw.d[i]
		}
	}
	a, g, o := hw.alpha, hw.delta*(1-hw.alpha), hw.omega*(1-hw.alpha)
	var sse float64
	for t := m; t < n; t++ {
		wPrev := 0.0
		if hw.weekly {
			wPrev = hw.w[t-W]
		}
		e := x[t] - (hw.l[t-1] + hw.d[t-D] + wPrev)
		sse += e * e
		hw.l[t] = hw.l[t-1] + a*e
		hw.d[t] = hw.d[t-D] + g*e
		hw.w[t] = wPrev + o*e
	}
	return sse / float64(n-m)
}

func (hw *holtWinters) run(y []float64) { hw.smooth(y[hw.start:]) }

func (hw *holtWinters) first() int { return hw.start + hw.init() }

func (hw *holtWinters) level(t int) float64 { return hw.l[t-hw.start] }

func (hw *holtWinters) past(i int) float64 {
	i -= hw.start
	return hw.d[i] + hw.w[i]
}

// ahead uses the latest estimate of each season for slot i's phase: the
// state at the last slot up to t in the same phase.
func (hw *holtWinters) ahead(t, i int) float64 {
	t -= hw.start
	i -= hw.start
	v := hw.d[t-int(mod(int64(t-i), int64(hw.s.day)))]
	if hw.weekly {
		v += hw.w[t-int(mod(int64(t-i), int64(hw.s.week)))]
	}
	return v
}

func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}
