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
	// from. Default 56 days.
	Holdout time.Duration
	// Refit is how often, within the holdout, the models are refitted and
	// chosen again from the data so far. Default 24h.
	Refit time.Duration
	// Options of the fit (UnderCost, BandQuantile, ...); Lead is ignored:
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
	// AboveUpper is the share of actual values above the upper band.
	AboveUpper float64
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
	under, above, n     int
}

func (s *scoreSum) add(actual, f, upper float64) {
	s.absErr += math.Abs(actual - f)
	s.sumY += actual
	if d := math.Abs(actual) + math.Abs(f); d > 0 {
		s.smape += 2 * math.Abs(actual-f) / d
	}
	if f < actual {
		s.under++
	}
	if upper < actual {
		s.above++
	}
	s.n++
}

func (s *scoreSum) score() Score {
	if s.n == 0 {
		return Score{}
	}
	n := float64(s.n)
	return Score{WAPE: s.absErr / s.sumY, SMAPE: s.smape / n, Under: float64(s.under) / n, AboveUpper: float64(s.above) / n, N: s.n}
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
	for f0 := n - hold; f0 < n; f0 += refit {
		tr := newTrial(y, f0, step, hs, fo)
		if tr == nil {
			// No periodicity: the predictor is reactive, as naive would be.
			tr = &trial{yc: fillGaps(y), o: newObserved(y[:f0]), split: f0 - min(max(f0/4, 1), seasonsOf(step).week)}
			tr.sel = validate([]model{naive{}}, tr.o, tr.yc[:f0], tr.split, hs, step, fo.UnderCost)
		}
		sel := tr.sel
		for hi := range hs {
			mi, _ := sel.choose([]int{hi})
			name := sel.models[mi].name()
			picks[hi][name]++
			last[hi] = name
		}
		// Bands of the chosen models, from the validation window, before
		// the models are refitted on everything up to f0.
		bands := make([]float64, len(hs))
		for hi := range hs {
			mi, ci := sel.choose([]int{hi})
			bands[hi] = band(sel.models[mi], sel.cs[mi][ci], tr.o, tr.split, hs[hi:hi+1], fo.BandQuantile)[0]
		}
		for mi, m := range sel.models {
			if _, ok := perModel[m.name()]; !ok {
				perModel[m.name()] = make([]scoreSum, len(hs))
				rep.Models = append(rep.Models, m.name())
			}
			m.fit(tr.yc[:f0])
			m.run(tr.yc)
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
			forecasts(m, all, cs, f0, min(f0+refit, n), hs, func(t, hi, ci int, f float64) {
				if hi != ci {
					return
				}
				a := y[t+hs[hi]]
				if math.IsNaN(f) {
					f = 0
				}
				sums[hi].add(a, f, f)
				if isChosen[hi] {
					chosen[hi].add(a, f, f*bands[hi])
				}
			})
		}
	}
	for hi, h := range hs {
		hr := HorizonResult{Horizon: time.Duration(h) * step, Models: map[string]Score{}, Chosen: chosen[hi].score(), Picks: picks[hi], Last: last[hi]}
		for name, sums := range perModel {
			hr.Models[name] = sums[hi].score()
		}
		rep.Horizons = append(rep.Horizons, hr)
	}
	return rep, nil
}
