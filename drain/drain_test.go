package drain

import (
	"context"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/sample"
)

func TestCost(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want int32
	}{
		{0, 0}, {1, 1}, {2, 2}, {3, 2}, {4, 3}, {7, 3}, {8, 4}, {40, 6}, {45, 6}, {63, 6}, {64, 7},
		{0.5, 1}, {-1, 0}, {math.NaN(), 0}, {1e300, 997}, {math.Inf(1), math.MaxInt32 - 1},
	} {
		if got := Cost(c.v); got != c.want {
			t.Errorf("Cost(%v) = %d, want %d", c.v, got, c.want)
		}
	}
}

const optIn = "rtcscale.io/deletion-cost"

// testPod is a pod of the test fleet: its labels, state and sample.
type testPod struct {
	name       string
	optOut     bool
	annotation string // "" for none
	phase      corev1.PodPhase
	deleting   bool
	calls      float64 // < 0: no sample
	draining   bool
}

var fleet = []testPod{
	{name: "idle", calls: 0},
	{name: "one-call", calls: 1},
	{name: "busy", calls: 40},
	{name: "draining", calls: 12, draining: true},
	{name: "silent", calls: -1},                             // no sidecar sample yet: kept as busiest
	{name: "silent-costed", calls: -1, annotation: "3"},     // load unknown: keeps its cost
	{name: "in-step", calls: 5, annotation: "3"},            // already right: not written
	{name: "not-opted-in", calls: 0, optOut: true},          // not selected: never touched
	{name: "leaving", calls: 0, deleting: true},             // being deleted: its cost no longer matters
	{name: "pending", calls: 0, phase: corev1.PodPending},   // not running: a ReplicaSet removes it first anyway
	{name: "was-wrong", calls: 0, annotation: "2147483647"}, // the busiest once, idle now
}

func setup(t *testing.T) (*fake.Clientset, *collector.Store) {
	t.Helper()
	var objs []corev1.Pod
	store := collector.NewStore(collector.Options{}, nil)
	now := time.Now()
	for _, p := range fleet {
		pod := corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "voice", Name: p.name, Labels: map[string]string{"app": "asterisk"}},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning},
		}
		if !p.optOut {
			pod.Labels[optIn] = "calls"
		}
		if p.annotation != "" {
			pod.Annotations = map[string]string{Annotation: p.annotation}
		}
		if p.phase != "" {
			pod.Status.Phase = p.phase
		}
		if p.deleting {
			pod.DeletionTimestamp = &metav1.Time{Time: now}
			pod.Finalizers = []string{"example.com/hold"}
		}
		objs = append(objs, pod)
		store.UpsertPod(collector.PodInfo{Namespace: "voice", Name: p.name, Labels: pod.Labels, Ready: true, ReadySince: now})
		if p.calls >= 0 {
			ingest(t, store, p.name, p.calls, p.draining)
		}
	}
	client := fake.NewClientset()
	for i := range objs {
		if _, err := client.CoreV1().Pods("voice").Create(context.Background(), &objs[i], metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return client, store
}

// seq numbers the test's samples, so that two in one millisecond are
// both taken.
var seq atomic.Uint64

func ingest(t *testing.T, store *collector.Store, pod string, calls float64, draining bool) {
	t.Helper()
	s := sample.Sample{Kind: sample.KindAsterisk, Namespace: "voice", Pod: pod, Time: time.Now(), Seq: seq.Add(1), Interval: time.Minute, Draining: draining,
		Gauges: []sample.Gauge{{Name: sample.GaugeCalls, Value: calls}}}
	if r := store.Ingest(&s); r != sample.Accepted {
		t.Fatalf("ingest %s: %s", pod, r.Description())
	}
}

func annotations(t *testing.T, client *fake.Clientset) map[string]string {
	t.Helper()
	pods, err := client.CoreV1().Pods("voice").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range pods.Items {
		if v, ok := p.Annotations[Annotation]; ok {
			got[p.Name] = v
		}
	}
	return got
}

func patches(client *fake.Clientset) int {
	n := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == "patch" {
			n++
		}
	}
	return n
}

