package whatif

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtcscale/rtcscale/hpasim"
)

// Options are one what-if run: a replay as the operator wrote it, the
// modes to compare, the settings to sweep and the SLO to hold them to.
type Options struct {
	// Config is the replay; its HPA is the operator's, as written.
	Config
	// Modes are of ModeReactive, ModePredictive, ModeForesight and
	// ModeOracle; empty is all four.
	Modes []string
	// Sweeps span the grid of settings replayed beside the HPA as written.
	Sweeps []Sweep
	// Drains are the scale-down policies to compare: each mode replays the
	// HPA as written with each. The first is the one of the sweep, the
	// frontier and the plots. Empty: Fleet's drain and grace period.
	Drains []DrainPolicy
	// Lead is how far ahead the forecast looks; default the start-up (with
	// its jitter) plus a minute. Every is how often the forecast is
	// refreshed, default 1m.
	Lead, Every time.Duration
	// Forecaster is predictive mode's: rtcscale's predictor.
	Forecaster Forecaster
	// SLO is what the frontier holds every setting to.
	SLO SLO
	// Progress, if set, is called now and then with what is running and
	// how much of the replays is done.
	Progress func(stage string, done float64)
}

// Report is the outcome of Run.
type Report struct {
	// HPAs are the reactive and predictive HPAs replayed.
	HPAs *HPAs
	// Lead is the forecast's lead as written (sweeps may vary it).
	Lead time.Duration
	// Drains are the scale-down policies replayed, the frontier's first.
	Drains []DrainPolicy
	// Rows are the modes with the HPA as written, each with every drain
	// policy in turn, the oracle last.
	Rows []Row
	// Sweep are the rows of the grid, if any.
	Sweep []Row
	// Oracle is the oracle's result, run whatever the modes: every row's
	// pod-hours are compared with it.
	Oracle *Result
	// Frontier is the answer for the SLO over Rows and Sweep.
	Frontier *Frontier
	// Minutes is the trace's length.
	Minutes float64
	// Warnings say what the operator may not expect.
	Warnings []string
}

// job is one replay of a run.
type job struct {
	mode   string
	point  Settings
	cfg    Config
	lead   time.Duration
	hidden bool // run for the SLO only
	res    *Result
}

// Run replays the HPA as written in every mode asked for, and every point
// of the sweeps' grid, on all cores, and finds the frontier. Forecasts are
// computed once per lead and shared by every target.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.Config.validate(); err != nil {
		return nil, err
	}
	if o.HPA == nil {
		return nil, errors.New("no HPA")
	}
	modes := map[string]bool{}
	if len(o.Modes) == 0 {
		o.Modes = []string{ModeReactive, ModePredictive, ModeForesight, ModeOracle}
	}
	for _, m := range o.Modes {
		switch m {
		case ModeReactive, ModePredictive, ModeForesight, ModeOracle:
			modes[m] = true
		default:
			return nil, fmt.Errorf("unknown mode %q (want %s, %s, %s or %s)", m, ModeReactive, ModePredictive, ModeForesight, ModeOracle)
		}
	}
	if modes[ModePredictive] && o.Forecaster == nil {
		return nil, errors.New("predictive mode needs a forecaster")
	}
	hpas, err := SplitHPA(o.HPA, o.Controller)
	if err != nil {
		return nil, fmt.Errorf("HPA: %w", err)
	}
	if o.Lead <= 0 {
		o.Lead = o.Fleet.Startup + o.Fleet.StartupJitter + time.Minute
	}
	if len(o.Drains) == 0 {
		o.Drains = []DrainPolicy{policyOf(o.Fleet)}
	}
	o.Drains = slices.Clone(o.Drains)
	for i, d := range o.Drains {
		if err := d.apply(o.Fleet).validate(o.Step); err != nil {
			return nil, fmt.Errorf("drain %s: %w", d, err)
		}
		// As the replays report it: DrainNone has no grace period.
		d = policyOf(d.apply(o.Fleet))
		o.Drains[i] = d
		if slices.Contains(o.Drains[:i], d) {
			return nil, fmt.Errorf("drain %s is given twice", d)
		}
	}
	// Every replay but the comparison of drains scales down as the first.
	o.Fleet = o.Drains[0].apply(o.Fleet)
	rep := &Report{HPAs: hpas, Lead: o.Lead, Drains: o.Drains, Minutes: float64(len(o.Demand)) * o.Step.Minutes(), Warnings: slices.Clone(hpas.Warnings)}

	jobs, err := plan(o, hpas, modes)
	if err != nil {
		return nil, err
	}
	forecasts, err := forecastAndReplay(ctx, o, jobs)
	if err != nil {
		return nil, err
	}
	rep.Warnings = append(rep.Warnings, stuckWarnings(o, jobs)...)
	for _, k := range sortedKeys(forecasts, func(a, b forecastKey) int { return cmp.Compare(a.lead, b.lead) }) {
		if k.mode != ModePredictive {
			continue
		}
		share, first := forecasts[k].Active(o.Start, o.Step)
		switch {
		case share == 0:
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("predictive mode (lead %s): the predictor had no forecast at any time of the trace (%s of it; it needs a day of history, and a daily pattern once it has 3 days): predictive replays as reactive", k.lead, time.Duration(rep.Minutes*float64(time.Minute)).Round(time.Hour)))
		case share < 1:
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("predictive mode (lead %s): forecasts from %s on, %s of the refreshes (it needs a day of history, and stops where 3 days or more show no daily pattern); it is reactive otherwise", k.lead, first.UTC().Format("2006-01-02 15:04"), pct(share)))
		}
	}

	var asWritten *Result
	for _, j := range jobs {
		row := Row{Setting: j.point.String(), Result: j.res}
		if j.point == nil && j.mode == asWrittenMode(hpas) && j.res.Drain == o.Drains[0] {
			asWritten = j.res
		}
		switch {
		case j.mode == ModeOracle:
			rep.Oracle = j.res
		case j.hidden:
		case j.point == nil:
			rep.Rows = append(rep.Rows, row)
		default:
			rep.Sweep = append(rep.Sweep, row)
		}
	}
	if modes[ModeOracle] {
		rep.Rows = append(rep.Rows, Row{Result: rep.Oracle})
	}
	var offered int64
	if asWritten != nil {
		offered = asWritten.CallsOffered
	}
	rep.Frontier = frontierOf(frontierRows(rep), o.SLO.resolve(rep.Minutes, offered, asWritten))
	if len(o.Drains) > 1 {
		rep.Frontier.Verdict += fmt.Sprintf(" Settings are compared with drain %s, the first of the drain policies.", o.Drains[0])
	}
	return rep, nil
}

