package collector

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/rtcscale/rtcscale/sample"
)

func TestWorkloadsListsEveryWorkloadAndGauge(t *testing.T) {
	s, c := newTestStore(Options{})
	dep := Workload{Kind: WorkloadDeployment, Name: "asterisk"}
	s.SetReplicaSet("voice", "asterisk-7c9", "asterisk")
	rs := Workload{Kind: WorkloadReplicaSet, Name: "asterisk-7c9"}
	sts := Workload{Kind: WorkloadStatefulSet, Name: "kamailio"}
	for i := range 3 {
		s.UpsertPod(readyPod("voice", fmt.Sprint("asterisk-", i), "asterisk", rs))
	}
	s.UpsertPod(readyPod("voice", "kamailio-0", "kamailio", sts))
	s.UpsertPod(readyPod("voice", "bare", "bare", Workload{})) // no controller: in no workload
	s.UpsertPod(readyPod("meet", "jvb-0", "jvb", Workload{Kind: WorkloadDeployment, Name: "jvb"}))
	mustIngest(t, s, smp("voice", "asterisk-0", t0, calls(10), sample.Gauge{Name: "channels", Value: 20}))
	mustIngest(t, s, smp("voice", "asterisk-1", t0, calls(5), sample.Gauge{Name: "channels", Value: 10}))
	mustIngest(t, s, smp("voice", "asterisk-2", t0, calls(1)))
	mustIngest(t, s, smp("voice", "kamailio-0", t0, calls(40)))
	mustIngest(t, s, smp("voice", "bare", t0, calls(99)))
	mustIngest(t, s, smp("voice", "unknown-to-the-cluster", t0, calls(99)))

	got := s.Workloads(nil)
	want := []struct {
		ns    string
		w     Workload
		gauge string
		sum   float64
		pods  int
	}{
		{"voice", dep, "calls", 16, 3},
		{"voice", dep, "channels", 30, 2},
		{"voice", sts, "calls", 40, 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Namespace != w.ns || g.Workload != w.w || g.Gauge != w.gauge || g.Aggregate.Sum != w.sum || g.Coverage.Fresh != w.pods || !g.Complete() {
			t.Errorf("entry %d: %+v, want %+v", i, g, w)
		}
		// The same as the adapter's own query of that workload.
		a, _ := s.WorkloadAggregate(g.Namespace, g.Workload, g.Gauge, labels.Everything())
		if a != g.Aggregate {
			t.Errorf("entry %d: %+v, WorkloadAggregate says %+v", i, g.Aggregate, a)
		}
	}

	// Two pods stop publishing: the Deployment's sums are incomplete, and
	// say so, rather than shrink.
	c.Add(10 * time.Second)
	mustIngest(t, s, smp("voice", "asterisk-0", c.Now(), calls(11)))
	c.Add(10 * time.Second)
	mustIngest(t, s, smp("voice", "asterisk-0", c.Now(), calls(12)))
	mustIngest(t, s, smp("voice", "kamailio-0", c.Now(), calls(41)))
	got = s.Workloads(got[:0])
	if len(got) != 3 || got[0].Complete() || got[0].Coverage.Missing != 2 || got[1].Complete() || !got[2].Complete() {
		t.Fatalf("after two pods went silent: %+v", got)
	}
}

func TestStartupQuantile(t *testing.T) {
	s, _ := newTestStore(Options{})
	s.SetReplicaSet("voice", "asterisk-old", "asterisk")
	s.SetReplicaSet("voice", "asterisk-new", "asterisk")
	dep := Workload{Kind: WorkloadDeployment, Name: "asterisk"}
	start := func(name, rs string, created time.Time, took time.Duration) {
		info := PodInfo{Namespace: "voice", Name: name, Owner: Workload{Kind: WorkloadReplicaSet, Name: rs}, Created: created}
		s.UpsertPod(info) // Pending: nothing to note yet
		info.Ready, info.ReadySince = true, created.Add(took)
		s.UpsertPod(info)
		s.UpsertPod(info) // a resync notes nothing twice
	}
	if d, n := s.StartupQuantile("voice", dep, 0.9); n != 0 || d != 0 {
		t.Fatalf("before any pod: %s over %d", d, n)
	}
	// Ten pods of the old ReplicaSet took 1..10 minutes.
	for i := 1; i <= 10; i++ {
		start(fmt.Sprint("old-", i), "asterisk-old", t0.Add(time.Duration(i)*time.Minute), time.Duration(i)*time.Minute)
	}
	if d, n := s.StartupQuantile("voice", dep, 0.9); n != 10 || d != 9*time.Minute {
		t.Fatalf("p90 of 1..10 minutes: %s over %d", d, n)
	}
	if d, _ := s.StartupQuantile("voice", dep, 1); d != 10*time.Minute {
		t.Fatalf("max: %s", d)
	}
	// 32 newer pods of a new ReplicaSet take 30 s: only the most recent 32
	// count, whatever their ReplicaSet.
	for i := range 32 {
		start(fmt.Sprint("new-", i), "asterisk-new", t0.Add(time.Hour+time.Duration(i)*time.Minute), 30*time.Second)
	}
	if d, n := s.StartupQuantile("voice", dep, 0.9); n != 32 || d != 30*time.Second {
		t.Fatalf("after the rollout: %s over %d", d, n)
	}

	// What is not a start-up: a pod first seen Ready long after its
	// creation (it went unready and back), no creation time, a bare pod.
	sts := Workload{Kind: WorkloadStatefulSet, Name: "kamailio"}
	s.UpsertPod(PodInfo{Namespace: "voice", Name: "k-0", Owner: sts, Created: t0, Ready: true, ReadySince: t0.Add(3 * time.Hour)})
	s.UpsertPod(PodInfo{Namespace: "voice", Name: "k-1", Owner: sts, Ready: true, ReadySince: t0})
	s.UpsertPod(PodInfo{Namespace: "voice", Name: "bare", Created: t0, Ready: true, ReadySince: t0.Add(time.Minute)})
	if d, n := s.StartupQuantile("voice", sts, 0.9); n != 0 {
		t.Fatalf("kamailio: %s over %d", d, n)
	}
	// A pod first seen Ready (the adapter starting) counts.
	s.UpsertPod(PodInfo{Namespace: "voice", Name: "k-2", Owner: sts, Created: t0, Ready: true, ReadySince: t0.Add(45 * time.Second)})
	if d, n := s.StartupQuantile("voice", sts, 0.9); n != 1 || d != 45*time.Second {
		t.Fatalf("kamailio after k-2: %s over %d", d, n)
	}
}
