package whatif

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseDrains(t *testing.T) {
	got, err := ParseDrains("none, sleep=6h,until-empty,until-empty=1h30m", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := []DrainPolicy{{DrainNone, 0}, {DrainSleep, 6 * time.Hour}, {DrainUntilEmpty, 30 * time.Second}, {DrainUntilEmpty, 90 * time.Minute}}
	if !slices.Equal(got, want) {
		t.Fatalf("%v, want %v", got, want)
	}
	var labels []string
	for _, d := range got {
		labels = append(labels, d.String())
	}
	if s := strings.Join(labels, " "); s != "none sleep=6h until-empty=30s until-empty=1h30m" {
		t.Fatalf("labels %s", s)
	}
	for in, msg := range map[string]string{
		"drain-until-empty":                 `unknown policy "drain-until-empty" (want none, sleep or until-empty`,
		"none=5m":                           "none takes no grace period",
		"sleep=forever":                     `sleep: grace period "forever": want a non-negative duration`,
		"sleep=":                            `sleep: grace period "": want a non-negative duration`,
		"until-empty=-1s":                   `until-empty: grace period "-1s": want a non-negative duration`,
		"sleep=6h,,none":                    `unknown policy ""`,
		"until-empty,sleep,until-empty=30s": "until-empty=30s is given twice",
	} {
		if _, err := ParseDrains(in, 30*time.Second); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want an error saying %s", in, err, msg)
		}
	}
	if _, err := ParseDrains("sleep", -time.Second); err == nil || !strings.Contains(err.Error(), "negative grace period") {
		t.Errorf("a negative default grace: %v", err)
	}
}

// drainOptions replay 2 days, each ending on 5 quiet hours at the trough
// so that no drain is under way at the end, with fixed 3-minute calls: a
// grace of 5 minutes outlasts any call.
func drainOptions(t *testing.T, drains ...DrainPolicy) Options {
	cfg := testConfig(t, daily(2, 200, 3000, 1))
	cfg.Fleet.Durations = Fixed
	return Options{Config: cfg, Modes: []string{ModeReactive, ModeOracle}, Drains: drains, SLO: SLO{MaxShort: -1, MaxRejected: -1}}
}

func TestRunDrains(t *testing.T) {
	sleep, until := DrainPolicy{DrainSleep, 5 * time.Minute}, DrainPolicy{DrainUntilEmpty, 5 * time.Minute}
	none, short := DrainPolicy{Drain: DrainNone}, DrainPolicy{DrainUntilEmpty, 30 * time.Second}
	rep, err := Run(context.Background(), drainOptions(t, until, sleep, none, short))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Drains, []DrainPolicy{until, sleep, none, short}) || len(rep.Rows) != 5 {
		t.Fatalf("drains %v, %d rows", rep.Drains, len(rep.Rows))
	}
	by := map[DrainPolicy]*Result{}
	for _, r := range rep.Rows[:4] {
		if r.Mode != ModeReactive {
			t.Fatalf("row %s %s before the oracle", r.Mode, r.Drain)
		}
		by[r.Drain] = r.Result
	}
	s, u, n, c := by[sleep], by[until], by[none], by[short]
	if s.PodsDeleted == 0 || c.CallsCut == 0 {
		t.Fatalf("nothing to compare: %+v", s.Summary)
	}
	// Sleeping pods run out their grace, all of them: the trace ends on
	// hours without a scale-down.
	if want := float64(s.PodsDeleted) * sleep.Grace.Hours(); math.Abs(s.DrainingPodHours-want) > 1e-9 || s.LongestDrain != sleep.Grace {
		t.Errorf("sleep: %.4f pod-hours draining, longest %s; want %d pods × %s = %.4f", s.DrainingPodHours, s.LongestDrain, s.PodsDeleted, sleep.Grace, want)
	}
	// A pod that exits when empty runs no longer than one that sleeps,
	// and changes nothing else: the same calls end on the same pods.
	if u.PodHours >= s.PodHours || u.DrainingPodHours >= s.DrainingPodHours || u.LongestDrain > until.Grace || u.DrainingPodHours > u.PodHours {
		t.Errorf("until-empty %+v against sleep %+v", u.Summary, s.Summary)
	}
	if u.CallsCut != s.CallsCut || u.ScaleEvents != s.ScaleEvents || u.MinutesShort != s.MinutesShort || u.PodsDeleted != s.PodsDeleted {
		t.Errorf("until-empty and sleep differ beyond pod-hours: %+v, %+v", u.Summary, s.Summary)
	}
	// A grace longer than the longest call cuts none; a shorter one does.
	if u.CallsCut != 0 || u.LongestDrain > 3*time.Minute+step {
		t.Errorf("until-empty=5m against 3-minute calls: %d cut, longest drain %s", u.CallsCut, u.LongestDrain)
	}
	if n.CallsCut == 0 || n.DrainingPodHours != 0 || n.LongestDrain != 0 {
		t.Errorf("none: %+v", n.Summary)
	}
	// This HPA reads the ready pods alone, and fixed durations draw no
	// departures at random: every policy deletes the same pods, and none
	// cuts all that 30 s of grace cuts and more.
	if n.PodsDeleted != c.PodsDeleted || n.ScaleEvents != c.ScaleEvents || n.CallsCut <= c.CallsCut {
		t.Errorf("none %+v against until-empty=30s %+v", n.Summary, c.Summary)
	}
	// The sweep, the frontier and the plots replay the first policy.
	if re, ok := rep.Frontier.Cheapest[ModeReactive]; ok && re.Drain != until {
		t.Errorf("the frontier's cheapest is with drain %s", re.Drain)
	}
	if !strings.HasSuffix(rep.Frontier.Verdict, "Settings are compared with drain until-empty=5m, the first of the drain policies.") {
		t.Errorf("verdict %q", rep.Frontier.Verdict)
	}
	if p := rep.primaryRows(); len(p) != 2 || p[0].Result != u || p[1].Mode != ModeOracle {
		t.Errorf("plotted rows %v", p)
	}
	recs := rep.Records()
	if len(recs) != 5 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[1]
	if r.Drain != "sleep=5m" || r.GraceSeconds != 300 || r.PodsDeleted != s.PodsDeleted || r.DrainingPodHours != s.DrainingPodHours || r.LongestDrainSeconds != 300 {
		t.Errorf("sleep's record %+v", r)
	}
	if o := recs[4]; o.Mode != ModeOracle || o.Drain != "" || o.GraceSeconds != 0 {
		t.Errorf("oracle's record %+v", o)
	}
}

