package collector

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/rtcscale/rtcscale/sample"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

func newTestStore(opts Options) (*Store, *clock) {
	c := &clock{t: t0}
	opts.Now = c.Now
	return NewStore(opts, nil), c
}

func smp(ns, pod string, at time.Time, gauges ...sample.Gauge) *sample.Sample {
	return &sample.Sample{Kind: sample.KindAsterisk, Namespace: ns, Pod: pod, Region: "eu", Time: at, Interval: 5 * time.Second, Gauges: gauges}
}

func calls(v float64) sample.Gauge { return sample.Gauge{Name: sample.GaugeCalls, Value: v} }

func mustIngest(t *testing.T, s *Store, x *sample.Sample) {
	t.Helper()
	if r := s.Ingest(x); r != sample.Accepted {
		t.Fatalf("sample for %s/%s rejected: %s", x.Namespace, x.Pod, r.Description())
	}
}

func readyPod(ns, name, app string, owner Workload) PodInfo {
	return PodInfo{Namespace: ns, Name: name, Labels: map[string]string{"app": app}, Owner: owner, Ready: true, ReadySince: t0.Add(-time.Hour)}
}

func podValues(s *Store, ns, sel, gauge string) map[string]float64 {
	out := map[string]float64{}
	vals, _ := s.PodValues(ns, labels.SelectorFromSet(labels.Set(mustSet(sel))), gauge, labels.Everything(), nil)
	for _, v := range vals {
		out[v.Pod] = v.Value
	}
	return out
}

func mustSet(sel string) map[string]string {
	if sel == "" {
		return nil
	}
	set, err := labels.ConvertSelectorToLabelsMap(sel)
	if err != nil {
		panic(err)
	}
	return set
}

func TestStaleSamplesAreNotServed(t *testing.T) {
	s, c := newTestStore(Options{StaleAfter: 3})
	s.UpsertPod(readyPod("voice", "a-1", "a", Workload{}))
	mustIngest(t, s, smp("voice", "a-1", t0, calls(7)))

	c.Add(15 * time.Second) // exactly 3 intervals: still fresh
	if got := podValues(s, "voice", "app=a", "calls"); got["a-1"] != 7 {
		t.Fatalf("at the limit: got %v, want a-1=7", got)
	}
	c.Add(time.Millisecond)
	if got := podValues(s, "voice", "app=a", "calls"); len(got) != 0 {
		t.Fatalf("past the limit: got %v, want nothing", got)
	}
	_, cov := s.PodValues("voice", labels.Everything(), "calls", labels.Everything(), nil)
	if cov.Pods != 1 || cov.Fresh != 0 || cov.Missing != 1 || !cov.NewestStale.Equal(t0) {
		t.Fatalf("coverage %+v", cov)
	}
	if n := s.Sweep(); n != 1 {
		t.Fatalf("swept %d samples, want 1", n)
	}
	if st := s.Stats(); st.Series != 0 || st.KnownPods != 1 {
		t.Fatalf("after sweep: %+v", st)
	}
	// A new sample brings the pod back.
	mustIngest(t, s, smp("voice", "a-1", c.Now(), calls(3)))
	if got := podValues(s, "voice", "app=a", "calls"); got["a-1"] != 3 {
		t.Fatalf("after a new sample: %v", got)
	}
}

func TestExplicitZeroIsServed(t *testing.T) {
	s, _ := newTestStore(Options{})
	s.UpsertPod(readyPod("voice", "a-1", "a", Workload{}))
	mustIngest(t, s, smp("voice", "a-1", t0, calls(0)))
	got := podValues(s, "voice", "app=a", "calls")
	if v, ok := got["a-1"]; !ok || v != 0 {
		t.Fatalf("got %v, want an explicit 0 for a-1", got)
	}
}

