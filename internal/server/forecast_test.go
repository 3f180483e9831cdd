package server

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/rtcscale/rtcscale/adapter"
	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/internal/natstest"
	"github.com/rtcscale/rtcscale/predictor"
	"github.com/rtcscale/rtcscale/sample"
)

// morningRamp is a daily call load: 30 calls, then from 08:00 a ramp of 6
// calls a minute to 150 at 08:20, until 17:00.
func morningRamp(t time.Time) float64 {
	m := t.Hour()*60 + t.Minute()
	switch {
	case m < 8*60 || m >= 17*60:
		return 30
	case m < 8*60+20:
		return 30 + 6*float64(m-8*60)
	}
	return 150
}

// startedPod creates a Ready pod of a ReplicaSet that took startup from
// creation to Ready.
func (r *rig) startedPod(ns, name, rs string, created time.Time, startup time.Duration) string {
	r.t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(created),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs, UID: "rs-uid", Controller: ptr(true)}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(created.Add(startup))}}},
	}
	if _, err := r.client.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		r.t.Fatal(err)
	}
	return name
}

func value(t *testing.T, s string) float64 {
	t.Helper()
	q, err := resource.ParseQuantity(s)
	if err != nil {
		t.Fatal(err)
	}
	return q.AsApproximateFloat64()
}

