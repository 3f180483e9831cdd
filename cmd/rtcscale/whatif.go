package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"
	cliflag "k8s.io/component-base/cli/flag"

	"github.com/rtcscale/rtcscale/hpasim"
	"github.com/rtcscale/rtcscale/predictor"
	"github.com/rtcscale/rtcscale/trace"
	"github.com/rtcscale/rtcscale/whatif"
)

// newForecaster builds the forecaster of predictive mode: rtcscale's
// predictor, refitted every refit on the load offered so far. Tests swap
// in a double.
var newForecaster = func(refit time.Duration) whatif.Forecaster {
	r := predictor.Rolling{Refit: refit}
	return whatif.ForecasterFunc(func(ctx context.Context, l whatif.Load, lead time.Duration) ([]float64, error) {
		return r.Forecast(ctx, l.Start, l.Step, l.Values, lead)
	})
}

// whatifOptions are the command's flags.
type whatifOptions struct {
	stdout, stderr io.Writer
	// command is the command line, for the report.
	command                       string
	trace, hpa, out, modes, title string
	maxShort, maxRejected         string
	sweeps                        sweepFlags
	// drains are the --drain flags as written: their policies take
	// --grace where they give no grace period, and it may come after.
	drains                     []string
	policies                   []whatif.DrainPolicy
	history                    historySource
	peak, p99                  float64
	fleet                      whatif.Fleet
	ctrl                       hpasim.Config
	initial                    int
	lead, every, refit, bucket time.Duration
}

// sweepFlags collects the repeated --sweep flag.
type sweepFlags []whatif.Sweep

func (s *sweepFlags) String() string { return fmt.Sprint(*s) }

func (s *sweepFlags) Type() string { return "sweep" }

func (s *sweepFlags) Set(v string) error {
	sw, err := whatif.ParseSweep(v)
	if err != nil {
		return err
	}
	for _, o := range *s {
		if o.Setting == sw.Setting {
			return fmt.Errorf("%s is swept twice", sw.Setting)
		}
	}
	*s = append(*s, sw)
	return nil
}