// TestNoneCutsEveryCallOnADeletedPod: without a drain, a scale-down cuts
// exactly the calls of the pods it deletes, at once.
func TestNoneCutsEveryCallOnADeletedPod(t *testing.T) {
	f := testFleet(func(c *Fleet) {
		c.Capacity, c.Drain, c.Grace, c.Startup, c.Victims = 100, DrainNone, time.Hour, 0, DeletionCost
	})
	f.add(6)
	f.advance(0, 0)
	loads := []int32{40, 7, 93, 12, 0, 55}
	f.calls = 0
	for i, l := range loads {
		f.pods[i].calls = l
		f.calls += int64(l)
	}
	f.tallyForTest()
	f.remove(3) // the three with the fewest calls: 0, 7 and 12
	if f.cut != 19 || f.calls != 40+93+55 || len(f.pods) != 3 || f.deletedPods != 3 {
		t.Fatalf("cut %d, %d calls on %d pods left", f.cut, f.calls, len(f.pods))
	}
}

// TestSweepWithDrains: the grid is replayed with the first policy only,
// the others being a comparison of the HPA as written.
func TestSweepWithDrains(t *testing.T) {
	sleep, until := DrainPolicy{DrainSleep, time.Hour}, DrainPolicy{DrainUntilEmpty, time.Hour}
	o := drainOptions(t, sleep, until)
	o.Sweeps = []Sweep{{SweepTarget, []string{"60", "85"}}}
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 3 || len(rep.Sweep) != 2 {
		t.Fatalf("%d rows, %d sweep rows", len(rep.Rows), len(rep.Sweep))
	}
	for _, r := range rep.Sweep {
		if r.Drain != sleep {
			t.Errorf("%s replayed with drain %s", r.Setting, r.Drain)
		}
	}
	for _, r := range frontierRows(rep) {
		if r.Drain != sleep {
			t.Errorf("the frontier compares %s %s with drain %s", r.Setting, r.Mode, r.Drain)
		}
	}
}

func TestRunRejectsDrains(t *testing.T) {
	for name, drains := range map[string][]DrainPolicy{
		"twice":          {{DrainSleep, time.Hour}, {DrainSleep, time.Hour}},
		"none twice":     {{Drain: DrainNone}, {DrainNone, time.Hour}},
		"negative grace": {{DrainSleep, -time.Second}},
		"unknown drain":  {{Drain: 9}},
	} {
		if _, err := Run(context.Background(), drainOptions(t, drains...)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestTableDrainColumns(t *testing.T) {
	rows := func(ds ...DrainPolicy) []Row {
		var out []Row
		for _, d := range ds {
			out = append(out, Row{Result: &Result{Mode: ModeReactive, Drain: d, Summary: Summary{LongestDrain: d.Grace}}})
		}
		return append(out, Row{Result: &Result{Mode: ModeOracle}})
	}
	for _, tc := range []struct {
		rows  []Row
		drain bool
	}{
		{rows(DrainPolicy{DrainUntilEmpty, 30 * time.Second}), false},
		{rows(DrainPolicy{DrainSleep, 6 * time.Hour}), true},
		{rows(DrainPolicy{DrainUntilEmpty, 30 * time.Second}, DrainPolicy{DrainUntilEmpty, time.Hour}), true},
	} {
		var b strings.Builder
		if err := WriteTable(&b, tc.rows, nil); err != nil {
			t.Fatal(err)
		}
		head := strings.Fields(strings.SplitN(b.String(), "\n", 2)[0])
		if (head[1] == "drain") != tc.drain || !strings.Contains(b.String(), "pod-hours draining  longest drain") {
			t.Errorf("table:\n%s", b.String())
		}
		if tc.drain && !strings.Contains(b.String(), tc.rows[0].Drain.String()+"  ") {
			t.Errorf("no policy in the table:\n%s", b.String())
		}
		b.Reset()
		if err := WriteHTML(&b, Page{Rows: tc.rows}); err != nil {
			t.Fatal(err)
		}
		cell := `<td class="drain">` + tc.rows[0].Drain.String() + "</td>"
		if strings.Contains(b.String(), "<th>drain</th>") != tc.drain || strings.Contains(b.String(), cell) != tc.drain || !strings.Contains(b.String(), "<th>longest drain</th>") {
			t.Errorf("HTML table, drain column %v:\n%s", tc.drain, b.String())
		}
	}
}
