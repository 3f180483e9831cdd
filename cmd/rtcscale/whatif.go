package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtcscale/rtcscale/hpasim"
	"github.com/rtcscale/rtcscale/predictor"
	"github.com/rtcscale/rtcscale/trace"
	"github.com/rtcscale/rtcscale/whatif"
)

// newForecaster builds the forecaster of predictive mode: rtcscale's
// predictor, observing the load every `every` and refitted every `refit`
// on the load observed so far. Tests swap in a double.
var newForecaster = func(every, refit time.Duration) whatif.Forecaster {
	return predictor.NewRolling(every, refit, predictor.Options{})
}

// runWhatif is `rtcscale whatif`: it replays a load trace through a
// simulation of the HPA given as a manifest, reactive as written, with
// rtcscale's forecast metric added, and against the oracle, and reports
// what each would have cost and missed.
func runWhatif(ctx context.Context, args []string) error {
	return whatifMain(ctx, args, os.Stdout, os.Stderr)
}

// whatifOptions are the command's flags.
type whatifOptions struct {
	trace, hpa, out, modes, sweep, title string
	history                              historySource
	peak                                 float64
	fleet                                whatif.Fleet
	ctrl                                 hpasim.Config
	initial                              int
	lead, every, refit, bucket           time.Duration
}

func whatifMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o whatifOptions
	fs := flag.NewFlagSet("whatif", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: rtcscale whatif --trace FILE --hpa MANIFEST [flags]")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.trace, "trace", "", "load trace: CSV of timestamp,value (date-time or unix seconds), read as concurrent calls")
	o.history.addFlags(fs)
	fs.Float64Var(&o.peak, "peak", 0, "scale the trace so that its peak is this many concurrent calls (0: as is)")
	fs.StringVar(&o.hpa, "hpa", "", "the autoscaling/v2 HorizontalPodAutoscaler manifest the operator would apply (YAML or JSON)")
	fs.IntVar(&o.fleet.Capacity, "capacity", 100, "calls (or participants) one pod can carry")
	fs.DurationVar(&o.fleet.Startup, "startup", 2*time.Minute, "time from pod creation to ready")
	fs.DurationVar(&o.fleet.StartupJitter, "startup-jitter", 0, "each pod's start-up is drawn uniformly within startup ± this")
	startupState := fs.String("startup-state", "missing", "how a starting pod shows to a Pods metric: missing (Running, no sample yet), pending, or zero (Running, not Ready, reports 0)")
	fs.DurationVar(&o.fleet.CallDuration, "call-duration", 3*time.Minute, "mean call duration")
	durations := fs.String("durations", "exp", "call duration distribution: exp or fixed")
	victims := fs.String("victims", "replicaset", "scale-down victims: replicaset (the ReplicaSet's default order) or deletion-cost (fewest calls first)")
	fs.DurationVar(&o.fleet.Grace, "grace", 30*time.Second, "termination grace period: a deleted pod's calls drain this long, then are cut")
	seed := fs.Uint64("seed", 1, "random seed; a replay is deterministic given it")
	fs.IntVar(&o.initial, "initial", 0, "replicas at the start (0: what the HPA's first metric asks for at the first sample)")
	fs.DurationVar(&o.ctrl.SyncPeriod, "sync-period", 15*time.Second, "kube-controller-manager --horizontal-pod-autoscaler-sync-period: the replay's step")
	fs.Float64Var(&o.ctrl.Tolerance, "tolerance", 0.1, "kube-controller-manager --horizontal-pod-autoscaler-tolerance")
	fs.DurationVar(&o.ctrl.DownscaleStabilization, "downscale-stabilization", 5*time.Minute, "kube-controller-manager --horizontal-pod-autoscaler-downscale-stabilization")
	fs.StringVar(&o.modes, "modes", "reactive,predictive,oracle", "modes to run, comma-separated")
	fs.DurationVar(&o.lead, "lead", 0, "how far ahead the forecast looks (0: start-up + jitter + 1m)")
	fs.DurationVar(&o.every, "forecast-every", time.Minute, "how often the forecaster observes the load and the forecast is refreshed (the predictor's history step)")
	fs.DurationVar(&o.refit, "refit", 24*time.Hour, "how often the predictor is refitted on the load observed so far (each fit costs up to a second on 5 weeks of minutes; the live adapter refits every 15m)")
	fs.StringVar(&o.sweep, "sweep", "", "compare settings in one table: target=V1,V2,..., lead=D1,D2,... or stabilization=D1,D2,...")
	fs.DurationVar(&o.bucket, "bucket", 30*time.Minute, "resolution of the timeline CSV and plots")
	fs.StringVar(&o.out, "out", "whatif-out", "directory for timeline.csv, plot.png, plot.svg, week.png and report.html (empty: none)")
	fs.StringVar(&o.title, "title", "", "report title (default: the trace's file name)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if (o.trace == "") == (o.history.url == "") || o.hpa == "" {
		fs.Usage()
		return errors.New("--hpa and one of --trace and --history are required")
	}
	var err error
	if o.fleet.StartupState, err = parseChoice(*startupState, "startup-state", map[string]whatif.StartupState{"missing": whatif.StartMissing, "pending": whatif.StartPending, "zero": whatif.StartZero}); err != nil {
		return err
	}
	if o.fleet.Durations, err = parseChoice(*durations, "durations", map[string]whatif.Durations{"exp": whatif.Exponential, "fixed": whatif.Fixed}); err != nil {
		return err
	}
	if o.fleet.Victims, err = parseChoice(*victims, "victims", map[string]whatif.Victims{"replicaset": whatif.ReplicaSetOrder, "deletion-cost": whatif.DeletionCost}); err != nil {
		return err
	}
	o.fleet.Seed = *seed
	if o.initial < 0 || o.initial > 1<<20 {
		return fmt.Errorf("--initial %d: want 0 or a replica count", o.initial)
	}
	if o.every < time.Second || o.every > 24*time.Hour || o.every%time.Second != 0 || o.lead < 0 || o.refit <= 0 {
		return fmt.Errorf("--forecast-every must be a whole number of seconds between 1s and 24h, --lead non-negative and --refit positive, got %s, %s and %s", o.every, o.lead, o.refit)
	}
	if o.lead == 0 {
		o.lead = o.fleet.Startup + o.fleet.StartupJitter + time.Minute
	}
	if o.title == "" {
		o.title = "What-if replay of " + o.source()
	}
	return replayAll(ctx, o, strings.Join(append([]string{"rtcscale whatif"}, args...), " "), stdout, stderr)
}

