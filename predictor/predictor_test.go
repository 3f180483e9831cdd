package predictor

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// rtcLoad is a synthetic call load: a night trough, a morning ramp to a
// daytime plateau, an evening decline; weekends at 40% when weekly.
func rtcLoad(t time.Time, weekly bool) float64 {
	h := float64(t.Hour()) + float64(t.Minute())/60
	v := 20 + 80*math.Exp(-math.Pow((h-13)/4, 2))
	if weekly && (t.Weekday() == time.Saturday || t.Weekday() == time.Sunday) {
		v *= 0.4
	}
	return v
}

// fill returns a history of days of load f every step up to end, with
// multiplicative noise of the given relative size.
func fill(step time.Duration, end time.Time, days int, noise float64, f func(time.Time) float64) *History {
	n := days * int(24*time.Hour/step)
	h := NewHistory(step, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		t := end.Add(-time.Duration(n-1-i) * step)
		if err := h.Add(t, math.Max(0, f(t)*(1+noise*r.NormFloat64()))); err != nil {
			panic(err)
		}
	}
	return h
}

// monday 07:00, an hour before the ramp of rtcLoad steepens.
var monday = time.Date(2024, 6, 3, 7, 0, 0, 0, time.UTC)

// maxAhead is the true highest load over [now, now+lead].
func maxAhead(now time.Time, lead, step time.Duration, f func(time.Time) float64) float64 {
	m := 0.0
	for d := time.Duration(0); d <= lead; d += step {
		m = math.Max(m, f(now.Add(d)))
	}
	return m
}

func TestFitKnownShapes(t *testing.T) {
	step, lead := 10*time.Minute, time.Hour
	sine := func(t time.Time) float64 {
		return 100 + 50*math.Sin(2*math.Pi*float64(t.Unix()%86400)/86400)
	}
	daily := func(t time.Time) float64 { return rtcLoad(t, false) }
	weekly := func(t time.Time) float64 { return rtcLoad(t, true) }
	flat := func(time.Time) float64 { return 50 }
	for _, c := range []struct {
		name   string
		f      func(time.Time) float64
		noise  float64
		period Periodicity
	}{
		{"pure daily sine", sine, 0, Daily},
		{"daily ramp with noise", daily, 0.05, Daily},
		{"daily and weekly", weekly, 0.05, Weekly},
		{"flat", flat, 0, None},
		{"noise", flat, 0.3, None},
	} {
		t.Run(c.name, func(t *testing.T) {
			now := monday.Add(-step)
			h := fill(step, now, 35, c.noise, c.f)
			p := Fit(h, Options{Lead: lead})
			if p.Periodicity() != c.period {
				t.Fatalf("periodicity %s, want %s", p.Periodicity(), c.period)
			}
			current := c.f(now)
			got := p.Serve(now, current)
			truth := maxAhead(now, lead, step, c.f)
			if c.period == None {
				if p.Model() != "reactive" || got != current {
					t.Fatalf("model %s served %v, want the current %v", p.Model(), got, current)
				}
				return
			}
			// Ahead of the ramp the forecast adds most of the coming rise
			// (the rest is the rise of any hour, which the HPA's target
			// already leaves room for), and not much more.
			if got < current+(truth-current)/2 || got > 1.5*truth {
				t.Fatalf("model %s served %.1f before the ramp; the true maximum over the lead is %.1f (now %.1f)", p.Model(), got, truth, current)
			}
		})
	}
}

// TestAnomalyDoesNotDragNextWeek: an outage (zero for 6 hours) or a holiday
// (a day at 40%) on last Monday must not lower this Monday's forecast.
func TestAnomalyDoesNotDragNextWeek(t *testing.T) {
	step, lead := 10*time.Minute, time.Hour
	now := monday.Add(time.Hour) // 08:00, on the ramp
	lastMonday := monday.AddDate(0, 0, -7)
	normal := func(t time.Time) float64 { return rtcLoad(t, true) }
	reference := Fit(fill(step, now, 35, 0.03, normal), Options{Lead: lead}).Serve(now, normal(now))
	for name, f := range map[string]func(time.Time) float64{
		"outage": func(t time.Time) float64 {
			if d := t.Sub(lastMonday); d >= 8*time.Hour && d < 14*time.Hour {
				return 0
			}
			return normal(t)
		},
		"holiday": func(t time.Time) float64 {
			if d := t.Sub(lastMonday); d >= 0 && d < 24*time.Hour {
				return 0.4 * normal(t)
			}
			return normal(t)
		},
	} {
		p := Fit(fill(step, now, 35, 0.03, f), Options{Lead: lead})
		got := p.Serve(now, f(now))
		t.Logf("%s a week ago: model %s served %.1f, %.1f without it", name, p.Model(), got, reference)
		if got < 0.95*reference {
			t.Errorf("%s a week ago: model %s served %.1f, %.1f without it", name, p.Model(), got, reference)
		}
	}
}