func TestStoreRejections(t *testing.T) {
	// The pods are unknown to the cluster: theirs are the limits at work.
	s, c := newTestStore(Options{MaxUnknownSeries: 3, MaxUnknownSeriesPerNamespace: 2, MaxGaugeNames: 2, MaxFuture: time.Second})
	mustIngest(t, s, smp("a", "p1", t0, calls(1)))
	cases := []struct {
		name string
		in   *sample.Sample
		want sample.Reason
	}{
		{"future", smp("a", "p1", t0.Add(1001*time.Millisecond), calls(9)), sample.ReasonFuture},
		{"within skew", smp("a", "p1", t0.Add(time.Second), calls(2)), sample.Accepted},
		{"too old", smp("a", "p9", t0.Add(-16*time.Second), calls(9)), sample.ReasonTooOld},
		{"out of order", smp("a", "p1", t0.Add(500*time.Millisecond), calls(9)), sample.ReasonOutOfOrder},
		{"duplicate", smp("a", "p1", t0.Add(time.Second), calls(9)), sample.ReasonDuplicate},
		{"per namespace limit ok", smp("a", "p2", t0, calls(1)), sample.Accepted},
		{"per namespace limit", smp("a", "p3", t0, calls(9)), sample.ReasonSeriesLimit},
		{"other namespace", smp("b", "p1", t0, calls(1)), sample.Accepted},
		{"total limit", smp("c", "p1", t0, calls(9)), sample.ReasonSeriesLimit},
		{"second gauge name", smp("a", "p2", t0.Add(time.Millisecond), calls(1), sample.Gauge{Name: "channels", Value: 2}), sample.Accepted},
		{"gauge name limit", smp("a", "p2", t0.Add(2*time.Millisecond), sample.Gauge{Name: "stress", Value: 9}), sample.ReasonGaugeNameLimit},
	}
	for _, tc := range cases {
		if got := s.Ingest(tc.in); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	// No rejection changed what is stored.
	s.UpsertPod(readyPod("a", "p1", "x", Workload{}))
	s.UpsertPod(readyPod("a", "p2", "x", Workload{}))
	if got := podValues(s, "a", "app=x", "calls"); got["p1"] != 2 || got["p2"] != 1 || len(got) != 2 {
		t.Fatalf("stored values %v, want p1=2 p2=1", got)
	}
	if st := s.Stats(); st.Series != 3 || st.GaugeNames != 2 {
		t.Fatalf("stats %+v", st)
	}
	if _, ok := s.gaugeID("stress"); ok {
		t.Fatal("a refused gauge name was registered")
	}
	c.Add(time.Hour)
	s.Sweep()
	if st := s.Stats(); st.Series != 0 {
		t.Fatalf("after sweep: %+v", st)
	}
	// Limits count live series: room again.
	mustIngest(t, s, smp("c", "p1", c.Now(), calls(1)))
}

func TestSequenceAndRestarts(t *testing.T) {
	s, _ := newTestStore(Options{})
	x := smp("a", "p1", t0, calls(1))
	x.Seq = 10
	mustIngest(t, s, x)
	same := *x
	same.Seq = 11 // two samples in one millisecond: the later sequence wins
	if r := s.Ingest(&same); r != sample.Accepted {
		t.Fatalf("same ms, newer seq: %s", r)
	}
	restarted := smp("a", "p1", t0.Add(time.Second), calls(5))
	restarted.Seq = 0 // the sidecar restarted: time decides, not the sequence
	if r := s.Ingest(restarted); r != sample.Accepted {
		t.Fatalf("sidecar restart: %s", r)
	}
}

func TestPodDeletionDropsSeries(t *testing.T) {
	s, _ := newTestStore(Options{})
	s.UpsertPod(readyPod("voice", "a-1", "a", Workload{}))
	s.UpsertPod(readyPod("voice", "a-2", "a", Workload{}))
	mustIngest(t, s, smp("voice", "a-1", t0, calls(1)))
	mustIngest(t, s, smp("voice", "a-2", t0, calls(2)))
	s.DeletePod("voice", "a-1")
	if got := podValues(s, "voice", "app=a", "calls"); len(got) != 1 || got["a-2"] != 2 {
		t.Fatalf("got %v, want only a-2", got)
	}
	if st := s.Stats(); st.Series != 1 || st.KnownPods != 1 {
		t.Fatalf("stats %+v", st)
	}
	s.DeletePod("voice", "nope") // unknown pods are no error
	s.DeletePod("nope", "nope")
}

func TestUnknownPodsAreNotServed(t *testing.T) {
	s, _ := newTestStore(Options{})
	mustIngest(t, s, smp("voice", "ghost", t0, calls(5)))
	if got := podValues(s, "voice", "", "calls"); len(got) != 0 {
		t.Fatalf("a pod the cluster does not know was served: %v", got)
	}
	// When the informer catches up, the sample is there.
	s.UpsertPod(readyPod("voice", "ghost", "g", Workload{}))
	if got := podValues(s, "voice", "app=g", "calls"); got["ghost"] != 5 {
		t.Fatalf("got %v", got)
	}
}

func TestOwnerResolutionAndAggregates(t *testing.T) {
	s, c := newTestStore(Options{StartupGrace: 30 * time.Second})
	rs := Workload{Kind: WorkloadReplicaSet, Name: "ast-5d4"}
	sts := Workload{Kind: WorkloadStatefulSet, Name: "kam"}
	// The pods arrive before their ReplicaSet: resolution happens at query time.
	s.UpsertPod(readyPod("voice", "ast-5d4-a", "ast", rs))
	s.UpsertPod(readyPod("voice", "ast-5d4-b", "ast", rs))
	s.UpsertPod(readyPod("voice", "kam-0", "kam", sts))
	for pod, v := range map[string]float64{"ast-5d4-a": 10, "ast-5d4-b": 30, "kam-0": 7} {
		mustIngest(t, s, smp("voice", pod, t0, calls(v)))
	}
	dep := Workload{Kind: WorkloadDeployment, Name: "ast"}
	if a, _ := s.WorkloadAggregate("voice", dep, "calls", labels.Everything()); a.Count != 0 {
		t.Fatalf("deployment resolved before its ReplicaSet was known: %+v", a)
	}
	s.SetReplicaSet("voice", "ast-5d4", "ast")
	a, cov := s.WorkloadAggregate("voice", dep, "calls", labels.Everything())
	if a.Sum != 40 || a.Max != 30 || a.Count != 2 || cov.Missing != 0 || !a.Oldest.Equal(t0) {
		t.Fatalf("deployment aggregate %+v %+v", a, cov)
	}
	if a, _ := s.WorkloadAggregate("voice", sts, "calls", labels.Everything()); a.Sum != 7 {
		t.Fatalf("statefulset aggregate %+v", a)
	}
	if a, _ := s.NamespaceAggregate("voice", "calls", labels.Everything()); a.Sum != 47 || a.Count != 3 {
		t.Fatalf("namespace aggregate %+v", a)
	}
	// The oldest sample dates the aggregate.
	c.Add(2 * time.Second)
	mustIngest(t, s, smp("voice", "ast-5d4-a", c.Now(), calls(12)))
	if a, _ := s.WorkloadAggregate("voice", dep, "calls", labels.Everything()); a.Sum != 42 || !a.Oldest.Equal(t0) {
		t.Fatalf("after one update %+v", a)
	}
	// A third pod, Ready long ago, that never published: the sum is incomplete.
	s.UpsertPod(readyPod("voice", "ast-5d4-c", "ast", rs))
	if _, cov := s.WorkloadAggregate("voice", dep, "calls", labels.Everything()); cov.Missing != 1 {
		t.Fatalf("silent pod not reported missing: %+v", cov)
	}
	// ...but not in the namespace view, where silent pods may be anything.
	if _, cov := s.NamespaceAggregate("voice", "calls", labels.Everything()); cov.Missing != 0 {
		t.Fatalf("namespace view counts a silent pod missing: %+v", cov)
	}
	// A pod that only just became Ready is given the start-up grace.
	fresh := readyPod("voice", "ast-5d4-c", "ast", rs)
	fresh.ReadySince = c.Now().Add(-10 * time.Second)
	s.UpsertPod(fresh)
	if _, cov := s.WorkloadAggregate("voice", dep, "calls", labels.Everything()); cov.Missing != 0 {
		t.Fatalf("pod within start-up grace reported missing: %+v", cov)
	}
	s.DeleteReplicaSet("voice", "ast-5d4")
	if a, _ := s.WorkloadAggregate("voice", dep, "calls", labels.Everything()); a.Count != 0 {
		t.Fatalf("aggregate after the ReplicaSet was deleted: %+v", a)
	}
}

// TestDrainingCountsZero: a draining pod's calls are ending where they are,
// so every view serves them as 0 (the pod stays in scope and fresh: it is
// not missing), unless the metric selector names the draining label.
func TestDrainingCountsZero(t *testing.T) {
	s, _ := newTestStore(Options{})
	s.SetReplicaSet("voice", "ast-1", "ast")
	dep := Workload{Kind: WorkloadDeployment, Name: "ast"}
	rs := Workload{Kind: WorkloadReplicaSet, Name: "ast-1"}
	s.UpsertPod(readyPod("voice", "ast-1-a", "ast", rs))
	s.UpsertPod(readyPod("voice", "ast-1-b", "ast", rs))
	mustIngest(t, s, smp("voice", "ast-1-a", t0, calls(60)))
	d := smp("voice", "ast-1-b", t0, calls(40))
	d.Draining = true
	mustIngest(t, s, d)

	sums := func(sel labels.Selector) []float64 {
		w, wc := s.WorkloadAggregate("voice", dep, "calls", sel)
		n, nc := s.NamespaceAggregate("voice", "calls", sel)
		x, xc := s.SeriesAggregate("voice", sel, "calls")
		for _, c := range []Coverage{wc, nc, xc} {
			if c.Fresh != 2 || c.Missing != 0 {
				t.Fatalf("selector %q: coverage %+v, want both pods fresh", sel, c)
			}
		}
		return []float64{w.Sum, n.Sum, x.Sum}
	}
	if got := sums(labels.Everything()); !slices.Equal(got, []float64{60, 60, 60}) {
		t.Errorf("workload, namespace, series sums %v, want the serving pod's 60 each", got)
	}
	real := labels.SelectorFromSet(labels.Set{LabelDraining: "true"})
	if w, _ := s.WorkloadAggregate("voice", dep, "calls", real); w.Sum != 40 || w.Count != 1 {
		t.Errorf("draining=true: %+v, want the draining pod's real 40", w)
	}
	in, _ := labels.Parse("draining in (true,false)")
	if w, _ := s.WorkloadAggregate("voice", dep, "calls", in); w.Sum != 100 {
		t.Errorf("draining in (true,false): %+v, want every pod's real load, 100", w)
	}

	vals, _ := s.PodValues("voice", labels.Everything(), "calls", labels.Everything(), nil)
	got := map[string]float64{}
	for _, v := range vals {
		got[v.Pod] = v.Value
	}
	if !maps.Equal(got, map[string]float64{"ast-1-a": 60, "ast-1-b": 0}) {
		t.Errorf("Pods metric %v: want the draining pod served as a fresh 0", got)
	}
	if v, _, ok := s.PodValue("voice", "ast-1-b", "calls", real); !ok || v.Value != 40 {
		t.Errorf("PodValue draining=true: %+v %v", v, ok)
	}
	if v, _, ok := s.PodValue("voice", "ast-1-b", "calls", labels.Everything()); !ok || v.Value != 0 {
		t.Errorf("PodValue: %+v %v, want a fresh 0", v, ok)
	}
	for _, g := range s.Workloads(nil) {
		if g.Workload == dep && g.Gauge == "calls" && g.Aggregate.Sum != 60 {
			t.Errorf("the predictor's view of %v: %+v, want 60", dep, g.Aggregate)
		}
	}

	// Back to serving, its calls count again.
	mustIngest(t, s, smp("voice", "ast-1-b", t0.Add(time.Second), calls(40)))
	if got := sums(labels.Everything()); !slices.Equal(got, []float64{100, 100, 100}) {
		t.Errorf("after the drain ended: %v", got)
	}
}

func TestSeriesLabelsSelect(t *testing.T) {
	s, _ := newTestStore(Options{})
	s.SetReplicaSet("voice", "ast-1", "ast")
	s.UpsertPod(readyPod("voice", "ast-1-a", "ast", Workload{Kind: WorkloadReplicaSet, Name: "ast-1"}))
	s.UpsertPod(readyPod("voice", "kam-0", "kam", Workload{Kind: WorkloadStatefulSet, Name: "kam"}))
	a := smp("voice", "ast-1-a", t0, calls(10))
	a.Node = "n1"
	k := smp("voice", "kam-0", t0, calls(5))
	k.Kind, k.Region = sample.KindKamailio, "us"
	mustIngest(t, s, a)
	mustIngest(t, s, k)
	for sel, want := range map[string]float64{
		"":                                      15,
		"kind=asterisk":                         10,
		"kind in (asterisk,kamailio)":           15,
		"region=us":                             5,
		"workload=ast,workload_kind=Deployment": 10,
		"workload_kind=StatefulSet":             5,
		"draining=true":                         0,
		"draining!=true":                        15,
		"node=n1":                               10,
		"!node":                                 5,
		"pod=kam-0,namespace=voice":             5,
		"kind=jvb":                              0,
	} {
		parsed, err := labels.Parse(sel)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := s.SeriesAggregate("voice", parsed, "calls")
		if got.Sum != want {
			t.Errorf("selector %q: sum %v, want %v", sel, got.Sum, want)
		}
	}
	if got, _ := s.SeriesAggregate("", labels.Everything(), "calls"); got.Sum != 15 {
		t.Fatalf("all namespaces: %+v", got)
	}
	// The metric label selector of a Pods metric works on the same labels.
	vals, _ := s.PodValues("voice", labels.Everything(), "calls", labels.SelectorFromSet(labels.Set{"kind": "kamailio"}), nil)
	if len(vals) != 1 || vals[0].Pod != "kam-0" {
		t.Fatalf("metric label selector: %+v", vals)
	}
}

func TestUnknownGauge(t *testing.T) {
	s, _ := newTestStore(Options{})
	if _, cov := s.NamespaceAggregate("voice", "calls", labels.Everything()); cov.GaugeKnown {
		t.Fatal("gauge known in an empty store")
	}
	if _, cov, ok := s.PodValue("voice", "x", "calls", labels.Everything()); ok || cov.GaugeKnown {
		t.Fatal("pod value in an empty store")
	}
}

// TestConcurrentIngestAndQuery is for the race detector: writers, readers
// and sweeps at once must neither race nor lose a pod's latest value.
func TestConcurrentIngestAndQuery(t *testing.T) {
	s, _ := newTestStore(Options{})
	const pods, rounds = 50, 200
	for i := range pods {
		s.UpsertPod(readyPod("voice", fmt.Sprintf("p-%d", i), "a", Workload{Kind: WorkloadStatefulSet, Name: "a"}))
	}
	var writers, readers sync.WaitGroup
	for w := range 2 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for r := range rounds {
				for i := w; i < pods; i += 2 {
					x := smp("voice", fmt.Sprintf("p-%d", i), t0.Add(time.Duration(r)*time.Millisecond), calls(float64(r)))
					if got := s.Ingest(x); got != sample.Accepted {
						t.Errorf("rejected: %s", got)
						return
					}
				}
			}
		}()
	}
	stop := make(chan struct{})
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				s.PodValues("voice", labels.Everything(), "calls", labels.Everything(), nil)
				s.WorkloadAggregate("voice", Workload{Kind: WorkloadStatefulSet, Name: "a"}, "calls", labels.Everything())
				s.Sweep()
				s.Stats()
			}
		}()
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	a, _ := s.WorkloadAggregate("voice", Workload{Kind: WorkloadStatefulSet, Name: "a"}, "calls", labels.Everything())
	if a.Count != pods || a.Sum != pods*(rounds-1) {
		t.Fatalf("after concurrent ingest: %+v, want %d pods summing %d", a, pods, pods*(rounds-1))
	}
}