// source names the replay's load: the trace's file name, or the workload's
// recorded history.
func (o *whatifOptions) source() string {
	if o.trace != "" {
		return filepath.Base(o.trace)
	}
	return o.history.String()
}

func parseChoice[T any](v, flagName string, choices map[string]T) (T, error) {
	c, ok := choices[v]
	if !ok {
		names := make([]string, 0, len(choices))
		for k := range choices {
			names = append(names, k)
		}
		return c, fmt.Errorf("--%s %q: want one of %s", flagName, v, strings.Join(names, ", "))
	}
	return c, nil
}

// job is one replay to run.
type job struct {
	setting string
	cfg     whatif.Config
	pred    *whatif.Predictive // nil: reactive
	oracle  bool
	res     *whatif.Result
}

func replayAll(ctx context.Context, o whatifOptions, command string, stdout, stderr io.Writer) error {
	cfg, err := loadReplay(ctx, o)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, m := range strings.Split(o.modes, ",") {
		switch m = strings.TrimSpace(m); m {
		case "reactive", "predictive", "oracle":
			want[m] = true
		default:
			return fmt.Errorf("--modes: unknown mode %q (want reactive, predictive, oracle)", m)
		}
	}
	var pred *whatif.Predictive
	if want["predictive"] {
		every, refit := o.every, o.refit
		pred = &whatif.Predictive{New: func() whatif.Forecaster { return newForecaster(every, refit) }, Lead: o.lead, Every: every}
	}

	var jobs []*job
	add := func(setting string, c whatif.Config, p *whatif.Predictive) {
		if want["reactive"] && (setting == "" || !strings.HasPrefix(setting, whatif.SweepLead)) {
			jobs = append(jobs, &job{setting: setting, cfg: c})
		}
		if want["predictive"] {
			jobs = append(jobs, &job{setting: setting, cfg: c, pred: p})
		}
	}
	add("", cfg, pred)
	nMain := len(jobs)
	if o.sweep != "" {
		setting, values, err := whatif.ParseSweep(o.sweep)
		if err != nil {
			return err
		}
		for _, v := range values {
			c, p, err := whatif.Vary(cfg, pred, setting, v)
			if err != nil {
				return err
			}
			add(setting+"="+v, c, p)
		}
	}
	if want["oracle"] {
		jobs = append(jobs, &job{cfg: cfg, oracle: true})
	}
	if len(jobs) == 0 {
		return errors.New("no mode to run")
	}
	if err := runJobs(ctx, jobs, stderr); err != nil {
		return err
	}

	var rows, sweep []whatif.Row
	var oracle *whatif.Result
	for i, j := range jobs {
		switch {
		case j.oracle:
			oracle = j.res
			rows = append(rows, whatif.Row{Result: j.res})
		case i < nMain:
			rows = append(rows, whatif.Row{Result: j.res})
		default:
			sweep = append(sweep, whatif.Row{Setting: j.setting, Result: j.res})
		}
	}
	if err := whatif.WriteTable(stdout, rows, oracle); err != nil {
		return err
	}
	if len(sweep) > 0 {
		fmt.Fprintln(stdout)
		if err := whatif.WriteTable(stdout, sweep, oracle); err != nil {
			return err
		}
	}
	if o.out == "" {
		return nil
	}
	return writeOutputs(o, command, rows, sweep, oracle, stdout)
}