// whatifCommand is `rtcscale whatif`: it replays a load trace through a
// simulation of the HPA given as a manifest, reactive as written, with
// rtcscale's forecast metric added, and against the oracle, and reports
// what each would have cost and missed.
func whatifCommand(inv invocation) (cliflag.NamedFlagSets, func(context.Context, *pflag.FlagSet) error) {
	var fss cliflag.NamedFlagSets
	o := &whatifOptions{stdout: inv.stdout, stderr: inv.stderr, command: strings.Join(append([]string{"rtcscale whatif"}, inv.args...), " ")}
	fs := fss.FlagSet("whatif")
	fs.StringVar(&o.trace, "trace", "", "load trace: CSV of timestamp,value (date-time or unix seconds), read as concurrent calls")
	fs.Float64Var(&o.peak, "peak", 0, "scale the trace so that its peak is this many concurrent calls (0: as is)")
	fs.Float64Var(&o.p99, "p99", 0, "scale the trace so that its 99th percentile is this many concurrent calls, clipping it at 1.5 times that (0: as is; instead of --peak)")
	fs.StringVar(&o.hpa, "hpa", "", "the autoscaling/v2 HorizontalPodAutoscaler manifest the operator would apply (YAML or JSON)")
	fs.StringVar(&o.modes, "modes", "reactive,predictive,foresight,oracle", "modes to run, comma-separated: reactive (the HPA without its forecast metrics), predictive (with rtcscale's forecast), foresight (with a perfect forecast: the ceiling of any forecast) and oracle (the fewest pods that never fall short)")
	fs.Uint64Var(&o.fleet.Seed, "seed", 1, "random seed; a replay is deterministic given it")
	fs.IntVar(&o.initial, "initial", 0, "replicas at the start (0: what the HPA's first metric asks for at the first sample)")
	fs.DurationVar(&o.bucket, "bucket", 30*time.Minute, "resolution of the timeline CSV and plots")
	fs.StringVar(&o.out, "out", "whatif-out", "directory for timeline.csv, summary.json, plot.png, plot.svg, week.png, frontier.png, frontier.svg and report.html (empty: none)")
	fs.StringVar(&o.title, "title", "", "report title (default: the trace's file name)")
	fleet := fss.FlagSet("fleet")
	fleet.IntVar(&o.fleet.Capacity, "capacity", 100, "calls (or participants) one pod can carry")
	fleet.DurationVar(&o.fleet.Startup, "startup", 2*time.Minute, "time from pod creation to ready")
	fleet.DurationVar(&o.fleet.StartupJitter, "startup-jitter", 0, "each pod's start-up is drawn uniformly within startup ± this")
	fleet.Var(choice[whatif.StartupState]{&o.fleet.StartupState, []whatif.StartupState{whatif.StartMissing, whatif.StartPending, whatif.StartZero}}, "startup-state", "how a starting pod shows to a Pods metric: missing (Running, no sample yet), pending, or zero (Running, not Ready, reports 0)")
	fleet.DurationVar(&o.fleet.CallDuration, "call-duration", 3*time.Minute, "mean call duration")
	fleet.Var(choice[whatif.Durations]{&o.fleet.Durations, []whatif.Durations{whatif.Exponential, whatif.Fixed}}, "durations", "call duration distribution: exponential (exp) or every call lasting the mean (fixed)")
	fleet.Var(choice[whatif.Victims]{&o.fleet.Victims, []whatif.Victims{whatif.ReplicaSetOrder, whatif.DeletionCost}}, "victims", "scale-down victims: replicaset (the ReplicaSet's default order) or deletion-cost (fewest calls first)")
	fleet.DurationVar(&o.fleet.Grace, "grace", 30*time.Second, "termination grace period: a deleted pod's calls drain this long, then are cut (the grace of a --drain policy that gives none)")
	fleet.Func("drain", "scale-down drain `policies` to compare, comma-separated or repeated, each replayed with the HPA as written in every mode: none (no preStop: the calls of a deleted pod are cut at once), sleep[=GRACE] (preStop sleep: no new call, the pod runs to the end of its grace period, then its calls are cut) or until-empty[=GRACE] (no new call, the pod exits after its last call, within its grace period); GRACE defaults to --grace; the first is the sweep's and the frontier's (default until-empty)", func(v string) error {
		o.drains = append(o.drains, v)
		return nil
	})
	controller := fss.FlagSet("controller")
	controller.DurationVar(&o.ctrl.SyncPeriod, "sync-period", 15*time.Second, "kube-controller-manager --horizontal-pod-autoscaler-sync-period: the replay's step")
	controller.Float64Var(&o.ctrl.Tolerance, "tolerance", 0.1, "kube-controller-manager --horizontal-pod-autoscaler-tolerance")
	controller.DurationVar(&o.ctrl.DownscaleStabilization, "downscale-stabilization", 5*time.Minute, "kube-controller-manager --horizontal-pod-autoscaler-downscale-stabilization")
	forecast := fss.FlagSet("forecast")
	forecast.DurationVar(&o.lead, "lead", 0, "how far ahead the forecast looks (0: start-up + jitter + 1m)")
	forecast.DurationVar(&o.every, "forecast-every", time.Minute, "how often the forecaster samples the load and the forecast is refreshed (the predictor's history step)")
	forecast.DurationVar(&o.refit, "refit", 15*time.Minute, "how often the predictor is refitted on the load offered so far, as the live adapter does every 15m (a replay costs the same whatever the period)")
	sweep := fss.FlagSet("sweep")
	sweep.Var(&o.sweeps, "sweep", "replay a grid of settings beside the HPA as written, repeatable: target=V1,V2,... (every metric's target), forecast-target=V1,... (the forecast metrics' alone), lead=D1,D2,... or stabilization=D1,D2,...; a,b,...,z is a progression (target=50,55,...,115)")
	sweep.StringVar(&o.maxShort, "max-short", "", "the SLO the frontier holds every setting to: at most this many minutes short of capacity, as a share of the trace's minutes (0.1%), minutes (300) or a duration (5h); default: as reliable as the HPA as written")
	sweep.StringVar(&o.maxRejected, "max-rejected", "", "the SLO as rejected calls: a share of the calls offered (0.01%) or a number of calls; with --max-short, both must hold")
	o.history.addFlags(fss.FlagSet("history"))
	return fss, o.run
}

func (o *whatifOptions) run(ctx context.Context, fs *pflag.FlagSet) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if (o.trace == "") == (o.history.url == "") || o.hpa == "" {
		return errors.New("--hpa and one of --trace and --history are required")
	}
	var err error
	if len(o.drains) > 0 {
		if o.policies, err = whatif.ParseDrains(strings.Join(o.drains, ","), o.fleet.Grace); err != nil {
			return fmt.Errorf("--%w", err)
		}
	}
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
	return replayAll(ctx, *o, o.command, o.stdout, o.stderr)
}

// source names the replay's load: the trace's file name, or the workload's
// recorded history.
func (o *whatifOptions) source() string {
	if o.trace != "" {
		return filepath.Base(o.trace)
	}
	return o.history.String()
}

// choice is a flag whose value is one of all, named by its String.
type choice[T fmt.Stringer] struct {
	v   *T
	all []T
}

func (c choice[T]) String() string {
	if c.v == nil {
		return ""
	}
	return (*c.v).String()
}

func (c choice[T]) Set(s string) error {
	for _, x := range c.all {
		if x.String() == s {
			*c.v = x
			return nil
		}
	}
	return fmt.Errorf("want one of %s", c.Type())
}

