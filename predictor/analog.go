package predictor

import (
	"math"
	"slices"
	"time"

	"github.com/rtcscale/rtcscale/internal/window"
)

// The forecast the HPA scales on is a forecast of analogs: what the load did
// at the same time on past days (or weeks). From each analog origin τ it
// takes the increment d(τ) = peak(τ) − level(τ), the highest load of
// [τ, τ+lead] less the mean of the few minutes before τ, and it serves
//
//	level(now) + max(0, median of the analogs' increments − typical increment)
//
// where the typical increment is the median over every origin of the last
// day. So it adds capacity only for what is specific to this time of day —
// the morning ramp, the cron job at 11:00 — and nothing where the coming
// minutes are like any others: the HPA's target already leaves headroom for
// the ordinary rise and noise of any few minutes, and counting that twice
// costs pods at all hours. A time whose past days show no rise beyond the
// ordinary serves the level itself, which is the reactive value.
//
// Learning from past increments rather than from past values makes the
// forecast follow today's level (a holiday, a busy week) at once, and
// pooling the origins within ±lead of the same time absorbs a ramp or a job
// that starts a few minutes earlier or later from day to day.

// Analog parameters.
const (
	// analogLevel is how much recent load the level averages.
	analogLevel = 5 * time.Minute
	// analogDays and analogWeeks are how many past periods give analogs:
	// a week of days (each weekday once), or the five weeks a history holds.
	analogDays  = 7
	analogWeeks = 5
	// analogMinWeeks is the history a weekly pool needs: with fewer
	// weeks each weekday has too few analogs.
	analogMinWeeks = 3
)

// analogSeries is what the analog forecast reads of a series y (NaN
// missing): prefix sums for the levels and the peak over the lead from every
// slot, both computed once in linear time.
type analogSeries struct {
	y         []float64
	sum       []float64
	cnt       []int32
	peak      []float64 // peak[t] = max observed y[t..t+lead], NaN if none
	lead, win int
}

func newAnalogSeries(y []float64, lead, win int) *analogSeries {
	a := &analogSeries{y: y, sum: make([]float64, len(y)+1), cnt: make([]int32, len(y)+1), lead: lead, win: win}
	for i, v := range y {
		a.sum[i+1], a.cnt[i+1] = a.sum[i], a.cnt[i]
		if !math.IsNaN(v) {
			a.sum[i+1] += v
			a.cnt[i+1]++
		}
	}
	a.peak = window.MaxAhead(y, lead)
	return a
}

// level is the mean of the observed values of y[t-win+1..t], NaN if none.
func (a *analogSeries) level(t int) float64 {
	lo := max(0, t-a.win+1)
	c := a.cnt[t+1] - a.cnt[lo]
	if c == 0 {
		return math.NaN()
	}
	return (a.sum[t+1] - a.sum[lo]) / float64(c)
}

// increment is d(τ), NaN when τ's level or peak is unknown.
func (a *analogSeries) increment(t int) float64 {
	return a.peak[t] - a.level(t)
}

// analogPlan says where a slot's analogs are: k periods back, each within
// ±w slots of the same time.
type analogPlan struct {
	period, k, w int
	name         string
}

// planFor chooses the analogs for a history of n slots whose periodicity is
// per: the same time of the week when the load repeats weekly and there are
// weeks enough, else of the day. ok is false with too little history for
// one day of analogs.
func planFor(per Periodicity, n int, s seasons, lead int) (analogPlan, bool) {
	w := lead
	if per == Weekly && n >= analogMinWeeks*s.week+w+lead {
		return analogPlan{period: s.week, k: analogWeeks, w: w, name: "analog-weekly"}, true
	}
	return analogPlan{period: s.day, k: analogDays, w: w, name: "analog-daily"}, n >= s.day+w+lead+1
}

// serving decides whether the analogs serve from slot f on, with n slots of
// history held (from slot f+1-n) whose periodicity is per: the plan and the
// typical increment, or ok false with under a day of history, or 3 days or
// more without a pattern (nothing to forecast from).
func (a *analogSeries) serving(f, n int, per Periodicity, s seasons, buf []float64) (p analogPlan, typical float64, _ []float64, ok bool) {
	if per == None && n >= 3*s.day {
		return p, 0, buf, false
	}
	if p, ok = planFor(per, n, s, a.lead); !ok {
		return p, 0, buf, false
	}
	typical, buf = a.typical(f, s.day, buf)
	return p, typical, buf, !math.IsNaN(typical)
}

// typical is the median increment over the origins of the day before slot
// f whose peaks are known by f, NaN with none.
func (a *analogSeries) typical(f, day int, buf []float64) (float64, []float64) {
	buf = buf[:0]
	for t := max(0, f-day+1); t+a.lead <= f; t++ {
		if d := a.increment(t); !math.IsNaN(d) {
			buf = append(buf, d)
		}
	}
	return median(buf), buf
}

// excess is what the forecast adds at slot t over its level: the median
// increment of t's analogs whose peaks are known by slot f, less the
// typical one, at least 0; NaN when t has no analog. Analogs before slot lo
// are not held (the start of a live history's ring).
func (a *analogSeries) excess(t, f, lo int, p analogPlan, typical float64, buf []float64) (float64, []float64) {
	buf = buf[:0]
	// Periods whose analogs are not all known by f are skipped, and the
	// pool goes back one more, so that every slot has k periods.
	for j, taken := 1, 0; taken < p.k; j++ {
		base := t - j*p.period
		if base-p.w < lo {
			break
		}
		if base+p.w+a.lead > f {
			continue
		}
		for tau := base - p.w; tau <= base+p.w; tau++ {
			if d := a.increment(tau); !math.IsNaN(d) {
				buf = append(buf, d)
			}
		}
		taken++
	}
	m := median(buf)
	if math.IsNaN(m) {
		return m, buf
	}
	return math.Max(0, m-typical), buf
}

// median sorts v in place and returns its median, NaN if empty.
func median(v []float64) float64 {
	n := len(v)
	if n == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// peakTable is the analog forecast fitted at slot f of a history: the excess
// of each slot from f to the end of the fit's validity.
type peakTable struct {
	name  string
	start int64 // history slot of excess[0]
	win   int
	// excess is NaN where a slot has no analog.
	excess []float64
}

// fitPeaks fits the analog forecast to y, the history up to its last slot
// (at history slot last), for the slots until ahead after it. nil means
// the analogs do not serve (see serving).
func fitPeaks(a *analogSeries, per Periodicity, s seasons, last int64, ahead int) *peakTable {
	f := len(a.y) - 1
	p, typ, buf, ok := a.serving(f, len(a.y), per, s, nil)
	if !ok {
		return nil
	}
	tb := &peakTable{name: p.name, start: last, win: a.win, excess: make([]float64, ahead+1)}
	for i := range tb.excess {
		tb.excess[i], buf = a.excess(f+i, f, 0, p, typ, buf)
	}
	return tb
}