// maxSteps bounds a replay's length: ten years at 15 s, 170 MB of demand.
const maxSteps = 21_000_000

// loadReplay reads the trace (or the recorded history) and the HPA into a
// replay configuration.
func loadReplay(ctx context.Context, o whatifOptions) (whatif.Config, error) {
	var s trace.Series
	var err error
	if o.trace != "" {
		s, err = trace.ReadFile(o.trace)
	} else {
		s, err = o.history.read(ctx)
	}
	if err != nil {
		return whatif.Config{}, err
	}
	if o.peak < 0 {
		return whatif.Config{}, fmt.Errorf("--peak %v: want a positive number of calls, or 0", o.peak)
	}
	if o.peak > 0 {
		s = s.ScaleToPeak(o.peak)
	}
	if o.ctrl.SyncPeriod <= 0 {
		return whatif.Config{}, fmt.Errorf("--sync-period %s: want a positive duration", o.ctrl.SyncPeriod)
	}
	if steps := s[len(s)-1].T.Sub(s[0].T) / o.ctrl.SyncPeriod; steps > maxSteps {
		return whatif.Config{}, fmt.Errorf("the trace spans %d sync periods, more than the %d a replay holds; use a longer --sync-period or a shorter trace", steps, maxSteps)
	}
	demand, err := s.Resample(o.ctrl.SyncPeriod)
	if err != nil {
		return whatif.Config{}, err
	}
	f, err := os.Open(o.hpa)
	if err != nil {
		return whatif.Config{}, err
	}
	defer f.Close()
	h, err := hpasim.ReadHPA(f)
	if err != nil {
		return whatif.Config{}, fmt.Errorf("%s: %w", o.hpa, err)
	}
	if _, err := hpasim.Compile(h, o.ctrl); err != nil {
		return whatif.Config{}, fmt.Errorf("%s: %w", o.hpa, err)
	}
	return whatif.Config{
		Start:      s[0].T,
		Step:       o.ctrl.SyncPeriod,
		Demand:     demand,
		HPA:        h,
		Controller: o.ctrl,
		Fleet:      o.fleet,
		Initial:    int32(o.initial),
		Bucket:     o.bucket,
	}, nil
}

// runJobs runs the replays on all cores, with a progress bar on stderr
// when it is a terminal.
func runJobs(ctx context.Context, jobs []*job, stderr io.Writer) error {
	done := make([]atomic.Int64, len(jobs))
	var total int64
	for i, j := range jobs {
		total += int64(len(j.cfg.Demand))
		if !j.oracle {
			j.cfg.Progress = func(d, _ int) { done[i].Store(int64(d)) }
		}
	}
	stop := startProgress(stderr, func() float64 {
		var n int64
		for i := range done {
			n += done[i].Load()
		}
		return float64(n) / float64(total)
	})
	defer stop()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if j.oracle {
				j.res, errs[i] = whatif.Oracle(j.cfg)
				done[i].Store(int64(len(j.cfg.Demand)))
			} else {
				j.res, errs[i] = whatif.Replay(ctx, j.cfg, j.pred)
			}
			if errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("%s: %w", jobName(jobs[i]), err)
		}
	}
	return errors.Join(errs...)
}

func jobName(j *job) string {
	name := "reactive"
	switch {
	case j.oracle:
		name = "oracle"
	case j.pred != nil:
		name = "predictive"
	}
	if j.setting != "" {
		name = j.setting + " " + name
	}
	return name
}

