package predictor

import (
	"fmt"
	"math"
	"time"
)

// BacktestOptions set up Backtest.
type BacktestOptions struct {
	// Horizons to score; each is rounded up to a whole number of steps.
	Horizons []time.Duration
	// Holdout is the final part of the series forecast and scored; it is
	// capped at a third of the series so the models have history to learn
	// from. Default 56 days. HoldoutShare, if set (0 to 1/3), gives it as a
	// share of the series instead.
	Holdout      time.Duration
	HoldoutShare float64
	// Refit is how often, within the holdout, the models are refitted and
	// chosen again from the data so far. Default 24h.
	Refit time.Duration
	// Options of the fit (UnderCost, ...); Lead is ignored:
	// every horizon is chosen for on its own.
	Options
}

// Score is the error of a forecast over the holdout.
type Score struct {
	// WAPE is Σ|actual-forecast| / Σ actual.
	WAPE float64
	// SMAPE is the mean of 2|actual-forecast| / (|actual|+|forecast|).
	SMAPE float64
	// Under is the share of forecasts below the actual value.
	Under float64
	// N is the number of forecasts scored.
	N int
}

// HorizonResult is the backtest of one horizon.
type HorizonResult struct {
	Horizon time.Duration
	// Models are the scores of every model that was a candidate, each with
	// its best level correction, in Models order of the report.
	Models map[string]Score
	// Chosen is the score of the model picked at each refit.
	Chosen Score
	// Baselines are the scores of the simple forecasts a model has to
	// beat, by name (see Baselines).
	Baselines map[string]Score
	// Picks counts how many refits picked each model.
	Picks map[string]int
	// Last is the model picked at the last refit: what would serve now.
	Last string
}

// BacktestReport is the outcome of Backtest.
type BacktestReport struct {
	Step    time.Duration
	Holdout time.Duration
	// Periodicity is the label of the whole trace; each refit detects its
	// own from the data so far, as Fit would have.
	Periodicity Periodicity
	Models      []string // every model scored, in candidate order
	Horizons    []HorizonResult
}

// scoreSum accumulates a Score.
type scoreSum struct {
	absErr, sumY, smape float64
	under, n            int
}

func (s *scoreSum) add(actual, f float64) {
	s.absErr += math.Abs(actual - f)
	s.sumY += actual
	if d := math.Abs(actual) + math.Abs(f); d > 0 {
		s.smape += 2 * math.Abs(actual-f) / d
	}
	if f < actual {
		s.under++
	}
	s.n++
}

func (s *scoreSum) score() Score {
	if s.n == 0 {
		return Score{}
	}
	n := float64(s.n)
	return Score{WAPE: s.absErr / s.sumY, SMAPE: s.smape / n, Under: float64(s.under) / n, N: s.n}
}

// Baselines are the simple forecasts a backtest scores beside the models:
// the value now, the same time a day and a week before, and the same time
// a week before scaled by how the last hour compares with that hour a week
// before (the baselines of testdata/traces/README.md).
var Baselines = []string{"persistence", "seasonal-naive-1d", "seasonal-naive-7d", "profile-x-level"}

// baseline forecasts y[t+h] from y[:t+1] the way Baselines[b] does, NaN
// where it cannot.
func baseline(b int, y []float64, t, h int, s seasons, hour int) float64 {
	back := func(period int) float64 {
		i := t + h - ((h+period-1)/period)*period
		if i < 0 {
			return math.NaN()
		}
		return y[i]
	}
	switch b {
	case 0:
		return y[t]
	case 1:
		return back(s.day)
	case 2:
		return back(s.week)
	}
	v := back(s.week)
	var now, before float64
	for j := max(t-hour+1, s.week); j <= t; j++ {
		if !math.IsNaN(y[j]) && !math.IsNaN(y[j-s.week]) {
			now += y[j]
			before += y[j-s.week]
		}
	}
	if before > 0 {
		v *= now / before
	}
	return v
}