// TestForecastFromLiveNATSHistory runs the forecast end to end: four days
// of history in a real JetStream stream, then two hours of samples
// published on NATS, collected, recorded each minute and served as
// calls_forecast through the metrics APIs; then an adapter restart.
func TestForecastFromLiveNATSHistory(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2024, 6, 6, 6, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := start
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set := func(t time.Time) { mu.Lock(); defer mu.Unlock(); now = t }
	cfg := predictor.LiveConfig{Gauges: []string{"calls"}, Now: clock}
	r := newRig(t, collector.Options{Now: clock})
	live, err := predictor.NewLive(r.Store, cfg, r.Registry)
	if err != nil {
		t.Fatal(err)
	}
	r.serve(t, adapter.Options{Forecaster: live})
	r.deployment("voice", "asterisk", 0)
	// Pods take 2m30s to start: the learned lead is that and a minute.
	pods := []string{
		r.startedPod("voice", "asterisk-7c9-a", "asterisk-7c9", start.Add(-time.Hour), 150*time.Second),
		r.startedPod("voice", "asterisk-7c9-b", "asterisk-7c9", start.Add(-2*time.Hour), 150*time.Second),
	}
	eventually(t, "informers see the pods", func() (bool, string) { return r.Store.Stats().KnownPods == 2, "" })

	js, err := jetstream.New(r.nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := predictor.OpenStore(ctx, js, predictor.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	deployment := collector.Workload{Kind: collector.WorkloadDeployment, Name: "asterisk"}
	key := predictor.SeriesKey("voice", deployment, "calls")
	for at := start.Add(-4 * 24 * time.Hour); at.Before(start); at = at.Add(time.Minute) {
		if err := st.Append(ctx, key, time.Minute, at, morningRamp(at)); err != nil {
			t.Fatal(err)
		}
	}
	if err := live.Load(ctx, st); err != nil {
		t.Fatal(err)
	}

	const object = cm2 + "/namespaces/voice/deployments.apps/asterisk/calls_forecast"
	const external = "/apis/external.metrics.k8s.io/v1beta1/namespaces/voice/calls_forecast?labelSelector=workload%3Dasterisk"
	forecast := func(path string) float64 {
		t.Helper()
		var l metricValueList
		code, body := r.get(path, &l)
		if code != 200 || len(l.Items) != 1 {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		return value(t, l.Items[0].Value)
	}
	var early float64
	last := start.Add(2*time.Hour - 2*time.Minute) // 07:58
	for at := start; !at.After(last); at = at.Add(time.Minute) {
		set(at)
		v := morningRamp(at)
		r.publish(sample.KindAsterisk, "voice", "calls", map[string]float64{pods[0]: v / 2, pods[1]: v / 2})
		eventually(t, "the minute's samples", func() (bool, string) {
			a, _ := r.Store.WorkloadAggregate("voice", deployment, "calls", labels.Everything())
			return a.Sum == v, fmt.Sprint(a)
		})
		if err := live.Tick(ctx, at); err != nil {
			t.Fatal(err)
		}
		live.Refit(ctx, at)
		if at.Equal(start.Add(time.Hour + 45*time.Minute)) {
			early = forecast(object)
		}
	}
	// 07:45: the ramp is beyond the lead; the forecast is about the load.
	if early < 30 || early > 1.25*30 {
		t.Errorf("calls_forecast %v at 07:45, want about the current 30", early)
	}
	// 07:58: the lead of 3m30s reaches 08:01, where the load is 36.
	got := forecast(object)
	t.Logf("calls_forecast %v at 07:45, %v at 07:58", early, got)
	if got < 36 {
		t.Fatalf("calls_forecast %v at 07:58 with 30 calls now; want at least the 36 of 08:01", got)
	}
	if ext := forecast(external); ext != got {
		t.Fatalf("external calls_forecast %v, object %v", ext, got)
	}
	if m := gathered(t, r, "rtcscale_forecast"); m != got {
		t.Fatalf("rtcscale_forecast %v, served %v", m, got)
	}

	// Discovery lists the forecasts of workloads only.
	var disc metav1.APIResourceList
	if code, body := r.get(cm2, &disc); code != 200 || !hasResource(disc, "deployments.apps/calls_forecast") || hasResource(disc, "namespaces/calls_forecast") || hasResource(disc, "pods/calls_forecast") {
		t.Fatalf("discovery: %s", body)
	}
	if code, body := r.get("/apis/external.metrics.k8s.io/v1beta1", &disc); code != 200 || !hasResource(disc, "calls_forecast") {
		t.Fatalf("external discovery: %s", body)
	}
	for path, want := range map[string]string{
		cm2 + "/namespaces/voice/pods/*/calls_forecast?labelSelector=app%3Dasterisk":                                                                      "a pod has one value",
		cm2 + "/namespaces/voice/pods/" + pods[0] + "/calls_forecast":                                                                                     "forecasts are of workloads",
		cm2 + "/namespaces/voice/metrics/calls_forecast":                                                                                                  "forecasts are of workloads",
		cm2 + "/namespaces/voice/deployments.apps/asterisk/calls_forecast?metricLabelSelector=a%3Db":                                                      "no metric label selector",
		cm2 + "/namespaces/voice/statefulsets.apps/asterisk/calls_forecast":                                                                               "but deployment voice/asterisk has",
		"/apis/external.metrics.k8s.io/v1beta1/namespaces/voice/calls_forecast":                                                                           "name it in the selector",
		"/apis/external.metrics.k8s.io/v1beta1/namespaces/voice/calls_forecast?labelSelector=" + url.QueryEscape("workload=asterisk,region=eu-west"):      "may only say",
		"/apis/external.metrics.k8s.io/v1beta1/namespaces/voice/calls_forecast?labelSelector=" + url.QueryEscape("workload=asterisk,workload_kind=Pod"):   "is not Deployment",
		"/apis/external.metrics.k8s.io/v1beta1/namespaces/voice/calls_forecast?labelSelector=" + url.QueryEscape("workload in (asterisk,kamailio)"):       "may only say",
		"/apis/external.metrics.k8s.io/v1beta1/namespaces/voice/calls_forecast?labelSelector=" + url.QueryEscape("workload=asterisk,namespace=elsewhere"): "another namespace",
	} {
		code, body := r.get(path, nil)
		if (code != 404 && code != 400) || !strings.Contains(body, want) {
			t.Errorf("%s: %d %s, want %q", path, code, body, want)
		}
	}

	// The adapter restarts: a new Live on a new connection reloads the
	// stream, and its first fit serves the same forecast.
	js2, err := jetstream.New(natstest.Connect(t, r.nc.ConnectedUrl()))
	if err != nil {
		t.Fatal(err)
	}
	st2, err := predictor.OpenStore(ctx, js2, predictor.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	live2, err := predictor.NewLive(r.Store, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	p2 := adapter.NewProvider(r.Store, adapter.Options{Forecaster: live2}, nil)
	// A configuration reload replaces the options; the forecasts stay.
	p2.SetOptions(adapter.Options{ExternalAllNamespaces: true})
	h, err := adapter.NewLocalHandler(p2, true)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	r.api = srv.URL
	if v := forecast(object); v != 30 {
		t.Fatalf("before the history is loaded calls_forecast is %v, want the current 30", v)
	}
	if err := live2.Load(ctx, st2); err != nil {
		t.Fatal(err)
	}
	if n := live2.Refit(ctx, last); n != 1 {
		t.Fatalf("refitted %d series after the restart", n)
	}
	if v := forecast(object); v != got {
		t.Fatalf("after the restart calls_forecast is %v, want %v", v, got)
	}
}

// gathered is the value of the one series of a gauge in the rig's registry.
func gathered(t *testing.T, r *rig, name string) float64 {
	t.Helper()
	mfs, err := r.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no single %s series", name)
	return 0
}