// startWatched starts c and waits until its pod informer watches: the
// fake clientset drops changes made between an informer's list and its
// watch, so writing before then could go unseen.
func startWatched(t *testing.T, ctx context.Context, client *fake.Clientset, c *Controller) {
	t.Helper()
	started := make(chan struct{})
	var once sync.Once
	client.PrependWatchReactor("pods", func(action clienttesting.Action) (bool, watch.Interface, error) {
		w, err := client.Tracker().Watch(action.GetResource(), action.GetNamespace(), action.(clienttesting.WatchActionImpl).ListOptions)
		if err != nil {
			return false, nil, err
		}
		once.Do(func() { close(started) })
		return true, w, nil
	})
	if !c.Start(ctx.Done()) {
		t.Fatal("pod informer did not sync")
	}
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("pod informer does not watch")
	}
}

// waitSeen waits until the controller's pod cache holds the annotations
// written, so that the next pass judges the pods as they now are.
func waitSeen(t *testing.T, c *Controller, want map[string]string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		pods, err := c.pods.List(labels.Everything())
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, p := range pods {
			if w, ok := want[p.Name]; ok && p.Annotations[Annotation] == w {
				seen++
			}
		}
		if seen == len(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pod cache holds %d of %d annotations written", seen, len(want))
		}
		time.Sleep(10 * time.Millisecond) // the fake clientset's watch has no other signal
	}
}

func TestController(t *testing.T) {
	client, store := setup(t)
	c, err := New(client, store, Options{Selector: labels.SelectorFromSet(labels.Set{optIn: "calls"})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	startWatched(t, ctx, client, c)

	n, err := c.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"idle":          "0",
		"one-call":      "1",
		"busy":          "6",
		"draining":      "-1",
		"silent":        strconv.Itoa(math.MaxInt32),
		"silent-costed": "3",
		"in-step":       "3",
		"was-wrong":     "0",
	}
	if got := annotations(t, client); !equal(got, want) {
		t.Errorf("after one pass:\n got %v\nwant %v", got, want)
	}
	if n != 6 || patches(client) != 6 {
		t.Errorf("wrote %d pods with %d patches, want 6 (idle, one-call, busy, draining, silent, was-wrong)", n, patches(client))
	}

	// Nothing changed: the next pass writes nothing.
	waitSeen(t, c, want)
	if n, err := c.Sync(ctx); n != 0 || err != nil {
		t.Errorf("second pass wrote %d (%v), want 0", n, err)
	}
	// Load moves within a bucket (40 -> 45 calls): nothing is written. It
	// halves (busy -> 3 calls), and the silent pod starts publishing: those
	// two are.
	ingest(t, store, "busy", 45, false)
	if n, _ := c.Sync(ctx); n != 0 {
		t.Errorf("a change within a bucket wrote %d pods", n)
	}
	ingest(t, store, "busy", 3, false)
	ingest(t, store, "silent", 0, false)
	if n, err := c.Sync(ctx); n != 2 || err != nil {
		t.Errorf("wrote %d (%v), want 2", n, err)
	}
	want["busy"], want["silent"] = "2", "0"
	if got := annotations(t, client); !equal(got, want) {
		t.Errorf("after the load changed:\n got %v\nwant %v", got, want)
	}
}

func TestControllerBoundsWrites(t *testing.T) {
	client, store := setup(t)
	c, err := New(client, store, Options{Selector: labels.SelectorFromSet(labels.Set{optIn: "calls"}), MaxPatches: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	startWatched(t, ctx, client, c)
	if n, err := c.Sync(ctx); n != 4 || err != nil {
		t.Fatalf("first pass wrote %d (%v), want the limit, 4", n, err)
	}
	waitSeen(t, c, annotations(t, client))
	if n, err := c.Sync(ctx); n != 2 || err != nil {
		t.Errorf("second pass wrote %d (%v), want the 2 left", n, err)
	}
}

func TestNewNeedsSelector(t *testing.T) {
	for _, sel := range []labels.Selector{nil, labels.Everything()} {
		if _, err := New(fake.NewClientset(), collector.NewStore(collector.Options{}, nil), Options{Selector: sel}); err == nil {
			t.Errorf("selector %v accepted: every pod would be managed", sel)
		}
	}
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}
