package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	cmv1beta2 "k8s.io/metrics/pkg/apis/custom_metrics/v1beta2"

	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/e2e/framework"
	"github.com/rtcscale/rtcscale/predictor"
	"github.com/rtcscale/rtcscale/sample"
)

// exampleHPAManifest is the HPA on calls and calls_forecast the product
// documents (docs/forecast.md); the forecast scenarios apply it unchanged.
const exampleHPAManifest = "deploy/examples/hpa-asterisk.yaml"

// The forecast scenario's history: the workload's calls every minute for
// historyDays, baselineCalls all day but for the hour from the ramp's time
// of day, at rampCalls. The live load stays at baselineCalls, so the
// history's level is the live one and only its daily ramp is ahead.
const (
	historyDays   = 8
	baselineCalls = 20
	rampCalls     = 200
)

const (
	// forecastLead is the scenario's --forecast-lead: configured rather
	// than learned from the fake kubelet's one-second start-ups (which give
	// the one-minute floor), so that the forecast must look well ahead.
	forecastLead = 5 * time.Minute
	// fitWithin is how soon after the history is written the adapter has
	// fitted it: it starts a second later, loads the stream at once and
	// fits what it loaded after its next tick, which comes within a minute
	// (ticks are in the middle of each minute). The ramp is put on the first
	// whole minute at least forecastLead+fitWithin after the history, so the
	// forecast window [now, now+lead] reaches it only after the fit, and
	// the HPA has to act on a forecast a whole lead ahead of the ramp.
	fitWithin = 90 * time.Second
	// forecastTimeout bounds the scenario: an environment of its own (20 s
	// on an idle machine, a few minutes on a busy one), then up to the ramp.
	forecastTimeout = forecastLead + fitWithin + time.Minute + 5*time.Minute
)

// exampleHPA reads exampleHPAManifest, as it is applied and as the typed
// object it decodes to.
func exampleHPA(t *testing.T) (*unstructured.Unstructured, *autoscalingv2.HorizontalPodAutoscaler) {
	t.Helper()
	objs := repoManifests(t, exampleHPAManifest)
	if len(objs) != 1 || objs[0].GetKind() != "HorizontalPodAutoscaler" {
		t.Fatalf("%s: want one HorizontalPodAutoscaler, got %d objects", exampleHPAManifest, len(objs))
	}
	var h autoscalingv2.HorizontalPodAutoscaler
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(objs[0].Object, &h, true); err != nil {
		t.Fatalf("%s: %v", exampleHPAManifest, err)
	}
	if h.Spec.MinReplicas == nil || h.Spec.ScaleTargetRef.Kind != "Deployment" {
		t.Fatalf("%s: want a minReplicas and a Deployment to scale", exampleHPAManifest)
	}
	return objs[0], &h
}

// podsTarget is the per-pod AverageValue target of h's Pods metric.
func podsTarget(t *testing.T, h *autoscalingv2.HorizontalPodAutoscaler) float64 {
	t.Helper()
	for _, m := range h.Spec.Metrics {
		if m.Pods != nil && m.Pods.Target.AverageValue != nil {
			return m.Pods.Target.AverageValue.AsApproximateFloat64()
		}
	}
	t.Fatalf("%s has no Pods metric with an AverageValue target", exampleHPAManifest)
	return 0
}

// startExampleHPA starts the Deployment the example HPA scales, in its
// namespace ns (created by the caller), with minReplicas pods carrying load
// in all, waits until the adapter serves their calls, and applies the HPA.
// Waiting first keeps the HPA's first sync from reporting a metric it could
// not get, which would be the test's own making.
func startExampleHPA(ctx context.Context, t *testing.T, e *framework.Environment, obj *unstructured.Unstructured, h *autoscalingv2.HorizontalPodAutoscaler, load float64) *workload {
	t.Helper()
	replicas := *h.Spec.MinReplicas
	w := startWorkloadIn(ctx, t, e, h.Namespace, h.Spec.ScaleTargetRef.Name, replicas, framework.SidecarOptions{})
	w.sidecars.SetLoad(load)
	each := load / float64(replicas)
	waitPodValues(ctx, t, e, w, func(v map[string]float64) bool { return len(v) == int(replicas) && allEqual(v, each) })
	apply(ctx, t, e, obj)
	return w
}

// sharedNamespace creates the namespace called name in the shared
// environment, and deletes it when the test ends, waiting until it is gone
// so that the next run (-count, -e2e.keep) can create it again.
func sharedNamespace(ctx context.Context, t *testing.T, e *framework.Environment, name string) {
	t.Helper()
	if err := framework.CreateNamespace(ctx, e.Client, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// t.Context is done by now.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := e.Client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Error(err)
			return
		}
		if err := framework.UntilDeleted[*corev1.Namespace](ctx, e.Client.CoreV1().Namespaces(), name); err != nil {
			t.Error(err)
		}
	})
}