// asWrittenMode is the mode that replays the HPA as the operator wrote
// it: predictive when it has forecast metrics, else reactive.
func asWrittenMode(h *HPAs) string {
	if h.Added {
		return ModeReactive
	}
	return ModePredictive
}

// plan lists the replays: each mode with the HPA as written, then the grid
// (a reactive replay once per value of the settings it sees).
func plan(o Options, hpas *HPAs, modes map[string]bool) ([]*job, error) {
	reactive, predictive := o.Config, o.Config
	reactive.HPA, predictive.HPA = hpas.Reactive, hpas.Predictive
	base := func(mode string) Config {
		if mode == ModeReactive || mode == ModeOracle {
			return reactive
		}
		return predictive
	}
	if !modes[ModeReactive] && !modes[ModePredictive] && !modes[ModeForesight] && !modes[ModeOracle] {
		return nil, errors.New("no mode to run")
	}
	var jobs []*job
	for _, m := range []string{ModeReactive, ModePredictive, ModeForesight} {
		if !modes[m] {
			continue
		}
		for _, d := range o.Drains {
			cfg := base(m)
			cfg.Fleet = d.apply(cfg.Fleet)
			jobs = append(jobs, &job{mode: m, cfg: cfg, lead: o.Lead})
		}
	}
	if w := asWrittenMode(hpas); !modes[w] && o.SLO.AsWritten {
		if w == ModePredictive && o.Forecaster == nil {
			return nil, errors.New("the HPA as written has a forecast metric: the default SLO needs predictive mode's forecaster")
		}
		jobs = append(jobs, &job{mode: w, cfg: base(w), lead: o.Lead, hidden: true})
	}
	seen := map[string]bool{}
	for _, p := range Grid(o.Sweeps) {
		for _, m := range []string{ModeReactive, ModePredictive, ModeForesight} {
			if !modes[m] {
				continue
			}
			pt := p
			if m == ModeReactive {
				if pt = p.shared(); len(pt) == 0 || seen[pt.String()] {
					continue
				}
				seen[pt.String()] = true
			}
			cfg, lead, err := pt.apply(base(m), o.Lead)
			if err != nil {
				return nil, err
			}
			jobs = append(jobs, &job{mode: m, point: pt, cfg: cfg, lead: lead})
		}
	}
	for _, sw := range o.Sweeps {
		if forecastOnly(sw.Setting) && !modes[ModePredictive] && !modes[ModeForesight] {
			return nil, fmt.Errorf("sweep %s: it sets the forecast, which needs predictive or foresight mode", sw.Setting)
		}
	}
	// The oracle is cheap, and every row's pod-hours are compared with it.
	jobs = append(jobs, &job{mode: ModeOracle, cfg: reactive, hidden: !modes[ModeOracle]})
	return jobs, nil
}