// TestSelectionsFollowTheCluster checks that cached selections see every
// change that can alter them.
func TestSelectionsFollowTheCluster(t *testing.T) {
	s, _ := newTestStore(Options{})
	rs := Workload{Kind: WorkloadReplicaSet, Name: "a-1"}
	s.UpsertPod(readyPod("voice", "p1", "a", rs))
	mustIngest(t, s, smp("voice", "p1", t0, calls(1)))
	mustIngest(t, s, smp("voice", "p2", t0, calls(2)))
	dep := Workload{Kind: WorkloadDeployment, Name: "a"}
	sum := func() float64 { a, _ := s.WorkloadAggregate("voice", dep, "calls", labels.Everything()); return a.Sum }
	if got := podValues(s, "voice", "app=a", "calls"); len(got) != 1 || sum() != 0 {
		t.Fatalf("start: %v, sum %v", got, sum())
	}
	s.SetReplicaSet("voice", "a-1", "a")
	if sum() != 1 {
		t.Fatalf("after the ReplicaSet: %v", sum())
	}
	s.UpsertPod(readyPod("voice", "p2", "a", rs)) // a new pod
	if got := podValues(s, "voice", "app=a", "calls"); len(got) != 2 || sum() != 3 {
		t.Fatalf("after a new pod: %v, sum %v", got, sum())
	}
	relabelled := readyPod("voice", "p2", "b", rs) // labels change
	s.UpsertPod(relabelled)
	if got := podValues(s, "voice", "app=a", "calls"); len(got) != 1 {
		t.Fatalf("after relabelling: %v", got)
	}
	if got := podValues(s, "voice", "app=b", "calls"); got["p2"] != 2 {
		t.Fatalf("new label: %v", got)
	}
	s.DeletePod("voice", "p1")
	if sum() != 2 {
		t.Fatalf("after deleting p1: %v", sum())
	}
	s.DeleteReplicaSet("voice", "a-1")
	if sum() != 0 {
		t.Fatalf("after deleting the ReplicaSet: %v", sum())
	}
	// Many distinct selectors do not grow the cache without bound.
	for i := range 3 * maxSelections {
		sel := labels.SelectorFromSet(labels.Set{"app": fmt.Sprint(i)})
		s.PodValues("voice", sel, "calls", labels.Everything(), nil)
	}
	if n := len(s.namespaces["voice"].selections.entries); n > maxSelections {
		t.Fatalf("%d cached selections", n)
	}
}

