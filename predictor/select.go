package predictor

import (
	"math"
	"slices"
	"time"
)

// corr is a level correction: forecasts are scaled by the ratio r of the
// actual load to the model's expectation over the last win slots, with the
// correction fading with the horizon h (in slots):
//
//	forecast = base × (1 + (r-1) × 2^(-h/halfLife))
//
// halfLife 0 leaves the model alone, +Inf applies r at every horizon. This
// is the "scaled by the recent level" of the seasonal profile, and it gives
// the other models the same knowledge of the last hour.
type corr struct {
	win      int
	halfLife float64
}

func (c corr) damp(h int) float64 {
	switch {
	case c.halfLife == 0:
		return 0
	case math.IsInf(c.halfLife, 1):
		return 1
	}
	return math.Exp2(-float64(h) / c.halfLife)
}

// Ratios beyond these bounds say more about an outage or a spike than about
// the level; a seasonal model is not scaled further.
const (
	minRatio = 0.25
	maxRatio = 4
)

// ratio is the level correction of a window with observed sum sy over count
// slots that the model expected to sum to sb. Naive models are not bounded:
// their "expectation" is 1 per slot and r is the recent mean itself.
func ratio(sy, sb float64, count int, bounded bool) float64 {
	if count == 0 {
		return 1
	}
	if !bounded {
		return sy / sb
	}
	if !(sb > 1e-9*(math.Abs(sy)+1)) {
		return 1
	}
	return math.Min(maxRatio, math.Max(minRatio, sy/sb))
}

// corrections lists the level corrections tried with each model: windows of
// 15 minutes, 1 hour, 4 hours and a day, half-lives of 0, 1 hour, 4 hours,
// a day and forever (naive only takes forever: it has nothing else).
//
// The simple models take the corrections that make them the baselines and
// no others: naive is the value now, the seasonal naive ones are as they
// were, and the weekly one also scaled by the last hour's level.
func corrections(step time.Duration, m model) []corr {
	slots := func(d time.Duration) int { return max(1, int(d/step)) }
	if simple(m) {
		switch m := m.(type) {
		case naive:
			return []corr{{win: 1, halfLife: math.Inf(1)}}
		case *profile:
			if m.label == seasonalNaiveWeek {
				return []corr{{win: 1, halfLife: 0}, {win: slots(time.Hour), halfLife: math.Inf(1)}}
			}
		}
		return []corr{{win: 1, halfLife: 0}}
	}
	_, isNaive := m.(naive)
	var wins []int
	for _, d := range []time.Duration{15 * time.Minute, time.Hour, 4 * time.Hour, 24 * time.Hour} {
		if w := slots(d); !slices.Contains(wins, w) {
			wins = append(wins, w)
		}
	}
	halfLives := []float64{math.Inf(1)}
	if !isNaive {
		for _, d := range []time.Duration{time.Hour, 4 * time.Hour, 24 * time.Hour} {
			halfLives = append(halfLives, float64(d)/float64(step))
		}
		halfLives = append(halfLives, 0)
	}
	var cs []corr
	for _, w := range wins {
		for _, hl := range halfLives {
			cs = append(cs, corr{win: w, halfLife: hl})
		}
	}
	return cs
}

// observed holds a raw series (NaN missing) with prefix sums of its observed
// values and of their count, so the level correction's window sums are O(1).
type observed struct {
	y      []float64
	sum    []float64 // sum[i] = Σ observed y[:i]
	counts []int     // counts[i] = number observed in y[:i]
}

func newObserved(y []float64) *observed {
	o := &observed{y: y, sum: make([]float64, len(y)+1), counts: make([]int, len(y)+1)}
	for i, v := range y {
		o.sum[i+1], o.counts[i+1] = o.sum[i], o.counts[i]
		if !math.IsNaN(v) {
			o.sum[i+1] += v
			o.counts[i+1]++
		}
	}
	return o
}