func TestServeSafety(t *testing.T) {
	step, lead := 10*time.Minute, time.Hour
	now := monday
	weekly := func(t time.Time) float64 { return rtcLoad(t, true) }

	// Too little history: purely reactive, for any current value.
	short := NewHistory(step, 144)
	for i := range 140 {
		if err := short.Add(now.Add(time.Duration(i-139)*step), weekly(now.Add(time.Duration(i-139)*step))); err != nil {
			t.Fatal(err)
		}
	}
	p := Fit(short, Options{})
	if p.Model() != "reactive" || p.Serve(now, 42) != 42 {
		t.Fatalf("under a day of history: model %s served %v", p.Model(), p.Serve(now, 42))
	}
	// A day and a half is enough for the analogs of one day.
	if p := Fit(fill(step, now, 2, 0.05, weekly), Options{Lead: lead}); p.Model() != "analog-daily" {
		t.Fatalf("2 days of history: model %s", p.Model())
	}
	if got := Fit(NewHistory(step, 10), Options{}).Serve(now, 7); got != 7 {
		t.Fatalf("empty history served %v", got)
	}
	var none *Predictor
	if none.Serve(now, 3) != 3 {
		t.Fatal("nil predictor is not reactive")
	}

	// A fitted predictor: invalid current values count as 0, forecasts are
	// finite, non-negative, at least the current value, bounded by
	// MaxMultiple times the historical maximum, and reactive when stale.
	h := fill(step, now, 21, 0.05, weekly)
	p = Fit(h, Options{Lead: lead, MaxMultiple: 1})
	histMax := 0.0
	y, _ := h.Snapshot(nil)
	for _, v := range y {
		histMax = math.Max(histMax, v)
	}
	for _, cur := range []float64{math.NaN(), math.Inf(1), -5} {
		if got := p.Serve(now, cur); !(got >= 0) || math.IsInf(got, 0) {
			t.Errorf("current %v: served %v", cur, got)
		}
	}
	for d := time.Duration(0); d < 2*time.Hour; d += step {
		got := p.Serve(now.Add(d), 1)
		if math.IsNaN(got) || got < 1 || got > histMax {
			t.Fatalf("at +%s served %v (historical max %v)", d, got, histMax)
		}
	}
	if got := p.Serve(now.Add(48*time.Hour), 5); got != 5 {
		t.Fatalf("a stale predictor served %v, want the current 5", got)
	}

	// A surge in the last hour, ten times anything before: the level
	// correction is bounded, and so is the forecast.
	for d := -time.Hour; d <= 0; d += step {
		if err := h.Add(now.Add(d), 10*histMax); err != nil {
			t.Fatal(err)
		}
	}
	if got := Fit(h, Options{Lead: lead, MaxMultiple: 2}).Serve(now, 0); got > 2*10*histMax || math.IsInf(got, 0) {
		t.Fatalf("after a surge served %v", got)
	}
}

// TestServeRandomHistories: whatever the history (gaps, zeros, spikes),
// Serve gives a finite, non-negative value no lower than the current one.
func TestServeRandomHistories(t *testing.T) {
	step := 10 * time.Minute
	r := rand.New(rand.NewPCG(7, 7))
	for trial := range 6 {
		h := NewHistory(step, 21*144)
		for i := range 21 * 144 {
			switch x := r.Float64(); {
			case x < 0.1: // gap
			case x < 0.2:
				_ = h.Add(monday.Add(time.Duration(i-21*144)*step), 0)
			case x < 0.22:
				_ = h.Add(monday.Add(time.Duration(i-21*144)*step), 1e6*r.Float64())
			default:
				_ = h.Add(monday.Add(time.Duration(i-21*144)*step), rtcLoad(monday.Add(time.Duration(i)*step), trial%2 == 0)*r.Float64())
			}
		}
		p := Fit(h, Options{Lead: 30 * time.Minute})
		for _, cur := range []float64{0, 3, 1e5} {
			got := p.Serve(monday.Add(-step), cur)
			if math.IsNaN(got) || math.IsInf(got, 0) || got < cur {
				t.Fatalf("trial %d (%s): current %v served %v", trial, p.Model(), cur, got)
			}
		}
	}
}

func TestForecastDoesNotAllocate(t *testing.T) {
	step := 10 * time.Minute
	h := fill(step, monday, 21, 0.05, func(t time.Time) float64 { return rtcLoad(t, true) })
	p := Fit(h, Options{Lead: time.Hour})
	if p.Model() == "reactive" {
		t.Fatal("no model fitted")
	}
	if a := testing.AllocsPerRun(100, func() { p.Serve(monday, 10) }); a != 0 {
		t.Fatalf("Serve allocates %v times", a)
	}
}