// startProgress draws a progress bar on w, if it is a terminal, until the
// returned stop is called.
func startProgress(w io.Writer, fraction func() float64) (stop func()) {
	f, ok := w.(*os.File)
	if !ok {
		return func() {}
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return func() {}
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			const width = 40
			p := min(max(fraction(), 0), 1)
			n := int(p * width)
			fmt.Fprintf(w, "\rreplaying [%s%s] %3.0f%%", strings.Repeat("=", n), strings.Repeat(" ", width-n), 100*p)
			select {
			case <-quit:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(quit); <-finished }
}

// writeOutputs writes the timeline, the plots and the HTML report.
func writeOutputs(o whatifOptions, command string, rows, sweep []whatif.Row, oracle *whatif.Result, stdout io.Writer) error {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	var csv bytes.Buffer
	if err := whatif.WriteCSV(&csv, append(append([]whatif.Row(nil), rows...), sweep...)); err != nil {
		return err
	}
	files := map[string][]byte{"timeline.csv": csv.Bytes()}
	var full, fullSVG, week bytes.Buffer
	if err := whatif.Plot(&full, "png", o.title, rows, time.Time{}, time.Time{}); err != nil {
		return err
	}
	if err := whatif.Plot(&fullSVG, "svg", o.title, rows, time.Time{}, time.Time{}); err != nil {
		return err
	}
	from := busiestWeek(rows)
	weekTitle := fmt.Sprintf("%s, week of %s", o.title, from.Format("2006-01-02"))
	if err := whatif.Plot(&week, "png", weekTitle, rows, from, from.Add(7*24*time.Hour)); err != nil {
		return err
	}
	files["plot.png"], files["plot.svg"], files["week.png"] = full.Bytes(), fullSVG.Bytes(), week.Bytes()

	var html bytes.Buffer
	err := whatif.WriteHTML(&html, whatif.Report{
		Title:   o.title,
		Command: command,
		Params: [][2]string{
			{"trace", traceParam(o)},
			{"HPA", o.hpa},
			{"pods", fmt.Sprintf("%d calls each, start-up %s ± %s (%s while starting)", o.fleet.Capacity, o.fleet.Startup, o.fleet.StartupJitter, startupStateName(o.fleet.StartupState))},
			{"calls", fmt.Sprintf("mean %s, %s", o.fleet.CallDuration, map[whatif.Durations]string{whatif.Exponential: "exponential", whatif.Fixed: "fixed"}[o.fleet.Durations])},
			{"scale-down", fmt.Sprintf("%s victims, %s grace", map[whatif.Victims]string{whatif.ReplicaSetOrder: "ReplicaSet-order", whatif.DeletionCost: "pod-deletion-cost"}[o.fleet.Victims], o.fleet.Grace)},
			{"controller", fmt.Sprintf("sync %s, tolerance %g, downscale stabilization %s", o.ctrl.SyncPeriod, o.ctrl.Tolerance, o.ctrl.DownscaleStabilization)},
			{"predictive", fmt.Sprintf("lead %s, forecast every %s, refitted every %s", o.lead, o.every, o.refit)},
			{"seed", fmt.Sprint(o.fleet.Seed)},
		},
		Rows:    rows,
		Oracle:  oracle,
		Sweep:   sweep,
		Figures: []whatif.Figure{{Caption: "Whole trace: demand, capacity and replicas per mode (bucket means)", PNG: full.Bytes()}, {Caption: weekTitle, PNG: week.Bytes()}},
		CSV:     "timeline.csv",
	})
	if err != nil {
		return err
	}
	files["report.html"] = html.Bytes()
	for _, name := range []string{"timeline.csv", "plot.png", "plot.svg", "week.png", "report.html"} {
		path := filepath.Join(o.out, name)
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "wrote", path)
	}
	return nil
}

func traceParam(o whatifOptions) string {
	src := o.trace
	if src == "" {
		src = o.history.String()
	}
	if o.peak == 0 {
		return src + " (values as concurrent calls)"
	}
	return fmt.Sprintf("%s (scaled to a peak of %g calls)", src, o.peak)
}

func startupStateName(s whatif.StartupState) string {
	return map[whatif.StartupState]string{whatif.StartMissing: "missing", whatif.StartPending: "pending", whatif.StartZero: "zero"}[s]
}

// busiestWeek is the start (a midnight) of the week to zoom on: the one
// around the largest shortfall of any mode, else around the peak demand.
func busiestWeek(rows []whatif.Row) time.Time {
	var at time.Time
	worst, peak := 0.0, -1.0
	for _, r := range rows {
		for _, p := range r.Timeline {
			if short := p.Demand - p.Capacity; short > worst {
				worst, at = short, p.T
			}
			if worst == 0 && p.Demand > peak {
				peak, at = p.Demand, p.T
			}
		}
	}
	day := at.Truncate(24 * time.Hour)
	start := day.Add(-3 * 24 * time.Hour)
	if first := rows[0].Timeline[0].T; start.Before(first) {
		start = first.Truncate(24 * time.Hour)
	}
	return start
}