// forecastKey names a forecast: of a mode, for a lead.
type forecastKey struct {
	mode string
	lead time.Duration
}

// forecastAndReplay computes the forecasts the jobs need, once per mode
// and lead, then runs the replays, all on every core.
func forecastAndReplay(ctx context.Context, o Options, jobs []*job) (map[forecastKey]*Forecast, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	progress := o.Progress
	if progress == nil {
		progress = func(string, float64) {}
	}
	type key = forecastKey
	forecasts := map[key]*Forecast{}
	for _, j := range jobs {
		if j.mode == ModePredictive || j.mode == ModeForesight {
			forecasts[key{j.mode, j.lead}] = nil
		}
	}
	progress("forecasting", 0)
	var mu sync.Mutex
	keys := sortedKeys(forecasts, func(a, b key) int { return strings.Compare(a.mode+a.lead.String(), b.mode+b.lead.String()) })
	err := parallel(ctx, len(keys), func(i int) error {
		k := keys[i]
		var f *Forecast
		var err error
		if k.mode == ModePredictive {
			f, err = Predict(ctx, o.Config, o.Forecaster, k.lead, o.Every)
		} else {
			f, err = Foresee(o.Config, k.lead, o.Every)
		}
		if err != nil {
			return fmt.Errorf("%s forecast, lead %s: %w", k.mode, k.lead, err)
		}
		mu.Lock()
		forecasts[k] = f
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}

	done := make([]atomic.Int64, len(jobs))
	var total int64
	for _, j := range jobs {
		total += int64(len(j.cfg.Demand))
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				var n int64
				for i := range done {
					n += done[i].Load()
				}
				progress("replaying", float64(n)/float64(total))
			}
		}
	}()
	return forecasts, parallel(ctx, len(jobs), func(i int) error {
		j := jobs[i]
		cfg := j.cfg
		cfg.Progress = func(d, _ int) { done[i].Store(int64(d)) }
		var err error
		switch j.mode {
		case ModeOracle:
			j.res, err = Oracle(cfg)
		case ModeReactive:
			j.res, err = Replay(ctx, cfg, nil)
		default:
			j.res, err = Replay(ctx, cfg, forecasts[key{j.mode, j.lead}])
		}
		done[i].Store(int64(len(cfg.Demand)))
		if err != nil {
			name := j.mode
			if j.point != nil {
				name = j.point.String() + " " + name
			}
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
}

// parallel runs f(0..n-1) on GOMAXPROCS goroutines and returns the first
// error, cancelling the rest through ctx's cancel by the caller.
func parallel(ctx context.Context, n int, f func(i int) error) error {
	var next atomic.Int64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for range min(n, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				errs[i] = f(i)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

func sortedKeys[K comparable, V any](m map[K]V, cmp func(a, b K) int) []K {
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, cmp)
	return ks
}

// stuckWarnings says which settings leave the HPA's load metrics unable to
// scale up.
func stuckWarnings(o Options, jobs []*job) []string {
	bySetting := map[string][]string{}
	var order []string
	for _, j := range jobs {
		if j.mode == ModeOracle || j.hidden {
			continue
		}
		spec, err := hpasim.Compile(j.cfg.HPA, j.cfg.Controller)
		if err != nil {
			continue
		}
		for _, s := range stuckTargets(spec, o.Fleet.Capacity) {
			name := settingName(j.point.String())
			if !slices.Contains(bySetting[s], name) {
				if bySetting[s] == nil {
					order = append(order, s)
				}
				bySetting[s] = append(bySetting[s], name)
			}
		}
	}
	var out []string
	for _, s := range order {
		out = append(out, fmt.Sprintf("%s: a pod carries at most %d, within the HPA's %s tolerance of the target, so this metric never scales the HPA up (keep its target below %s); at %s",
			s, o.Fleet.Capacity, pct(o.Controller.Tolerance), strconv.FormatFloat(math.Floor(float64(o.Fleet.Capacity)/(1+o.Controller.Tolerance)*10)/10, 'f', -1, 64), strings.Join(bySetting[s], ", ")))
	}
	return out
}
