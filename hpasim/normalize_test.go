package hpasim

import (
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

// TestConvertDesiredReplicasWithRules mirrors upstream's test of the same
// name: an HPA without behavior is clamped to minReplicas, and to the lower
// of maxReplicas and the scale-up limit max(2 x current, 4).
func TestConvertDesiredReplicasWithRules(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		current, desired, mn, mx int32
		want                     int32
	}{
		{"within range", 5, 7, 3, 8, 7},
		{"below minReplicas", 3, 1, 2, 8, 2},
		{"zero with minReplicas 0", 1, 0, 0, 10, 0},
		{"maxReplicas below the scale-up limit", 20, 1000, 1, 10, 10},
		{"above maxReplicas", 100, 1000, 100, 150, 150},
		{"scale-up limit is twice current", 10, 1000, 1, 2000, 20},
		{"scale-up limit is at least 4", 1, 1000, 1, 2000, 4},
		{"scale-up limit from zero", 0, 9, 0, 20, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := hpa(ptr(tc.mn), tc.mx, nil, externalMetric("calls", "10", true))
			c := New(mustCompile(t, h))
			if got := c.clampWithRules(tc.current, tc.desired); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

// TestStabilizeRecommendation mirrors upstream's TestNormalizeDesiredReplicas:
// without behavior, the highest recommendation of the last 5 minutes wins,
// and an old slot is recycled rather than the log growing.
func TestStabilizeRecommendation(t *testing.T) {
	now := ns(time.Hour)
	ago := func(d time.Duration) int64 { return now - int64(d) }
	for _, tc := range []struct {
		name    string
		recs    []recommendation
		desired int32
		want    int32
		wantLen int
	}{
		{"empty log", nil, 5, 5, 1},
		{"stabilize", []recommendation{{4, ago(2 * time.Minute)}, {5, ago(time.Minute)}}, 3, 5, 3},
		{"no stabilize", []recommendation{{1, ago(2 * time.Minute)}, {2, ago(time.Minute)}}, 3, 3, 3},
		{"no stabilize - old recommendations", []recommendation{{10, ago(10 * time.Minute)}, {9, ago(9 * time.Minute)}}, 3, 3, 2},
		{"stabilize - old recommendations", []recommendation{{10, ago(10 * time.Minute)}, {4, ago(time.Minute)}, {5, ago(2 * time.Minute)}, {9, ago(9 * time.Minute)}}, 3, 5, 4},
		// The boundary: a recommendation exactly one window old is not
		// Before the cutoff, so it still counts.
		{"recommendation exactly at the window edge counts", []recommendation{{7, ago(5 * time.Minute)}}, 3, 7, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(mustCompile(t, hpa(nil, 100, nil, podsMetric("calls", "80"))))
			c.recs = append([]recommendation(nil), tc.recs...)
			if got := c.stabilize(now, tc.desired); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
			if len(c.recs) != tc.wantLen {
				t.Errorf("log has %d entries, want %d", len(c.recs), tc.wantLen)
			}
		})
	}
}

// TestStabilizeRecommendationWithBehaviors mirrors upstream's
// TestNormalizeDesiredReplicasWithBehavior: the current count is raised to
// the lowest recommendation of the scale-up window and lowered to the
// highest of the scale-down window.
func TestStabilizeRecommendationWithBehaviors(t *testing.T) {
	now := ns(time.Hour)
	ago := func(d time.Duration) int64 { return now - int64(d) }
	for _, tc := range []struct {
		name               string
		upWindow, dnWindow int32
		recs               []recommendation
		current, desired   int32
		want               int32
		wantLen            int
	}{
		{"empty log", 0, 300, nil, 5, 5, 5, 1},
		{"no scale-up window: up at once", 0, 300, []recommendation{{4, ago(1 * time.Minute)}}, 4, 8, 8, 2},
		{"scale-up window keeps the lowest", 180, 300, []recommendation{{5, ago(2 * time.Minute)}, {6, ago(1 * time.Minute)}}, 4, 8, 5, 3},
		{"scale-up window: recommendation below current keeps current", 180, 300, []recommendation{{3, ago(1 * time.Minute)}}, 4, 8, 4, 2},
		{"scale-down window keeps the highest", 0, 300, []recommendation{{9, ago(4 * time.Minute)}, {7, ago(1 * time.Minute)}}, 10, 3, 9, 3},
		{"scale-down window: old ones recycled", 0, 60, []recommendation{{9, ago(4 * time.Minute)}, {7, ago(30 * time.Second)}}, 10, 3, 7, 2},
		{"both windows", 60, 120, []recommendation{{8, ago(90 * time.Second)}, {2, ago(30 * time.Second)}}, 5, 6, 5, 3},
		// With behavior the window is open at its far end: a sample exactly
		// one window old is not After the cutoff.
		{"recommendation exactly at the window edge is out", 0, 300, []recommendation{{9, ago(5 * time.Minute)}}, 10, 3, 3, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp:   &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr(tc.upWindow)},
				ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr(tc.dnWindow)},
			}
			c := New(mustCompile(t, hpa(nil, 100, b, podsMetric("calls", "80"))))
			c.recs = append([]recommendation(nil), tc.recs...)
			if got := c.stabilizeWithBehavior(now, tc.current, tc.desired); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
			if len(c.recs) != tc.wantLen {
				t.Errorf("log has %d entries, want %d", len(c.recs), tc.wantLen)
			}
		})
	}
}