// Backtest replays y (regular samples every step, NaN missing) as the
// predictor would have lived it: from the start of the holdout on, every
// Refit it detects the periodicity, scores and chooses the models on the
// data so far exactly as Fit does, refits them, and forecasts each slot of
// the next Refit from every origin, with the data up to that origin only.
// Each horizon gets its own choice (Fit chooses for its lead).
func Backtest(y []float64, step time.Duration, opts BacktestOptions) (*BacktestReport, error) {
	if err := checkStep(step); err != nil {
		return nil, err
	}
	if opts.Holdout <= 0 {
		opts.Holdout = 56 * 24 * time.Hour
	}
	if opts.Refit <= 0 {
		opts.Refit = 24 * time.Hour
	}
	if len(opts.Horizons) == 0 {
		return nil, fmt.Errorf("no horizon to score")
	}
	fo := opts.Options.withDefaults()
	n := len(y)
	hold := min(int(opts.Holdout/step), n/3)
	if opts.HoldoutShare > 0 {
		if opts.HoldoutShare > 1.0/3 {
			return nil, fmt.Errorf("a holdout of %.0f%% leaves too little history to learn from; at most a third", 100*opts.HoldoutShare)
		}
		hold = int(opts.HoldoutShare * float64(n))
	}
	if time.Duration(n-hold)*step < fo.MinHistory {
		return nil, fmt.Errorf("%d samples of %s are too few: the backtest needs %s of history before its holdout", n, step, fo.MinHistory)
	}
	refit := max(1, int(opts.Refit/step))
	hs := make([]int, len(opts.Horizons))
	for i, h := range opts.Horizons {
		if h <= 0 {
			return nil, fmt.Errorf("horizon %s is not positive", h)
		}
		hs[i] = int((h + step - 1) / step)
	}
	rep := &BacktestReport{Step: step, Holdout: time.Duration(hold) * step, Periodicity: DetectPeriodicity(y, step)}
	perModel := map[string][]scoreSum{}
	chosen := make([]scoreSum, len(hs))
	picks := make([]map[string]int, len(hs))
	last := make([]string, len(hs))
	for i := range picks {
		picks[i] = map[string]int{}
	}
	all := newObserved(y)
	s := seasonsOf(step)
	hour := max(1, int(time.Hour/step))
	baselines := make([][]scoreSum, len(Baselines))
	for b := range baselines {
		baselines[b] = make([]scoreSum, len(hs))
		for hi, h := range hs {
			for t := n - hold; t+h < n; t++ {
				a, f := y[t+h], baseline(b, y, t, h, s, hour)
				if !math.IsNaN(a) && !math.IsNaN(f) {
					baselines[b][hi].add(a, f)
				}
			}
		}
	}
	for f0 := n - hold; f0 < n; f0 += refit {
		tr := newTrial(y, f0, step, hs, fo)
		sel := tr.sel
		for hi := range hs {
			mi, _ := sel.choose([]int{hi})
			name := sel.models[mi].name()
			picks[hi][name]++
			last[hi] = name
		}
		end := min(f0+refit, n)
		for mi, m := range sel.models {
			if _, ok := perModel[m.name()]; !ok {
				perModel[m.name()] = make([]scoreSum, len(hs))
				rep.Models = append(rep.Models, m.name())
			}
			runOn(m, tr.yc, tr.raw, f0)
			// Each horizon with this model's best correction for it.
			cs := make([]corr, len(hs))
			isChosen := make([]bool, len(hs))
			for hi := range hs {
				ci, _ := sel.best(mi, []int{hi})
				cs[hi] = sel.cs[mi][ci]
				cm, cc := sel.choose([]int{hi})
				isChosen[hi] = cm == mi && cc == ci
			}
			sums := perModel[m.name()]
			forecasts(m, all, cs, f0, end, hs, func(t, hi, ci int, f float64) {
				if hi != ci {
					return
				}
				if math.IsNaN(f) {
					f = 0
				}
				sums[hi].add(y[t+hs[hi]], f)
				if isChosen[hi] {
					chosen[hi].add(y[t+hs[hi]], f)
				}
			})
		}
	}
	for hi, h := range hs {
		hr := HorizonResult{Horizon: time.Duration(h) * step, Models: map[string]Score{}, Chosen: chosen[hi].score(), Picks: picks[hi], Last: last[hi], Baselines: map[string]Score{}}
		for b, name := range Baselines {
			hr.Baselines[name] = baselines[b][hi].score()
		}
		for name, sums := range perModel {
			hr.Models[name] = sums[hi].score()
		}
		rep.Horizons = append(rep.Horizons, hr)
	}
	return rep, nil
}