// TestManyGauges covers samples with more gauges than a pod entry holds
// inline.
func TestManyGauges(t *testing.T) {
	s, _ := newTestStore(Options{})
	s.UpsertPod(readyPod("voice", "p", "a", Workload{Kind: WorkloadStatefulSet, Name: "a"}))
	var gs []sample.Gauge
	for i := range inlineGauges + 3 {
		gs = append(gs, sample.Gauge{Name: fmt.Sprintf("g%d", i), Value: float64(i + 1)})
	}
	mustIngest(t, s, smp("voice", "p", t0, gs...))
	for i := range gs {
		if got := podValues(s, "voice", "app=a", gs[i].Name)["p"]; got != float64(i+1) {
			t.Errorf("%s = %v, want %v", gs[i].Name, got, i+1)
		}
	}
	if got := s.Workloads(nil); len(got) != len(gs) {
		t.Fatalf("Workloads lists %d gauges, want %d", len(got), len(gs))
	}
	// A later, smaller sample does not keep the old ones.
	mustIngest(t, s, smp("voice", "p", t0.Add(time.Second), calls(3)))
	if got := podValues(s, "voice", "app=a", "g8"); len(got) != 0 {
		t.Fatalf("stale gauge served: %v", got)
	}
}

// TestUnknownPodsHaveTheirOwnQuota: a flood of invented pod names fills
// only the quota of pods the cluster does not know; the namespace's real
// pods keep theirs, and a pod whose sample outran the informer moves over
// when the informer reports it.
func TestUnknownPodsHaveTheirOwnQuota(t *testing.T) {
	store, _ := newTestStore(Options{MaxSeriesPerNamespace: 3, MaxUnknownSeriesPerNamespace: 2})
	m := NewMetrics(prometheus.NewRegistry())
	store.metrics = m
	for i := range 100 {
		store.Ingest(smp("voice", fmt.Sprintf("bogus-%07d", i), t0, calls(1)))
	}
	if got := testutil.ToFloat64(m.rejected[sample.ReasonSeriesLimit]); got != 98 {
		t.Fatalf("the flood: %v refused, want 98 (2 held)", got)
	}

	for _, name := range []string{"a-1", "a-2", "a-3"} {
		store.UpsertPod(readyPod("voice", name, "a", Workload{}))
		mustIngest(t, store, smp("voice", name, t0, calls(1)))
	}
	store.UpsertPod(readyPod("voice", "a-4", "a", Workload{}))
	if r := store.Ingest(smp("voice", "a-4", t0, calls(1))); r != sample.ReasonSeriesLimit {
		t.Fatalf("a fourth known pod: %s, want series_limit (the known pods' quota is 3)", r)
	}
	if got := podValues(store, "voice", "app=a", "calls"); len(got) != 3 {
		t.Fatalf("the real pods after the flood: %v", got)
	}

	// One invented name turns out real: its series moves to the known
	// pods, over their quota (the cluster says it exists), and frees a
	// place for a pod whose sample outruns the informer.
	store.UpsertPod(readyPod("voice", "bogus-0000000", "a", Workload{}))
	if st := store.Stats(); st.Series != 5 || st.Unknown != 1 {
		t.Fatalf("after the informer reported one: %+v, want 5 series, 1 unknown", st)
	}
	mustIngest(t, store, smp("voice", "a-5", t0, calls(1)))
	store.UpsertPod(readyPod("voice", "a-5", "a", Workload{}))
	if got := podValues(store, "voice", "app=a", "calls"); len(got) != 5 {
		t.Fatalf("pods served: %v, want a-1..a-3, a-5 and bogus-0000000", got)
	}
}

