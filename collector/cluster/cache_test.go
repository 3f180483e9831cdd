package cluster

import (
	"fmt"
	"maps"
	"reflect"
	"runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rtcscale/rtcscale/collector"
)

func pod(name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "voice", Name: name, Labels: labels}}
}

// sameMap reports whether a and b are one map, not two equal ones.
func sameMap(a, b map[string]string) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

func slimmed(t *testing.T, sets *labelSets, p *corev1.Pod) *cachedPod {
	t.Helper()
	obj, err := sets.slim(p)
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*cachedPod)
}

func TestSlimSharesEqualLabels(t *testing.T) {
	sets := newLabelSets()
	rs := func() map[string]string {
		return map[string]string{"app": "asterisk", "pod-template-hash": "6d4cf56db6"}
	}
	a := slimmed(t, sets, pod("asterisk-6d4cf56db6-a", rs()))
	b := slimmed(t, sets, pod("asterisk-6d4cf56db6-b", rs()))
	if !sameMap(a.Labels, b.Labels) {
		t.Error("two pods with the same labels hold two maps")
	}
	if !maps.Equal(b.Labels, rs()) {
		t.Errorf("labels %v, want %v", b.Labels, rs())
	}
	// Sets that would run together without the lengths in the key.
	c := slimmed(t, sets, pod("c", map[string]string{"a": "bc"}))
	d := slimmed(t, sets, pod("d", map[string]string{"ab": "c"}))
	e := slimmed(t, sets, pod("e", map[string]string{"app": "asterisk"}))
	for _, p := range []*cachedPod{c, d, e} {
		if sameMap(p.Labels, a.Labels) || (p != c && sameMap(p.Labels, c.Labels)) {
			t.Errorf("pod %s shares another set's map: %v", p.Name, p.Labels)
		}
	}
	if !maps.Equal(c.Labels, map[string]string{"a": "bc"}) || !maps.Equal(d.Labels, map[string]string{"ab": "c"}) {
		t.Errorf("labels %v and %v, want a=bc and ab=c", c.Labels, d.Labels)
	}
	if p := slimmed(t, sets, pod("bare", nil)); p.Labels != nil || p.labels != nil {
		t.Errorf("a pod without labels got %v", p.Labels)
	}
	// A deep copy is the caller's to change.
	cp := a.DeepCopyObject().(*cachedPod)
	if sameMap(cp.Labels, a.Labels) {
		t.Error("DeepCopyObject shares the pods' labels")
	}
}

// The table forgets a set once no cached pod holds it.
func TestLabelSetsForgetUnusedSets(t *testing.T) {
	sets := newLabelSets()
	kept := slimmed(t, sets, pod("kept", map[string]string{"app": "kamailio"}))
	func() {
		for i := range 100 {
			slimmed(t, sets, pod(fmt.Sprint("gone-", i), map[string]string{"app": "rtpengine", "pod-template-hash": fmt.Sprint(i)}))
		}
	}()
	// Cleanups run after a collection, on their own goroutine: collect
	// until they have, a bounded number of times.
	entries := func() int {
		sets.mu.Lock()
		defer sets.mu.Unlock()
		return len(sets.sets)
	}
	for range 100 {
		if entries() == 1 {
			break
		}
		runtime.GC()
		runtime.Gosched()
	}
	if n := entries(); n != 1 {
		t.Fatalf("%d sets in the table after the pods holding 100 of them are gone, want 1", n)
	}
	again := slimmed(t, sets, pod("again", map[string]string{"app": "kamailio"}))
	if !sameMap(again.Labels, kept.Labels) {
		t.Error("a set still held was forgotten")
	}
	runtime.KeepAlive(kept)
}

func TestCachedPodKeepsWhatTheStoreIsTold(t *testing.T) {
	created := metav1.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	ready := metav1.Date(2026, 12, 2, 7, 2, 30, 0, time.UTC)
	yes := true
	p := pod("asterisk-6d4cf56db6-a", map[string]string{"app": "asterisk"})
	p.CreationTimestamp = created
	p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "asterisk-6d4cf56db6", Controller: &yes}}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: ready}}
	got := slimmed(t, newLabelSets(), p).info()
	want := collector.PodInfo{
		Namespace: "voice", Name: "asterisk-6d4cf56db6-a", Labels: map[string]string{"app": "asterisk"},
		Owner: collector.Workload{Kind: collector.WorkloadReplicaSet, Name: "asterisk-6d4cf56db6"},
		Ready: true, ReadySince: ready.Time, Created: created.Time,
	}
	// The cache keeps the ready time in milliseconds: the same instant,
	// in the local zone.
	if !got.ReadySince.Equal(want.ReadySince) {
		t.Errorf("ready since %v, want %v", got.ReadySince, want.ReadySince)
	}
	got.ReadySince = want.ReadySince
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	// Pending, with no Ready condition yet: not ready, and since no time.
	p.Status = corev1.PodStatus{Phase: corev1.PodPending}
	if got := slimmed(t, newLabelSets(), p).info(); got.Ready || !got.ReadySince.IsZero() {
		t.Errorf("a pending pod: ready %v since %v, want not ready since the zero time", got.Ready, got.ReadySince)
	}
}