// TestConvertDesiredReplicasWithBehaviorRate mirrors upstream's
// TestScalingWithRules: the policies count from the replicas at the start
// of each period, percentages round up when scaling up and down when
// scaling down, and min/max apply in the direction of the change.
func TestConvertDesiredReplicasWithBehaviorRate(t *testing.T) {
	now := ns(time.Hour)
	for _, tc := range []struct {
		name             string
		ups, downs       []int32 // events spread over the last 120 s
		mn, mx           int32
		up, down         *autoscalingv2.HPAScalingRules
		current, desired int32
		want             int32
	}{
		{name: "within range", mn: 3, mx: 8, current: 5, desired: 7, want: 7},
		{name: "below minReplicas", mn: 2, mx: 8, current: 3, desired: 1, want: 2},
		{name: "zero when minReplicas is 0", mn: 0, mx: 10, current: 1, desired: 0, want: 0},
		{name: "maxReplicas below the limit", mn: 1, mx: 10, current: 20, desired: 1000, want: 10},
		{name: "user policy limits", mn: 1, mx: 2000, up: rulesOf(0, 0, 1, 60, 0), current: 3, desired: 1000, want: 4},
		{name: "default scale-up: max of 4 pods and 100%", mn: 1, mx: 1000, current: 10, desired: 50, want: 20},
		{name: "default scale-up from 1: 4 pods win", mn: 1, mx: 1000, current: 1, desired: 50, want: 5},
		{name: "pods policy larger than percent", mn: 1, mx: 1000, up: rulesOf(100, 60, 100, 60, 0), current: 10, desired: 500, want: 110},
		{name: "percent policy larger than pods", mn: 1, mx: 1000, up: rulesOf(2, 60, 100, 60, 0), current: 10, desired: 500, want: 20},
		{name: "large pods policy leaves desired", mn: 1, mx: 1000, up: rulesOf(100, 60, 0, 0, 0), current: 10, desired: 50, want: 50},
		{name: "pods policy limits", mn: 1, mx: 1000, up: rulesOf(30, 60, 0, 0, 0), current: 10, desired: 50, want: 40},
		{name: "percent policy limits", mn: 1, mx: 1000, up: rulesOf(0, 0, 200, 60, 0), current: 10, desired: 50, want: 30},
		{name: "percent rounds up", mn: 1, mx: 1000, up: rulesOf(0, 0, 10, 60, 0), current: 3, desired: 50, want: 4},
		{name: "scale-down percent larger than pods", mn: 1, mx: 1000, down: rulesOf(20, 60, 1, 60, 300), current: 100, desired: 2, want: 80},
		{name: "scale-down pods larger than percent", mn: 1, mx: 1000, down: rulesOf(2, 60, 1, 60, 300), current: 100, desired: 2, want: 98},
		{name: "scale-down to minReplicas", mn: 1, mx: 1000, down: rulesOf(100, 60, 0, 0, 300), current: 10, desired: 0, want: 1},
		{name: "scale-down pods policy limits", mn: 1, mx: 1000, down: rulesOf(5, 60, 0, 0, 300), current: 10, desired: 2, want: 5},
		{name: "scale-down percent rounds down", mn: 1, mx: 1000, down: rulesOf(0, 0, 50, 60, 300), current: 9, desired: 1, want: 4},
		{name: "events: maxReplicas", ups: []int32{1, 5, 9}, mn: 1, mx: 200, up: rulesOf(300, 60, 0, 0, 0), current: 100, desired: 500, want: 200},
		{name: "events: recent scale-ups exhaust the budget", ups: []int32{1, 5, 9}, mn: 1, mx: 1000, up: rulesOf(5, 120, 0, 0, 0), current: 100, desired: 500, want: 100},
		{name: "events: pods from period start", ups: []int32{1, 5, 9}, mn: 1, mx: 1000, up: rulesOf(150, 120, 0, 0, 0), current: 100, desired: 500, want: 235},
		{name: "events: percent from period start", ups: []int32{1, 5, 9}, mn: 1, mx: 1000, up: rulesOf(0, 0, 200, 120, 0), current: 100, desired: 500, want: 255},
		{name: "events: up and down both move the period start", ups: []int32{4}, downs: []int32{2}, mn: 1, mx: 1000, up: rulesOf(0, 0, 300, 300, 0), current: 6, desired: 24, want: 16},
		{name: "events: only within the policy period", ups: []int32{1, 5, 9}, mn: 1, mx: 1000, up: rulesOf(10, 60, 0, 0, 0), current: 100, desired: 500, want: 101},
		{name: "events: default scale-down ignores old events", downs: []int32{1, 5, 9}, mn: 1, mx: 1000, current: 10, desired: 5, want: 5},
		{name: "events: scale-down percent from period start", downs: []int32{2, 4, 6}, mn: 1, mx: 1000, down: rulesOf(0, 0, 50, 120, 300), current: 100, desired: 0, want: 56},
		{name: "events: scale-down budget exhausted", downs: []int32{10, 10, 10}, mn: 1, mx: 1000, down: rulesOf(0, 0, 10, 120, 300), current: 100, desired: 0, want: 100},
		{name: "events: scale-down below zero leaves desired", downs: []int32{10, 10, 10}, mn: 1, mx: 1000, down: rulesOf(0, 0, 1000, 120, 300), current: 10, desired: 5, want: 5},
		{name: "events: scale-down with up and down events", ups: []int32{2}, downs: []int32{4}, mn: 1, mx: 1000, down: rulesOf(0, 0, 50, 180, 0), current: 10, desired: 1, want: 6},
		{name: "select Min up: least permissive", mn: 1, mx: 1000, up: withSelect(rulesOf(4, 60, 100, 60, 0), autoscalingv2.MinChangePolicySelect), current: 10, desired: 50, want: 14},
		{name: "select Min down: least permissive", mn: 1, mx: 1000, down: withSelect(rulesOf(4, 60, 50, 60, 0), autoscalingv2.MinChangePolicySelect), current: 10, desired: 1, want: 6},
		{name: "select Disabled up", mn: 1, mx: 1000, up: withSelect(rulesOf(4, 60, 0, 0, 0), autoscalingv2.DisabledPolicySelect), current: 10, desired: 50, want: 10},
		{name: "select Disabled down", mn: 1, mx: 1000, down: withSelect(rulesOf(4, 60, 0, 0, 0), autoscalingv2.DisabledPolicySelect), current: 10, desired: 1, want: 10},
		{name: "select Disabled down still clamps nothing up", mn: 1, mx: 1000, down: withSelect(rulesOf(4, 60, 0, 0, 0), autoscalingv2.DisabledPolicySelect), current: 10, desired: 12, want: 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: tc.up, ScaleDown: tc.down}
			c := New(mustCompile(t, hpa(ptr(tc.mn), tc.mx, b, externalMetric("calls", "10", true))))
			if tc.ups != nil {
				c.ups = spreadEvents(now, tc.ups, 120)
			}
			if tc.downs != nil {
				c.downs = spreadEvents(now, tc.downs, 120)
			}
			if got := c.rateLimit(now, tc.current, tc.desired); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func withSelect(r *autoscalingv2.HPAScalingRules, p autoscalingv2.ScalingPolicySelect) *autoscalingv2.HPAScalingRules {
	r.SelectPolicy = &p
	return r
}

// TestStoreScaleEvents mirrors upstream's test of the same name: events
// older than the direction's longest policy period are marked outdated and
// their slot (the last such) is reused; without behavior nothing is kept.
func TestStoreScaleEvents(t *testing.T) {
	now := ns(time.Hour)
	for _, tc := range []struct {
		name       string
		up         *autoscalingv2.HPAScalingRules
		behavior   bool
		prev, next int32
		before     []int32 // scale-up events over the last 120 s: 100, 60, 20 s ago for three
		wantUps    []int32
	}{
		{name: "no behavior: nothing stored", prev: 5, next: 10, before: []int32{1, 5, 9}, wantUps: []int32{1, 5, 9}},
		{name: "append when none is outdated", behavior: true, up: rulesOf(10, 300, 0, 0, 0), prev: 5, next: 10, before: []int32{1, 5, 9}, wantUps: []int32{1, 5, 9, 5}},
		// 100 s and 60 s ago are outdated for a 50 s period: the later of
		// them is replaced.
		{name: "reuse the last outdated slot", behavior: true, up: rulesOf(10, 50, 0, 0, 0), prev: 5, next: 12, before: []int32{1, 5, 9}, wantUps: []int32{1, 7, 9}},
		{name: "longest period keeps events", behavior: true, up: rulesOf(10, 30, 50, 90, 0), prev: 5, next: 8, before: []int32{1, 5, 9}, wantUps: []int32{3, 5, 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b *autoscalingv2.HorizontalPodAutoscalerBehavior
			if tc.behavior {
				b = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: tc.up}
			}
			c := New(mustCompile(t, hpa(nil, 100, b, podsMetric("calls", "80"))))
			c.ups = spreadEvents(now, tc.before, 120)
			c.storeScaleEvent(now, tc.prev, tc.next)
			want := tc.wantUps
			if len(c.ups) != len(want) {
				t.Fatalf("events %+v, want changes %v", c.ups, want)
			}
			for i := range want {
				if c.ups[i].change != want[i] {
					t.Fatalf("events %+v, want changes %v", c.ups, want)
				}
			}
		})
	}
}
