package whatif

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"

	"github.com/rtcscale/rtcscale/hpasim"
	"github.com/rtcscale/rtcscale/trace"
)

var start = time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)

func readHPA(t testing.TB, path string) *autoscalingv2.HorizontalPodAutoscaler {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := hpasim.ReadHPA(f)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// daily is a synthetic day-shaped demand: a trough of lo and a peak of hi
// calls, with ramps of rampHours, for days days at 15 s steps.
func daily(days int, lo, hi, rampHours float64) []float64 {
	perDay := int(24 * time.Hour / step)
	d := make([]float64, days*perDay)
	for i := range d {
		h := float64(i%perDay) * step.Hours()
		var f float64
		switch {
		case h < 7:
		case h < 7+rampHours:
			f = (h - 7) / rampHours
		case h < 18:
			f = 1
		case h < 18+rampHours:
			f = 1 - (h-18)/rampHours
		}
		d[i] = lo + f*(hi-lo)
	}
	return d
}

func testConfig(t testing.TB, demand []float64) Config {
	return Config{
		Start:      start,
		Step:       step,
		Demand:     demand,
		HPA:        readHPA(t, "testdata/kamailio-hpa.yaml"),
		Controller: hpasim.DefaultConfig(),
		Fleet:      Fleet{Capacity: 100, Startup: 2 * time.Minute, CallDuration: 3 * time.Minute, Grace: 30 * time.Second, Seed: 1},
	}
}

func TestReplayDeterministic(t *testing.T) {
	cfg := testConfig(t, daily(2, 200, 3000, 0.5))
	a, err := Replay(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Replay(context.Background(), cfg, nil)
	if a.Summary != b.Summary || len(a.Timeline) != len(b.Timeline) || a.Timeline[40] != b.Timeline[40] {
		t.Fatalf("same seed, different replays:\n%+v\n%+v", a.Summary, b.Summary)
	}
	cfg.Fleet.Seed = 2
	c, _ := Replay(context.Background(), cfg, nil)
	if c.Summary == a.Summary {
		t.Fatal("a different seed changed nothing")
	}
	if a.CallsOffered < 100000 || a.ScaleEvents == 0 || a.PodHours <= 0 {
		t.Fatalf("implausible replay: %+v", a.Summary)
	}
	if len(a.Timeline) != 96 {
		t.Fatalf("%d timeline buckets for two days at 30 min", len(a.Timeline))
	}
}

// foreseen is cfg with the forecast metric added, and the foresight
// forecast of lead that it reads.
func foreseen(tb testing.TB, cfg Config, lead time.Duration) (Config, *Forecast) {
	tb.Helper()
	p := cfg
	p.HPA = withForecast(cfg.HPA, cfg.HPA.Spec.Metrics[0], "calls")
	fc, err := Foresee(p, lead, time.Minute)
	if err != nil {
		tb.Fatal(err)
	}
	return p, fc
}

// TestPredictiveScalesAhead: a steep morning ramp catches the reactive HPA
// short; the same HPA with a perfect forecast of the lead is not, and the
// oracle bounds both from below.
func TestPredictiveScalesAhead(t *testing.T) {
	cfg := testConfig(t, daily(3, 100, 4000, 0.25))
	reactive, err := Replay(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, fc := foreseen(t, cfg, 3*time.Minute)
	predictive, err := Replay(context.Background(), p, fc)
	if err != nil {
		t.Fatal(err)
	}
	oracle, err := Oracle(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if reactive.CallMinutesShort == 0 {
		t.Fatalf("the ramp should catch the reactive HPA short: %+v", reactive.Summary)
	}
	if predictive.CallMinutesShort >= reactive.CallMinutesShort/4 {
		t.Fatalf("predictive short %.0f call-minutes, reactive %.0f", predictive.CallMinutesShort, reactive.CallMinutesShort)
	}
	if oracle.PodHours >= reactive.PodHours || oracle.PodHours >= predictive.PodHours || oracle.CallMinutesShort != 0 {
		t.Fatalf("oracle %+v not below reactive %+v and predictive %+v", oracle.Summary, reactive.Summary, predictive.Summary)
	}
	// Refreshed once a minute over three days.
	if fc.Every != 4 || len(fc.Values) != 3*24*60 {
		t.Fatalf("forecast refreshed every %d steps, %d values", fc.Every, len(fc.Values))
	}
	if predictive.Mode != ModeForesight || reactive.Mode != ModeReactive || oracle.Mode != ModeOracle {
		t.Fatal("modes mislabelled")
	}
}

// TestShortfallAccounting: with maxReplicas pinned, a step in demand gives
// a shortfall that can be computed by hand.
func TestShortfallAccounting(t *testing.T) {
	demand := make([]float64, 40)
	for i := range demand {
		demand[i] = 150
		if i >= 20 {
			demand[i] = 450 // 250 over the 2 pods' 200 for 20 steps
		}
	}
	cfg := testConfig(t, demand)
	h := cfg.HPA.DeepCopy()
	h.Spec.MaxReplicas = 2
	cfg.HPA = h
	r, err := Replay(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.MinutesShort != 5 || r.CallMinutesShort != 250*5 || r.WorstShortfall != 250 {
		t.Fatalf("%+v", r.Summary)
	}
	if r.CallsRejected == 0 {
		t.Fatal("no call rejected while 250 calls over capacity")
	}
	// 2 pods for 40 steps of 15 s.
	if r.PodHours != 2*40*15.0/3600 {
		t.Fatalf("pod-hours %v", r.PodHours)
	}
}

func TestOracleWindow(t *testing.T) {
	cfg := testConfig(t, []float64{100, 100, 100, 100, 350, 100, 100, 100, 100, 100, 100, 100})
	cfg.Fleet.Startup = 30 * time.Second // two steps
	cfg.Bucket = step                    // one bucket per step
	o, err := Oracle(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The HPA's minReplicas is 2; the 4 pods needed at step 4 exist from
	// step 2 on.
	want := []float64{2, 2, 4, 4, 4, 2, 2, 2, 2, 2, 2, 2}
	for i, p := range o.Timeline {
		if p.Pods != want[i] {
			t.Fatalf("pods %v, want %v", o.Timeline, want)
		}
	}
	if o.ScaleEvents != 2 || o.PodHours != 30*15.0/3600 {
		t.Fatalf("%+v", o.Summary)
	}
}

// TestReplayStepsDoNotAllocate: the per-step path allocates nothing, so a
// replay of twice the steps allocates no more (bar the timeline's buckets
// and the fleet's growth, which a trace of constant shape fixes).
func TestReplayStepsDoNotAllocate(t *testing.T) {
	allocs := func(days int) float64 {
		cfg := testConfig(t, daily(days, 200, 3000, 1))
		cfg.Bucket = 24 * time.Hour
		return testing.AllocsPerRun(3, func() {
			if _, err := Replay(context.Background(), cfg, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
	one, two := allocs(2), allocs(4)
	if two-one > 20 {
		t.Fatalf("%.0f allocations for 2 days, %.0f for 4", one, two)
	}
}

func TestReplayRejects(t *testing.T) {
	good := testConfig(t, daily(1, 10, 100, 1))
	for name, mod := range map[string]func(*Config){
		"no step":         func(c *Config) { c.Step = 0 },
		"step not sync":   func(c *Config) { c.Step = time.Minute },
		"one sample":      func(c *Config) { c.Demand = c.Demand[:1] },
		"negative demand": func(c *Config) { c.Demand = append([]float64{-1}, c.Demand...) },
		"NaN demand":      func(c *Config) { c.Demand = append([]float64{0 / func() float64 { return 0 }()}, c.Demand...) },
		"no HPA":          func(c *Config) { c.HPA = nil },
		"bad fleet":       func(c *Config) { c.Fleet.Capacity = 0 },
		"huge capacity":   func(c *Config) { c.Fleet.Capacity = 1 << 30 },
		"huge maxReplicas": func(c *Config) {
			h := c.HPA.DeepCopy()
			h.Spec.MaxReplicas = 1 << 30
			c.HPA = h
		},
		"CPU HPA": func(c *Config) {
			h := c.HPA.DeepCopy()
			h.Spec.Metrics[0] = autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType}
			c.HPA = h
		},
	} {
		c := good
		mod(&c)
		if _, err := Replay(context.Background(), c, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := Replay(context.Background(), good, &Forecast{Mode: ModePredictive}); err == nil {
		t.Error("a forecast without a refresh period accepted")
	}
	if _, err := Predict(context.Background(), good, nil, time.Minute, time.Minute); err == nil {
		t.Error("predictive without a forecaster accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Replay(ctx, good, nil); err == nil {
		t.Error("cancelled replay ran")
	}
}

func TestSweep(t *testing.T) {
	cfg := testConfig(t, daily(1, 10, 100, 1))
	if _, err := ParseSweep("target"); err == nil {
		t.Error("no values accepted")
	}
	if _, err := ParseSweep("window=1"); err == nil {
		t.Error("unknown setting accepted")
	}
	sw, err := ParseSweep("target=70, 90")
	if err != nil || sw.Setting != SweepTarget || len(sw.Values) != 2 || sw.Values[1] != "90" {
		t.Fatalf("%+v %v", sw, err)
	}
	at := func(a ...Assignment) Settings { return Settings(a) }
	c, _, err := at(Assignment{SweepTarget, "90"}).apply(cfg, time.Minute)
	if err != nil || c.HPA.Spec.Metrics[0].Pods.Target.AverageValue.String() != "90" || cfg.HPA.Spec.Metrics[0].Pods.Target.AverageValue.String() != "80" {
		t.Fatalf("target: %v", err)
	}
	_, lead, err := at(Assignment{SweepLead, "7m"}).apply(cfg, time.Minute)
	if err != nil || lead != 7*time.Minute {
		t.Fatalf("lead: %v", err)
	}
	c, _, err = at(Assignment{SweepStabilization, "10m"}).apply(cfg, time.Minute)
	if err != nil || *c.HPA.Spec.Behavior.ScaleDown.StabilizationWindowSeconds != 600 || *cfg.HPA.Spec.Behavior.ScaleDown.StabilizationWindowSeconds != 300 {
		t.Fatalf("stabilization: %v", err)
	}
	nb := cfg
	nb.HPA = cfg.HPA.DeepCopy()
	nb.HPA.Spec.Behavior = nil
	c, _, err = at(Assignment{SweepStabilization, "10m"}).apply(nb, time.Minute)
	if err != nil || c.Controller.DownscaleStabilization != 10*time.Minute || c.HPA.Spec.Behavior != nil {
		t.Fatalf("stabilization without behavior: %v", err)
	}
	// forecast-target sets the forecast metrics alone.
	pc := cfg
	pc.HPA = withForecast(cfg.HPA, cfg.HPA.Spec.Metrics[0], "calls")
	c, _, err = at(Assignment{SweepForecastTarget, "110"}).apply(pc, time.Minute)
	if err != nil || c.HPA.Spec.Metrics[0].Pods.Target.AverageValue.String() != "80" || c.HPA.Spec.Metrics[1].Object.Target.AverageValue.String() != "110" {
		t.Fatalf("forecast-target: %v", err)
	}
	for _, bad := range []string{"target=-1", "lead=soon", "stabilization=1.5s", "forecast-target=0", "target=50,55,...", "target=50,...,60", "target=60,55,...,50", "target=1,2,...,100000"} {
		if _, err := ParseSweep(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestSweepProgressions(t *testing.T) {
	for in, want := range map[string]string{
		"target=50,55,...,115":    "50 55 60 65 70 75 80 85 90 95 100 105 110 115",
		"target=0.5,0.6,...,0.9":  "0.5 0.6 0.7 0.8 0.9",
		"lead=5m,10m,...,30m":     "5m0s 10m0s 15m0s 20m0s 25m0s 30m0s",
		"target=50,55,...,62":     "50 55 60",
		"stabilization=0s,5m,10m": "0s 5m 10m",
	} {
		sw, err := ParseSweep(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := strings.Join(sw.Values, " "); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

func TestGrid(t *testing.T) {
	g := Grid([]Sweep{{SweepTarget, []string{"70", "90"}}, {SweepLead, []string{"5m", "10m"}}})
	var got []string
	for _, p := range g {
		got = append(got, p.String())
	}
	if strings.Join(got, " ") != "target=70,lead=5m target=70,lead=10m target=90,lead=5m target=90,lead=10m" {
		t.Fatalf("%v", got)
	}
	if s := g[0].shared().String(); s != "target=70" {
		t.Fatalf("a reactive replay sees %q", s)
	}
	if Grid(nil) != nil {
		t.Fatal("no sweep, but a grid")
	}
}

// nycTaxi is the NYC taxi trace scaled to a 5000-call peak at 15 s steps.
func nycTaxi(tb testing.TB) Config {
	s, err := trace.ReadFile(filepath.Join(trace.Dir(), "nyc_taxi.csv"))
	if err != nil {
		tb.Fatalf("no trace nyc_taxi.csv in testdata/traces (%v)", err)
	}
	d, err := s.ScaleToPeak(5000).Resample(step)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := testConfig(tb, d)
	cfg.Start = s[0].T
	return cfg
}

// BenchmarkReplayNYCTaxi replays seven months of nyc_taxi.csv at 15 s
// syncs (about 1.24M HPA decisions) per iteration.
func BenchmarkReplayNYCTaxi(b *testing.B) {
	cfg := nycTaxi(b)
	pcfg, fc := foreseen(b, cfg, 3*time.Minute)
	for _, mode := range []string{"reactive", "foresight", "oracle", "sleep"} {
		b.Run(mode, func(b *testing.B) {
			c, f := cfg, (*Forecast)(nil)
			switch mode {
			case "foresight":
				c, f = pcfg, fc
			case "sleep":
				// Reactive, every deleted pod running 6 hours: ten times
				// the pods to step through.
				c.Fleet.Drain, c.Fleet.Grace = DrainSleep, 6*time.Hour
			}
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				var err error
				if mode == "oracle" {
					_, err = Oracle(c)
				} else {
					_, err = Replay(context.Background(), c, f)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(cfg.Demand)), "ns/decision")
			// CPU time, which a loaded machine does not inflate as it does
			// wall time.
			b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestReportTableAndCSV(t *testing.T) {
	cfg := testConfig(t, daily(1, 100, 2000, 1))
	r, err := Replay(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := Oracle(cfg)
	var b strings.Builder
	if err := WriteTable(&b, []Row{{Result: r}, {Result: o}}, o); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "vs oracle") || !strings.Contains(lines[2], "1.000") || strings.Contains(lines[0], "setting") {
		t.Fatalf("table:\n%s", b.String())
	}
	b.Reset()
	if err := WriteTable(&b, []Row{{Setting: "target=90", Result: r}}, o); err != nil || !strings.Contains(b.String(), "target=90") {
		t.Fatalf("sweep table:\n%s", b.String())
	}
	b.Reset()
	if err := WriteCSV(&b, []Row{{Result: r}, {Result: o}}); err != nil {
		t.Fatal(err)
	}
	csv := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(csv) != 1+2*48 || csv[0] != "time,setting,mode,demand,capacity,replicas,pods,minutes_short,drain" || !strings.HasSuffix(csv[1], ",until-empty=30s") || !strings.HasSuffix(csv[len(csv)-1], ",") || !strings.HasPrefix(csv[1], "2025-03-03T00:00:00Z,,reactive,") {
		t.Fatalf("csv: %d lines, %q %q", len(csv), csv[0], csv[1])
	}
}