// forecasts calls visit with the forecast of model m (run along the series)
// for every origin t in [from, to), horizon hs[hi] and correction cs[ci]
// whose target slot t+h is observed. Origins too early for the model or the
// widest window are skipped.
func forecasts(m model, o *observed, cs []corr, from, to int, hs []int, visit func(t, hi, ci int, f float64)) {
	n := len(o.y)
	widest := 0
	for _, c := range cs {
		widest = max(widest, c.win)
	}
	from = max(from, m.first()+widest-1)
	// past(i) summed over observed slots.
	pb := make([]float64, n+1)
	for i := m.first(); i < n; i++ {
		pb[i+1] = pb[i]
		if !math.IsNaN(o.y[i]) {
			pb[i+1] += m.past(i)
		}
	}
	_, bounded := m.(naive)
	bounded = !bounded
	rs := make([]float64, len(cs))
	fallback := make([]float64, len(cs))
	damps := make([][]float64, len(hs))
	for hi, h := range hs {
		damps[hi] = make([]float64, len(cs))
		for ci, c := range cs {
			damps[hi][ci] = c.damp(h)
		}
	}
	for t := from; t < min(to, n); t++ {
		lvl := m.level(t)
		for ci, c := range cs {
			lo := t + 1 - c.win
			cnt := o.counts[t+1] - o.counts[lo]
			sy := o.sum[t+1] - o.sum[lo]
			sb := pb[t+1] - pb[lo] + float64(cnt)*lvl
			rs[ci] = ratio(sy, sb, cnt, bounded)
			fallback[ci] = math.NaN()
			if cnt > 0 {
				fallback[ci] = sy / float64(cnt)
			}
		}
		for hi, h := range hs {
			i := t + h
			if i >= n || math.IsNaN(o.y[i]) {
				continue
			}
			b := lvl + m.ahead(t, i)
			for ci, d := range damps[hi] {
				visit(t, hi, ci, correct(b, rs[ci], d, fallback[ci]))
			}
		}
	}
}

// correct applies a level correction to the model's base value b; a model
// with no opinion (NaN) falls back to the recent level.
func correct(b, r, damp, fallback float64) float64 {
	if math.IsNaN(b) {
		return fallback
	}
	return math.Max(0, b*(1+(r-1)*damp))
}

// asymLoss weighs an under-forecast under times more than an over-forecast
// of the same size: too few pods during a ramp drops calls, too many only
// costs money.
func asymLoss(actual, forecast, under float64) float64 {
	if e := actual - forecast; e > 0 {
		return under * e
	}
	return forecast - actual
}

// How many past periods the seasonal profiles combine: a week of days, and
// the five weeks a live history holds.
const (
	daysBack  = 7
	weeksBack = 5
)

// candidates are the models worth trying on a series of this periodicity,
// given n slots of history before the first origin scored. The seasonal
// naive models are candidates as much as baselines: on some loads the same
// time yesterday, or last week, is the best forecast there is.
func candidates(p Periodicity, s seasons, n int) []model {
	ms := []model{naive{}}
	if n >= 2*s.day {
		ms = append(ms, newSeasonalNaive(seasonalNaiveDay, s.day))
	}
	if n >= s.week+s.day {
		ms = append(ms, newSeasonalNaive(seasonalNaiveWeek, s.week))
	}
	if p == None || n < 2*s.day {
		return ms
	}
	ms = append(ms, newProfile("profile-daily", s.day, daysBack, s))
	weekly := p == Weekly && n >= s.week+s.day
	if weekly {
		ms = append(ms, newProfile("profile-weekly", s.week, weeksBack, s))
	}
	if !weekly || n >= 2*s.week {
		ms = append(ms, newHoltWinters(s, weekly && n >= 2*s.week))
	}
	ms = append(ms, newHarmonic(s, weekly))
	// The ensemble has its own members: models keep state along a series.
	members := []model{newProfile("profile-daily", s.day, daysBack, s)}
	if weekly {
		members = []model{newProfile("profile-weekly", s.week, weeksBack, s)}
	}
	if !weekly || n >= 2*s.week {
		members = append(members, newHoltWinters(s, weekly && n >= 2*s.week))
	}
	members = append(members, newHarmonic(s, weekly))
	ms = append(ms, ensemble{members})
	return ms
}

// Names of the seasonal naive models.
const (
	seasonalNaiveDay  = "seasonal-naive-1d"
	seasonalNaiveWeek = "seasonal-naive-7d"
)

