package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtcscale/rtcscale/trace"
	"github.com/rtcscale/rtcscale/whatif"
)

const hpaManifest = "../../whatif/testdata/kamailio-hpa.yaml"

// seasonal is a test double for rtcscale's predictor, a baseline from
// testdata/traces/README.md: last week's load over the lead, scaled by how
// the last hour compares with the same hour a week before, plus 10%; none
// with under a week and an hour of history.
func seasonal(_ context.Context, l whatif.Load, lead time.Duration) ([]float64, error) {
	week, hour, ahead := int(7*24*time.Hour/l.Step), int(time.Hour/l.Step), int(lead/l.Step)
	out := make([]float64, len(l.Values))
	for i := range out {
		out[i] = math.NaN()
		if i < week+hour {
			continue
		}
		var recent, before float64
		for j := i - hour + 1; j <= i; j++ {
			recent += l.Values[j]
			before += l.Values[j-week]
		}
		ratio := 1.0
		if before > 0 {
			ratio = recent / before
		}
		m := 0.0
		for j := i; j <= i+ahead; j++ {
			m = max(m, l.Values[j-week])
		}
		out[i] = 1.1 * ratio * m
	}
	return out, nil
}

func withSeasonal(t *testing.T) {
	real := newForecaster
	newForecaster = func(time.Duration) whatif.Forecaster { return whatif.ForecasterFunc(seasonal) }
	t.Cleanup(func() { newForecaster = real })
}

// records reads the summary.json of a run.
func records(t *testing.T, dir string) []whatif.Record {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var recs []whatif.Record
	if err := json.Unmarshal(b, &recs); err != nil {
		t.Fatal(err)
	}
	return recs
}

// summary is the records of a run by setting and mode.
func summary(t *testing.T, dir string) map[[2]string]whatif.Record {
	t.Helper()
	out := map[[2]string]whatif.Record{}
	for _, r := range records(t, dir) {
		out[[2]string{r.Setting, r.Mode}] = r
	}
	return out
}

