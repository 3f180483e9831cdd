package whatif

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"

	"github.com/rtcscale/rtcscale/hpasim"
)

// yesterday is a test forecaster: the load a day before over the lead, and
// nothing in the first day.
var yesterday = ForecasterFunc(func(_ context.Context, l Load, lead time.Duration) ([]float64, error) {
	day, ahead := int(24*time.Hour/l.Step), int(lead/l.Step)
	out := make([]float64, len(l.Values))
	for i := range out {
		out[i] = math.NaN()
		for j := i; j <= i+ahead && i >= day; j++ {
			if v := l.Values[j-day]; math.IsNaN(out[i]) || v > out[i] {
				out[i] = v
			}
		}
	}
	return out, nil
})

func runOptions(t *testing.T, days int) Options {
	cfg := testConfig(t, daily(days, 200, 3000, 2))
	cfg.Fleet.Startup = 5 * time.Minute
	return Options{Config: cfg, Forecaster: yesterday, Sweeps: []Sweep{{SweepTarget, []string{"50", "70", "85"}}}, SLO: SLO{MaxShort: 0.001, ShortShare: true, MaxRejected: -1}}
}

func TestRunFrontier(t *testing.T) {
	rep, err := Run(context.Background(), runOptions(t, 4))
	if err != nil {
		t.Fatal(err)
	}
	var modes []string
	for _, r := range rep.Rows {
		modes = append(modes, r.Mode)
	}
	if strings.Join(modes, ",") != "reactive,predictive,foresight,oracle" {
		t.Fatalf("rows %v", modes)
	}
	if len(rep.Sweep) != 9 {
		t.Fatalf("%d sweep rows, want 3 targets × 3 modes", len(rep.Sweep))
	}
	byKey := map[string]*Result{}
	for _, r := range rep.Sweep {
		byKey[r.Setting+" "+r.Mode] = r.Result
	}
	// A perfect forecast is never short where reactive is, at any target,
	// and costs more than the oracle.
	for _, target := range []string{"50", "70", "85"} {
		re, fs := byKey["target="+target+" reactive"], byKey["target="+target+" foresight"]
		if fs.MinutesShort > re.MinutesShort || fs.PodHours < rep.Oracle.PodHours {
			t.Errorf("target %s: foresight %+v, reactive %+v", target, fs.Summary, re.Summary)
		}
	}
	f := rep.Frontier
	for mode, c := range f.Cheapest {
		if !f.Budget.meets(c.Result) {
			t.Errorf("%s's cheapest %s is not within the budget", mode, c.Setting)
		}
		for _, r := range append(rep.Rows, rep.Sweep...) {
			if r.Mode == mode && f.Budget.meets(r.Result) && r.PodHours < c.PodHours {
				t.Errorf("%s: %s is cheaper than the cheapest %s", mode, r.Setting, c.Setting)
			}
		}
	}
	fs, ok := f.Cheapest[ModeForesight]
	re, okR := f.Cheapest[ModeReactive]
	if !ok || !okR || !(f.Ceiling > 0) || math.Abs(f.Ceiling-(1-fs.PodHours/re.PodHours)) > 1e-12 {
		t.Fatalf("frontier %+v", f)
	}
	if !strings.HasPrefix(f.Verdict, "For at most 5.8 minutes short (0.1% of the trace's 5,760 minutes), ") || !strings.Contains(f.Verdict, "a perfect forecast (foresight, ") {
		t.Fatalf("verdict %q", f.Verdict)
	}
	// The forecast starts on the second day: the replay says so.
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "forecasts from 2025-03-04 00:00 on") {
		t.Fatalf("warnings %q", rep.Warnings)
	}
	recs := rep.Records()
	if len(recs) != len(rep.Rows)+len(rep.Sweep) {
		t.Fatalf("%d records for %d rows", len(recs), len(rep.Rows)+len(rep.Sweep))
	}
	cheapest := 0
	for _, r := range recs {
		if r.VsOracle == nil || (r.Offered == 0 && r.Mode != ModeOracle) {
			t.Fatalf("record %+v", r)
		}
		if r.Cheapest {
			cheapest++
			if !r.WithinSLO {
				t.Fatalf("cheapest %+v outside the SLO", r)
			}
		}
	}
	if cheapest != len(f.Cheapest) {
		t.Fatalf("%d records marked cheapest, %d modes have one", cheapest, len(f.Cheapest))
	}
}

// TestRunSharesForecasts: a target sweep computes the forecast once per
// lead, whatever the number of targets.
func TestRunSharesForecasts(t *testing.T) {
	o := runOptions(t, 2)
	var calls atomic.Int32 // forecasts of different leads run at once
	o.Forecaster = ForecasterFunc(func(ctx context.Context, l Load, lead time.Duration) ([]float64, error) {
		calls.Add(1)
		return yesterday(ctx, l, lead)
	})
	o.Modes = []string{ModeReactive, ModePredictive}
	o.Sweeps = append(o.Sweeps, Sweep{SweepLead, []string{"6m", "12m"}})
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	// The lead as written (start-up + 1m = 6m) and 12m.
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d forecasts for 2 leads", n)
	}
	// 3 targets for reactive (the lead is not its), 6 points for predictive.
	if len(rep.Sweep) != 3+6 {
		t.Fatalf("%d sweep rows", len(rep.Sweep))
	}
}