// forecastEnvironment starts an environment of its own (APIServices are
// cluster-wide, and the shared adapter has no history store) whose NATS
// server runs JetStream. Before its adapter starts, the adapter's history
// stream receives historyDays of the Deployment ns/name's calls with the
// ramp at a time of day a few minutes from now (see fitWithin), which it
// returns. The adapter looks forecastLead ahead for that workload.
func forecastEnvironment(ctx context.Context, t *testing.T, ns, name string) (*framework.Environment, time.Time) {
	t.Helper()
	root, err := framework.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	key := predictor.SeriesKey(ns, collector.Workload{Kind: collector.WorkloadDeployment, Name: name}, sample.GaugeCalls)
	var rampAt time.Time
	e, err := framework.StartEnvironment(ctx, root, framework.EnvironmentOptions{
		Options:      controlPlaneOptions(),
		AdapterArgs:  []string{"--forecast-lead=" + ns + "/" + name + "=" + forecastLead.String()},
		Race:         raceEnabled,
		JetStreamDir: t.TempDir(),
		BeforeAdapter: func(ctx context.Context, e *framework.Environment) error {
			now := time.Now()
			rampAt = now.Add(forecastLead + fitWithin).Truncate(time.Minute).Add(time.Minute)
			if err := writeRampHistory(ctx, e.Conn, key, now, rampAt); err != nil {
				return err
			}
			t.Logf("wrote %d days of %s's history in %s; the ramp is at %s", historyDays, key,
				time.Since(now).Round(time.Millisecond), rampAt.Format(time.TimeOnly))
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	stopAtEnd(t, e)
	return e, rampAt
}

// stopAtEnd stops an environment of t's own when t ends, keeping its logs
// if t failed, and fails t if the adapter's log shows a problem.
func stopAtEnd(t *testing.T, e *framework.Environment) {
	t.Cleanup(func() {
		if t.Failed() {
			e.StopKeepDir()
			t.Logf("logs kept in %s", e.Dir)
			return
		}
		e.Stop()
	})
	checkAdapterLog(t, e.Adapter)
}

// writeRampHistory writes the workload key's calls, a value a minute for
// the historyDays up to now, with the ramp at rampAt's time of day, into
// the history stream as the adapter records it: through predictor.Store,
// with the stream's and subjects' defaults, which are the adapter's
// (--history-stream, --history-subject).
func writeRampHistory(ctx context.Context, nc *nats.Conn, key string, now, rampAt time.Time) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	st, err := predictor.OpenStore(ctx, js, predictor.StoreConfig{})
	if err != nil {
		return err
	}
	const day = 24 * time.Hour
	// The minute now is in is the adapter's to record.
	end := now.Truncate(time.Minute)
	for m := end.Add(-historyDays * day); m.Before(end); m = m.Add(time.Minute) {
		v := float64(baselineCalls)
		if since := (m.Sub(rampAt)%day + day) % day; since < time.Hour {
			v = rampCalls
		}
		if err := st.Append(ctx, key, time.Minute, m, v); err != nil {
			return fmt.Errorf("history of %s at %s: %w", key, m, err)
		}
	}
	return nil
}

// objectValue is the value the adapter serves, through the apiserver, for
// a Deployment's metric.
func objectValue(ctx context.Context, e *framework.Environment, ns, deployment, metric string) (float64, error) {
	raw, err := e.Client.CoreV1().RESTClient().Get().
		AbsPath(customV1beta2 + "/namespaces/" + ns + "/deployments.apps/" + deployment + "/" + metric).DoRaw(ctx)
	if err != nil {
		return 0, err
	}
	var list cmv1beta2.MetricValueList
	if err := json.Unmarshal(raw, &list); err != nil {
		return 0, err
	}
	if len(list.Items) != 1 {
		return 0, fmt.Errorf("%s of %s/%s: %d values, want 1", metric, ns, deployment, len(list.Items))
	}
	return list.Items[0].Value.AsApproximateFloat64(), nil
}

// hpaMetric is what h last read for its metric of type typ, per pod (for
// an Object metric with an AverageValue target, the object's value over
// the current replicas), and false if its status has no value for it.
func hpaMetric(h *autoscalingv2.HorizontalPodAutoscaler, typ autoscalingv2.MetricSourceType) (float64, bool) {
	for _, m := range h.Status.CurrentMetrics {
		if m.Type == typ {
			v := metricAverage(m)
			return v, v >= 0
		}
	}
	return 0, false
}

// checkNoMetricErrors fails the test if h's status reports ScalingActive
// other than True or any condition that failed (FailedGetObjectMetric,
// FailedGetPodsMetric, FailedComputeMetricsReplicas, ...), or if the HPA
// controller recorded a Warning event about it since it was created: the
// events cover the syncs between the statuses the test saw.
func checkNoMetricErrors(ctx context.Context, t *testing.T, e *framework.Environment, h *autoscalingv2.HorizontalPodAutoscaler) {
	t.Helper()
	if c := hpaCondition(h, autoscalingv2.ScalingActive); c == nil || c.Status != corev1.ConditionTrue {
		t.Errorf("HPA %s/%s is not ScalingActive: %s", h.Namespace, h.Name, describeHPA(e, h.Namespace, h.Name))
	}
	for _, c := range h.Status.Conditions {
		if strings.HasPrefix(c.Reason, "Failed") {
			t.Errorf("HPA %s/%s: %s=%s %s: %s", h.Namespace, h.Name, c.Type, c.Status, c.Reason, c.Message)
		}
	}
	events, err := e.Client.CoreV1().Events(h.Namespace).List(ctx, metav1.ListOptions{FieldSelector: fields.Set{
		"involvedObject.kind": "HorizontalPodAutoscaler", "involvedObject.name": h.Name, "type": corev1.EventTypeWarning,
	}.String()})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events.Items {
		t.Errorf("HPA %s/%s event %s (%d times): %s", h.Namespace, h.Name, ev.Reason, ev.Count, ev.Message)
	}
}