// selection is the outcome of a rolling-origin backtest of every candidate
// and correction over a validation window.
type selection struct {
	models []model
	cs     [][]corr
	// loss[m][c][h] is the asymmetric loss of model m with correction c at
	// horizon h, relative to the sum of the actual values.
	loss [][][]float64
}

// validate fits every candidate on yc[:split] and scores forecasts from
// every origin in [split, len) at horizons hs against the raw series.
func validate(models []model, o *observed, yc, raw []float64, split int, hs []int, step time.Duration, under float64) *selection {
	sel := &selection{models: models}
	for _, m := range models {
		runOn(m, yc, raw, split)
		cs := corrections(step, m)
		loss := make([][]float64, len(cs))
		for ci := range loss {
			loss[ci] = make([]float64, len(hs))
		}
		sumY := make([]float64, len(hs))
		forecasts(m, o, cs, split, len(yc), hs, func(t, hi, ci int, f float64) {
			a := o.y[t+hs[hi]]
			if math.IsNaN(f) {
				f = 0
			}
			loss[ci][hi] += asymLoss(a, f, under)
			if ci == 0 {
				sumY[hi] += a
			}
		})
		for ci := range loss {
			for hi := range hs {
				if sumY[hi] > 0 {
					loss[ci][hi] /= sumY[hi]
				} else {
					// Nothing scored (too early an origin): never choose it.
					loss[ci][hi] = math.Inf(1)
				}
			}
		}
		sel.cs = append(sel.cs, cs)
		sel.loss = append(sel.loss, loss)
	}
	return sel
}

// best is the correction of model mi with the lowest mean loss over the
// horizons his, and that loss.
func (s *selection) best(mi int, his []int) (int, float64) {
	bc, bl := 0, math.Inf(1)
	for ci, l := range s.loss[mi] {
		sum := 0.0
		for _, hi := range his {
			sum += l[hi]
		}
		if sum /= float64(len(his)); sum < bl {
			bc, bl = ci, sum
		}
	}
	return bc, bl
}

// choose is the model and correction with the lowest mean loss over the
// horizons his; earlier (simpler) models win ties.
//
// A model beyond the simple ones (naive and the seasonal naive, each with
// its level correction: "last week × the last hour's level" among them)
// must beat the best simple one by simplerMargin: a validation window of
// days cannot tell a small gain from luck, and a simple forecast is the
// one an operator can check by eye.
func (s *selection) choose(his []int) (int, int) {
	bm, bc, bl := 0, 0, math.Inf(1)
	sm, sc, sl := 0, 0, math.Inf(1)
	for mi, m := range s.models {
		c, l := s.best(mi, his)
		if l < bl {
			bm, bc, bl = mi, c, l
		}
		if simple(m) && l < sl {
			sm, sc, sl = mi, c, l
		}
	}
	if !simple(s.models[bm]) && !(bl < simplerMargin*sl) {
		return sm, sc
	}
	return bm, bc
}

// runOn fits m on the first split slots and runs it along the series: the
// cleaned one, or for the simple models the raw one (gaps filled), since a
// baseline is the load as it was, spikes and outages included.
func runOn(m model, yc, raw []float64, split int) {
	y := yc
	if simple(m) {
		y = raw
	}
	m.fit(y[:split])
	m.run(y)
}

// simplerMargin is how much better than the best simple model a complex
// one must be on the validation window to be chosen.
const simplerMargin = 0.95

// simple tells the baseline-like models apart: naive and seasonal naive.
func simple(m model) bool {
	switch m := m.(type) {
	case naive:
		return true
	case *profile:
		return m.label == seasonalNaiveDay || m.label == seasonalNaiveWeek
	}
	return false
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
	raw   []float64 // all of y, gaps filled
	sel   *selection
}

func newTrial(y []float64, end int, step time.Duration, hs []int, opts Options) *trial {
	per := DetectPeriodicity(y[:end], step)
	s := seasonsOf(step)
	split := end - min(max(end/2, s.day), s.week)
	tr := &trial{per: per, split: split, o: newObserved(y[:end]), raw: fillGaps(y)}
	tr.yc = cleanFor(y, per, s, split)
	tr.sel = validate(candidates(per, s, split), tr.o, tr.yc[:end], tr.raw[:end], split, hs, step, opts.UnderCost)
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