// Type lists the choices, for --help.
func (c choice[T]) Type() string {
	names := make([]string, len(c.all))
	for i, x := range c.all {
		names[i] = x.String()
	}
	return strings.Join(names, "|")
}

// replayAll runs the replays and writes the table, the verdict and the
// files.
func replayAll(ctx context.Context, o whatifOptions, command string, stdout, stderr io.Writer) error {
	cfg, err := loadReplay(ctx, o)
	if err != nil {
		return err
	}
	var modes []string
	for _, m := range strings.Split(o.modes, ",") {
		modes = append(modes, strings.TrimSpace(m))
	}
	slo, err := whatif.ParseSLO(o.maxShort, o.maxRejected)
	if err != nil {
		return err
	}
	var stage atomic.Value
	stage.Store("")
	var done atomic.Uint64
	stop := startProgress(stderr, func() (string, float64) {
		return stage.Load().(string), math.Float64frombits(done.Load())
	})
	rep, err := whatif.Run(ctx, whatif.Options{
		Config: cfg, Modes: modes, Sweeps: o.sweeps, Drains: o.policies, Lead: o.lead, Every: o.every,
		Forecaster: newForecaster(o.refit), SLO: slo,
		Progress: func(s string, d float64) { stage.Store(s); done.Store(math.Float64bits(d)) },
	})
	stop()
	if err != nil {
		return err
	}
	for _, w := range rep.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if err := rep.WriteText(stdout); err != nil {
		return err
	}
	if o.out == "" {
		return nil
	}
	paths, err := rep.WriteFiles(o.out, whatif.Presentation{Title: o.title, Command: command, Params: params(o, rep)})
	for _, p := range paths {
		fmt.Fprintln(stdout, "wrote", p)
	}
	return err
}

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
	f, err := os.Open(o.hpa)
	if err != nil {
		return whatif.Config{}, err
	}
	defer f.Close()
	return whatif.NewConfig(whatif.Input{
		Series: s, Peak: o.peak, P99: o.p99, HPA: f, HPAName: o.hpa,
		Controller: o.ctrl, Fleet: o.fleet, Initial: int32(o.initial), Bucket: o.bucket,
	})
}

// startProgress draws a progress bar on w, if it is a terminal, until the
// returned stop is called.
func startProgress(w io.Writer, state func() (stage string, done float64)) (stop func()) {
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
			stage, p := state()
			p = min(max(p, 0), 1)
			n := int(p * width)
			fmt.Fprintf(w, "\r%-11s [%s%s] %3.0f%%", stage, strings.Repeat("=", n), strings.Repeat(" ", width-n), 100*p)
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

// params are the replay's settings as the report lists them.
func params(o whatifOptions, rep *whatif.Report) [][2]string {
	return [][2]string{
		{"trace", traceParam(o)},
		{"HPA", o.hpa},
		{"pods", fmt.Sprintf("%d calls each, start-up %s ± %s (%s while starting)", o.fleet.Capacity, o.fleet.Startup, o.fleet.StartupJitter, o.fleet.StartupState)},
		{"calls", fmt.Sprintf("mean %s, %s durations", o.fleet.CallDuration, o.fleet.Durations)},
		{"scale-down", fmt.Sprintf("%s victims; drain %s", o.fleet.Victims, drainsParam(rep.Drains))},
		{"controller", fmt.Sprintf("sync %s, tolerance %g, downscale stabilization %s", o.ctrl.SyncPeriod, o.ctrl.Tolerance, o.ctrl.DownscaleStabilization)},
		{"forecast", fmt.Sprintf("lead %s, refreshed every %s, refitted every %s; metric %s", rep.Lead, o.every, o.refit, forecastMetricNote(rep.HPAs))},
		{"SLO", rep.Frontier.Budget.Text},
		{"seed", fmt.Sprint(o.fleet.Seed)},
	}
}

func drainsParam(ds []whatif.DrainPolicy) string {
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = d.String()
	}
	return strings.Join(names, ", ")
}

func forecastMetricNote(h *whatif.HPAs) string {
	if h.Added {
		return h.Gauge + whatif.ForecastSuffix + " added as an Object metric with the target of the HPA's first metric"
	}
	return "as written in the HPA"
}

func traceParam(o whatifOptions) string {
	src := o.trace
	if src == "" {
		src = o.history.String()
	}
	switch {
	case o.peak > 0:
		return fmt.Sprintf("%s (scaled to a peak of %g calls)", src, o.peak)
	case o.p99 > 0:
		return fmt.Sprintf("%s (clipped at 1.5 times its 99th percentile, scaled to a 99th percentile of %g calls)", src, o.p99)
	}
	return src + " (values as concurrent calls)"
}