// TestRunReadsTheShippedHPA: the deploy/examples HPA, which has calls and
// calls_forecast, is replayed as written in predictive mode and without its
// forecast metric in reactive mode.
func TestRunReadsTheShippedHPA(t *testing.T) {
	o := runOptions(t, 2)
	o.HPA = readHPA(t, "../deploy/examples/hpa-asterisk.yaml")
	o.Sweeps = nil
	o.SLO = SLO{AsWritten: true, MaxShort: -1, MaxRejected: -1}
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	h := rep.HPAs
	if h.Added || h.Gauge != "calls" || len(h.Reactive.Spec.Metrics) != 1 || len(h.Predictive.Spec.Metrics) != 2 {
		t.Fatalf("HPAs %+v", h)
	}
	// Reactive mode is the HPA without its forecast metric: the same
	// replay as that HPA written so.
	cfg := o.Config
	cfg.HPA = o.HPA.DeepCopy()
	cfg.HPA.Spec.Metrics = cfg.HPA.Spec.Metrics[:1]
	want, err := Replay(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows[0].Summary != want.Summary {
		t.Fatalf("reactive %+v, want %+v", rep.Rows[0].Summary, want.Summary)
	}
	// The HPA as written is predictive: the default SLO is its reliability.
	if p := rep.Rows[1]; p.Mode != ModePredictive || rep.Frontier.Budget.MaxShort != p.MinutesShort || !strings.Contains(rep.Frontier.Budget.Text, "as the HPA as written (predictive)") {
		t.Fatalf("budget %+v for predictive %+v", rep.Frontier.Budget, p.Summary)
	}
	// A forecast metric served as the adapter serves it: with no
	// forecast at all, the current sum.
	noForecast := o
	noForecast.Forecaster = ForecasterFunc(func(_ context.Context, l Load, _ time.Duration) ([]float64, error) {
		out := make([]float64, len(l.Values))
		for i := range out {
			out[i] = math.NaN()
		}
		return out, nil
	})
	noForecast.Modes = []string{ModePredictive}
	rep2, err := Run(context.Background(), noForecast)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HPA = o.HPA
	asWritten, err := Replay(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Rows[0].Summary != asWritten.Summary {
		t.Fatalf("predictive without a forecast %+v, the HPA as written reading the sum %+v", rep2.Rows[0].Summary, asWritten.Summary)
	}
	if len(rep2.Warnings) != 1 || !strings.Contains(rep2.Warnings[0], "no forecast at any time") {
		t.Fatalf("warnings %q", rep2.Warnings)
	}
}

func TestSplitHPA(t *testing.T) {
	base := readHPA(t, "testdata/kamailio-hpa.yaml")
	ctrl := hpasim.DefaultConfig()
	named := func(name string, kind autoscalingv2.MetricSourceType) *autoscalingv2.HorizontalPodAutoscaler {
		h := base.DeepCopy()
		m := &h.Spec.Metrics[0]
		switch kind {
		case autoscalingv2.PodsMetricSourceType:
			m.Pods.Metric.Name = name
		case autoscalingv2.ObjectMetricSourceType:
			m.Type, m.Object = kind, &autoscalingv2.ObjectMetricSource{
				DescribedObject: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "sip"},
				Metric:          autoscalingv2.MetricIdentifier{Name: name},
				Target:          autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: m.Pods.Target.AverageValue},
			}
			m.Pods = nil
		}
		return h
	}
	h, err := SplitHPA(base, ctrl)
	if err != nil || !h.Added || len(h.Warnings) != 0 || h.Gauge != "calls" {
		t.Fatalf("%+v %v", h, err)
	}
	added := h.Predictive.Spec.Metrics[1].Object
	if added.Metric.Name != "calls_forecast" || added.Target.AverageValue.String() != "80" || added.DescribedObject.Name != "sip" || len(base.Spec.Metrics) != 1 {
		t.Fatalf("added %+v", added)
	}
	for name, want := range map[string]string{
		"rtcscale_calls": "no rtcscale sidecar publishes a gauge of that name",
		"bitrate_in":     "is in bit/s",
	} {
		h, err := SplitHPA(named(name, autoscalingv2.PodsMetricSourceType), ctrl)
		if err != nil || len(h.Warnings) != 1 || !strings.Contains(h.Warnings[0], want) {
			t.Errorf("%s: %v %q", name, err, h.Warnings)
		}
	}
	for name, h := range map[string]*autoscalingv2.HorizontalPodAutoscaler{
		"a Pods forecast":    named("calls_forecast", autoscalingv2.PodsMetricSourceType),
		"an _avg":            named("calls_avg", autoscalingv2.ObjectMetricSourceType),
		"only a forecast":    named("calls_forecast", autoscalingv2.ObjectMetricSourceType),
		"a metric of no HPA": nil,
	} {
		if _, err := SplitHPA(h, ctrl); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestRunRejects(t *testing.T) {
	for name, mod := range map[string]func(*Options){
		"unknown mode":           func(o *Options) { o.Modes = []string{"psychic"} },
		"predictive, no model":   func(o *Options) { o.Forecaster = nil },
		"lead without forecasts": func(o *Options) { o.Modes = []string{ModeReactive}; o.Sweeps = []Sweep{{SweepLead, []string{"5m"}}} },
		"bad sweep value":        func(o *Options) { o.Sweeps = []Sweep{{SweepTarget, []string{"-3"}}} },
		"no HPA":                 func(o *Options) { o.HPA = nil },
		"odd refresh":            func(o *Options) { o.Every = 20 * time.Second },
	} {
		o := runOptions(t, 1)
		mod(&o)
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseSLO(t *testing.T) {
	for in, want := range map[[2]string]SLO{
		{"0.1%", ""}:  {MaxShort: 0.001, ShortShare: true, MaxRejected: -1},
		{"300", ""}:   {MaxShort: 300, MaxRejected: -1},
		{"5h", ""}:    {MaxShort: 300, MaxRejected: -1},
		{"", "0.01%"}: {MaxShort: -1, MaxRejected: 0.0001, RejectedShare: true},
		{"", "1000"}:  {MaxShort: -1, MaxRejected: 1000},
		{"", ""}:      {MaxShort: -1, MaxRejected: -1, AsWritten: true},
	} {
		got, err := ParseSLO(in[0], in[1])
		if err != nil || math.Abs(got.MaxShort-want.MaxShort) > 1e-12 || math.Abs(got.MaxRejected-want.MaxRejected) > 1e-12 || got.ShortShare != want.ShortShare || got.RejectedShare != want.RejectedShare || got.AsWritten != want.AsWritten {
			t.Errorf("%q: %+v %v, want %+v", in, got, err, want)
		}
	}
	for _, bad := range [][2]string{{"-1", ""}, {"150%", ""}, {"soon", ""}, {"", "5h"}, {"", "x%"}} {
		if _, err := ParseSLO(bad[0], bad[1]); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestVerdicts(t *testing.T) {
	res := func(mode string, podHours, short float64) Row {
		return Row{Setting: "target=" + mode, Result: &Result{Mode: mode, Summary: Summary{PodHours: podHours, MinutesShort: short}}}
	}
	b := Budget{MaxShort: 10, MaxRejected: math.Inf(1), Text: "at most 10 minutes short"}
	for _, c := range []struct {
		rows []Row
		want string
	}{
		{[]Row{res(ModeReactive, 100, 5), res(ModePredictive, 80, 5), res(ModeForesight, 60, 0)},
			"the cheapest reactive setting is target=reactive at 100 pod-hours and the cheapest predictive setting is target=predictive at 80 pod-hours: the forecast saves 20.0% of pod-hours; a perfect forecast (foresight, target=foresight) would save 40.0%, so rtcscale's forecast captures 50.0% of what forecasting can give here."},
		{[]Row{res(ModeReactive, 100, 5), res(ModePredictive, 110, 5)},
			"the forecast costs 10.0% more pod-hours."},
		{[]Row{res(ModeReactive, 100, 50), res(ModePredictive, 110, 5)},
			"no reactive setting meets it and the cheapest predictive setting is target=predictive at 110 pod-hours: only the forecast meets it."},
		{[]Row{res(ModeReactive, 100, 50), res(ModeForesight, 90, 50)},
			"no reactive setting meets it; not even a perfect forecast (foresight) meets it with this HPA."},
	} {
		if v := frontierOf(c.rows, b).Verdict; !strings.HasPrefix(v, "For at most 10 minutes short, ") || !strings.HasSuffix(v, c.want) {
			t.Errorf("verdict %q, want it to end %q", v, c.want)
		}
	}
}

func TestWriteFiles(t *testing.T) {
	o := runOptions(t, 2)
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	paths, err := rep.WriteFiles(dir, Presentation{Title: "test", Command: "rtcscale whatif"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	if strings.Join(names, " ") != "timeline.csv plot.png plot.svg week.png summary.json frontier.png frontier.svg report.html" {
		t.Fatalf("files %v", names)
	}
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	if err := json.Unmarshal(b, &recs); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"setting", "mode", "pod_hours", "vs_oracle", "minutes_short", "call_minutes_short", "rejected", "cut", "scale_events", "drain", "grace_seconds", "pods_deleted", "draining_pod_hours", "longest_drain_seconds"} {
		if _, ok := recs[0][k]; !ok {
			t.Fatalf("summary.json lacks %s: %v", k, recs[0])
		}
	}
	html, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	if !strings.Contains(string(html), `<p id="verdict">`) || strings.Count(string(html), "data:image/png;base64,") != 3 {
		t.Fatal("the report lacks the verdict or a figure")
	}
}