// TestClockAheadIsNotServedLonger: a sample stamped ahead of the adapter's
// clock (within the allowed skew) goes stale when one stamped on time and
// received at the same moment does.
func TestClockAheadIsNotServedLonger(t *testing.T) {
	s, c := newTestStore(Options{MaxFuture: 10 * time.Second})
	for _, name := range []string{"on-time", "ahead"} {
		s.UpsertPod(readyPod("voice", name, "a", Workload{}))
	}
	mustIngest(t, s, smp("voice", "on-time", t0, calls(1)))
	mustIngest(t, s, smp("voice", "ahead", t0.Add(8*time.Second), calls(2)))

	limit := s.StaleLimit(5 * time.Second)
	c.Add(limit)
	if got := podValues(s, "voice", "app=a", "calls"); len(got) != 2 {
		t.Fatalf("at the staleness limit: %v, want both pods", got)
	}
	c.Add(time.Millisecond)
	if got := podValues(s, "voice", "app=a", "calls"); len(got) != 0 {
		t.Fatalf("past the limit from their arrival: %v, want neither pod", got)
	}
	if a, cov := s.NamespaceAggregate("voice", "calls", labels.Everything()); cov.Fresh != 0 {
		t.Fatalf("the namespace's sum past the limit: %+v %+v", a, cov)
	}
}