// writeTrace writes days of a synthetic daily load at 5-minute steps.
func writeTrace(t *testing.T, days int) string {
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	t0 := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	for i := range days * 288 {
		h := float64(i%288) / 12
		v := 100.0
		if h >= 7 && h < 19 {
			v = 1000
		}
		fmt.Fprintf(&b, "%s,%g\n", t0.Add(time.Duration(i)*5*time.Minute).Format("2006-01-02 15:04:05"), v)
	}
	path := filepath.Join(t.TempDir(), "trace.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestWhatifWritesReport(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	err := runCommand(context.Background(), "whatif", []string{"--trace", writeTrace(t, 3), "--peak", "2000", "--hpa", hpaManifest, "--out", out}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	table := stdout.String()
	for _, mode := range []string{"reactive", "predictive", "oracle"} {
		if !strings.Contains(table, mode) {
			t.Fatalf("no %s row in the table:\n%s", mode, table)
		}
	}
	for _, f := range []string{"timeline.csv", "summary.json", "plot.png", "plot.svg", "week.png", "report.html"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	html, _ := os.ReadFile(filepath.Join(out, "report.html"))
	if !bytes.Contains(html, []byte("rtcscale whatif --trace")) || !bytes.Contains(html, []byte(`<table class="modes">`)) {
		t.Error("report lacks the command or the table")
	}
}

func TestWhatifPredictiveSweep(t *testing.T) {
	withSeasonal(t)
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	err := runCommand(context.Background(), "whatif", []string{"--trace", writeTrace(t, 9), "--peak", "2000", "--hpa", hpaManifest, "--out", out, "--sweep", "target=70,95", "--max-short", "1%"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	recs := summary(t, out)
	for _, setting := range []string{"as written", "target=70", "target=95"} {
		for _, mode := range []string{"reactive", "predictive", "foresight"} {
			r, ok := recs[[2]string{setting, mode}]
			if !ok {
				t.Fatalf("no %s %s record in %v", setting, mode, recs)
			}
			if r.PodHours <= 0 || r.VsOracle == nil || *r.VsOracle <= 0 {
				t.Errorf("%s %s: %+v", setting, mode, r)
			}
		}
	}
	if _, ok := recs[[2]string{"as written", "oracle"}]; !ok {
		t.Error("no oracle record")
	}
	for _, f := range []string{"frontier.png", "frontier.svg"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	if !strings.Contains(stdout.String(), "For at most ") || !strings.Contains(stdout.String(), "the cheapest reactive setting") {
		t.Fatalf("no verdict:\n%s", stdout.String())
	}
	// 95 calls a pod of 100 is within the tolerance: the HPA cannot scale
	// up on calls, and the replay says so.
	if !strings.Contains(stderr.String(), "warning: calls (target 95)") || !strings.Contains(stderr.String(), "at target=95") {
		t.Fatalf("no warning for the stuck target:\n%s", stderr.String())
	}
}

// TestWhatifPredictor replays ten days whose load jumps tenfold every
// morning within 5 minutes, faster than 2-minute start-ups let a reactive
// HPA follow, with rtcscale's predictor: from the fourth day on (3 days of
// history) it sees the jump coming. The lead is 10 minutes: the HPA's
// scale-up policy (doubling every 15 s) and the forecast's refresh every
// minute need time on top of the start-up.
func TestWhatifPredictor(t *testing.T) {
	var stdout, stderr bytes.Buffer
	out := t.TempDir()
	err := runCommand(context.Background(), "whatif", []string{"--trace", writeTrace(t, 10), "--peak", "2000", "--hpa", hpaManifest, "--out", out, "--startup", "2m", "--lead", "10m", "--refit", "6h"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	t.Logf("\n%s", stdout.String())
	short := map[string]float64{}
	for _, r := range records(t, out) {
		short[r.Mode] = r.MinutesShort
	}
	if !(short["reactive"] > 0) || !(short["predictive"] < short["reactive"]/2) {
		t.Fatalf("minutes short: reactive %v, predictive %v; want the predictor to halve them at least", short["reactive"], short["predictive"])
	}
}

// TestExampleHPA checks that the example HPA of deploy/examples is what the
// API server accepts (the replay decodes it strictly into the real
// autoscaling/v2 type, defaults and validates it as the API server does)
// and that it replays.
func TestExampleHPA(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := runCommand(context.Background(), "whatif", []string{"--trace", writeTrace(t, 1), "--hpa", "../../deploy/examples/hpa-asterisk.yaml", "--modes", "reactive", "--out", ""}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "reactive") {
		t.Fatalf("output:\n%s", stdout.String())
	}
}

func TestWhatifRejects(t *testing.T) {
	tr := writeTrace(t, 1)
	for name, args := range map[string][]string{
		"no trace":      {"--hpa", hpaManifest},
		"no hpa":        {"--trace", tr},
		"missing file":  {"--trace", tr + ".gone", "--hpa", hpaManifest},
		"bad victims":   {"--trace", tr, "--hpa", hpaManifest, "--victims", "oldest"},
		"bad mode":      {"--trace", tr, "--hpa", hpaManifest, "--modes", "psychic"},
		"bad sweep":     {"--trace", tr, "--hpa", hpaManifest, "--sweep", "replicas=3"},
		"lead, no pred": {"--trace", tr, "--hpa", hpaManifest, "--modes", "reactive", "--sweep", "lead=5m"},
		"negative peak": {"--trace", tr, "--hpa", hpaManifest, "--peak", "-5"},
		"bad capacity":  {"--trace", tr, "--hpa", hpaManifest, "--capacity", "0", "--out", ""},
		"extra args":    {"--trace", tr, "--hpa", hpaManifest, "extra"},
		"bad cadence":   {"--trace", tr, "--hpa", hpaManifest, "--forecast-every", "0s"},
		"odd cadence":   {"--trace", tr, "--hpa", hpaManifest, "--forecast-every", "1500ms"},
		"bad refit":     {"--trace", tr, "--hpa", hpaManifest, "--refit", "0s"},
		"too long":      {"--trace", tr, "--hpa", hpaManifest, "--sync-period", "1ns"},
		"not an hpa":    {"--trace", tr, "--hpa", tr},
		"bad drain":     {"--trace", tr, "--hpa", hpaManifest, "--drain", "preStop"},
		"none's grace":  {"--trace", tr, "--hpa", hpaManifest, "--drain", "none=1h"},
		"drain twice":   {"--trace", tr, "--hpa", hpaManifest, "--drain", "sleep", "--drain", "sleep=30s"},
	} {
		var stdout, stderr bytes.Buffer
		if err := runCommand(context.Background(), "whatif", args, &stdout, &stderr); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestWhatifDrains: --drain replays each policy, a repeated flag adds to
// the list, and a policy without a grace period takes --grace, given
// before or after it.
func TestWhatifDrains(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	err := runCommand(context.Background(), "whatif", []string{"--trace", writeTrace(t, 2), "--peak", "2000", "--hpa", hpaManifest, "--modes", "reactive",
		"--drain", "until-empty,none", "--drain", "sleep=6h", "--grace", "5m", "--out", out}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	var got []string
	for _, r := range records(t, out) {
		got = append(got, fmt.Sprintf("%s %s %g", r.Mode, r.Drain, r.GraceSeconds))
	}
	if want := "reactive until-empty=5m 300,reactive none 0,reactive sleep=6h 21600"; strings.Join(got, ",") != want {
		t.Fatalf("records %q, want %q", got, want)
	}
	if !strings.Contains(stdout.String(), "sleep=6h") {
		t.Fatalf("table without the policies:\n%s", stdout.String())
	}
	var e bytes.Buffer
	err = runCommand(context.Background(), "whatif", []string{"--trace", writeTrace(t, 1), "--hpa", hpaManifest, "--drain", "sleep=a day"}, &e, &e)
	if err == nil || err.Error() != `--drain "sleep=a day": sleep: grace period "a day": want a non-negative duration such as 30s or 6h` {
		t.Fatalf("error %v", err)
	}
}

// TestWhatifNYCTaxi runs the command of docs/whatif.md on the NYC taxi trace,
// with the seasonal test double standing in for the predictor. Set
// RTCSCALE_WHATIF_OUT to keep its outputs.
func TestWhatifNYCTaxi(t *testing.T) {
	if testing.Short() {
		t.Skip("replays seven months three times")
	}
	path := filepath.Join(trace.Dir(), "nyc_taxi.csv")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no trace in testdata/traces: %v", err)
	}
	withSeasonal(t)
	out := os.Getenv("RTCSCALE_WHATIF_OUT")
	if out == "" {
		out = t.TempDir()
	}
	var stdout, stderr bytes.Buffer
	args := []string{"--trace", path, "--peak", "5000", "--capacity", "100", "--startup", "2m", "--hpa", hpaManifest, "--out", out}
	if s := os.Getenv("RTCSCALE_WHATIF_SWEEP"); s != "" {
		args = append(args, "--sweep", s)
	}
	if err := runCommand(context.Background(), "whatif", args, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	t.Logf("\n%s", stdout.String())
	vsOracle := map[string]float64{}
	for _, r := range records(t, out) {
		if r.VsOracle != nil {
			vsOracle[r.Mode] = *r.VsOracle
		}
	}
	for _, mode := range []string{"reactive", "predictive", "oracle"} {
		if _, ok := vsOracle[mode]; !ok {
			t.Fatalf("no %s record in summary.json", mode)
		}
	}
	ratio := func(mode string) float64 { return vsOracle[mode] }
	if ratio("oracle") != 1 || ratio("reactive") <= 1 || ratio("predictive") <= 1 {
		t.Fatalf("pod-hours against the oracle: reactive %v, predictive %v", ratio("reactive"), ratio("predictive"))
	}
}

// TestChoiceFlags checks that every value of the enums whatif's flags take
// is named, and named once, so that --help lists it and the flag sets it.
func TestChoiceFlags(t *testing.T) {
	roundTrip := func(name string, all []string, set func(string) error, get func() string) {
		seen := map[string]bool{}
		for _, n := range all {
			if seen[n] || strings.Contains(n, "(") {
				t.Errorf("%s: %q is no name of its own", name, n)
			}
			seen[n] = true
			if err := set(n); err != nil || get() != n {
				t.Errorf("%s: setting %q gives %q, %v", name, n, get(), err)
			}
		}
		if err := set("psychic"); err == nil {
			t.Errorf("%s: an unknown value is taken", name)
		}
	}
	var st whatif.StartupState
	c := choice[whatif.StartupState]{&st, []whatif.StartupState{whatif.StartMissing, whatif.StartPending, whatif.StartZero}}
	roundTrip("--startup-state", strings.Split(c.Type(), "|"), c.Set, c.String)
	var d whatif.Durations
	cd := choice[whatif.Durations]{&d, []whatif.Durations{whatif.Exponential, whatif.Fixed}}
	roundTrip("--durations", strings.Split(cd.Type(), "|"), cd.Set, cd.String)
	var v whatif.Victims
	cv := choice[whatif.Victims]{&v, []whatif.Victims{whatif.ReplicaSetOrder, whatif.DeletionCost}}
	roundTrip("--victims", strings.Split(cv.Type(), "|"), cv.Set, cv.String)
	if s := whatif.Victims(9).String(); s != "Victims(9)" {
		t.Errorf("an unknown Victims prints %q", s)
	}
}
