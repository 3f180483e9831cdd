package e2e

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	"github.com/rtcscale/rtcscale/e2e/framework"
	"github.com/rtcscale/rtcscale/sample"
)

// The HPA controller runs with a 10 s downscale stabilization window
// (framework.Options default); these bounds give every scenario room for
// several windows on a busy machine without letting a stuck one hang.
const scenarioTimeout = 3 * time.Minute

// TestHPA drives the real HPA controller with metrics rtcscale serves from
// samples published on NATS, and checks what it does with them: the
// replicas of the Deployment and the HPA's status conditions.
func TestHPA(t *testing.T) {
	// pods: a Pods metric with an AverageValue target follows the load up,
	// and down once the stabilization window has passed.
	t.Run("pods", func(t *testing.T) {
		t.Parallel()
		e, ctx := env(t), testContext(t, scenarioTimeout)
		w := startWorkload(ctx, t, e, "asterisk", 2, framework.SidecarOptions{})
		w.sidecars.SetLoad(20) // 10 per pod: at target
		createHPA(ctx, t, e, w.ns, newHPA(w.name, 1, 10, podsMetric("calls", "10")))
		waitScaled(ctx, t, e, w.ns, w.name, 2, 2)

		// 75 calls at 10 per pod need 8 pods; the HPA doubles at most per
		// step (2 -> 4 -> 8) and must not overshoot.
		w.sidecars.SetLoad(75)
		waitScaled(ctx, t, e, w.ns, w.name, 8, 8)

		// 25 calls need 3 pods, but only once every recommendation of the
		// last 10 s says so: the HPA first reports the stabilization.
		w.sidecars.SetLoad(25)
		waitHPA(ctx, t, e, w.ns, w.name, "holding the scale-down (ScaleDownStabilized)", func(h *autoscalingv2.HorizontalPodAutoscaler) bool {
			c := hpaCondition(h, autoscalingv2.AbleToScale)
			return c != nil && c.Reason == "ScaleDownStabilized"
		})
		waitScaled(ctx, t, e, w.ns, w.name, 3, 8)
	})

	// object: an Object metric on the Deployment (the sum over its pods)
	// with an AverageValue target: replicas = ceil(sum / target).
	t.Run("object", func(t *testing.T) {
		t.Parallel()
		e, ctx := env(t), testContext(t, scenarioTimeout)
		w := startWorkload(ctx, t, e, "kamailio", 1, framework.SidecarOptions{Kind: sample.KindKamailio})
		w.sidecars.SetLoad(45)
		createHPA(ctx, t, e, w.ns, newHPA(w.name, 1, 10, deploymentMetric(w.name, "calls", "10")))
		h := waitScaled(ctx, t, e, w.ns, w.name, 5, 5)
		// The HPA reports the sum per replica: 45 / 5.
		if got := currentAverage(h); got != 9 {
			t.Errorf("HPA read %v calls per replica from the Deployment's metric, want 9 (the sum over its pods, 45, over 5 replicas)", got)
		}
	})

	// external: an External metric whose selector picks one workload in one
	// region; another workload's much larger load in the same namespace
	// must not count.
	t.Run("external", func(t *testing.T) {
		t.Parallel()
		e, ctx := env(t), testContext(t, scenarioTimeout)
		w := startWorkload(ctx, t, e, "edge", 1, framework.SidecarOptions{Region: "eu-west"})
		other := startWorkloadIn(ctx, t, e, w.ns, "core", 1, framework.SidecarOptions{Region: "us-east"})
		other.sidecars.SetLoad(1000)
		w.sidecars.SetLoad(30)
		createHPA(ctx, t, e, w.ns, newHPA(w.name, 1, 10, externalMetric("calls", map[string]string{
			"namespace": w.ns, "workload": w.name, "kind": sample.KindAsterisk.String(), "region": "eu-west",
		}, "10")))
		h := waitScaled(ctx, t, e, w.ns, w.name, 3, 3)
		if got := currentAverage(h); got != 10 {
			t.Errorf("HPA read %v calls per replica from the external metric, want 10 (eu-west edge only: 30 over 3 replicas)", got)
		}
	})

	// stale: when the publishers stop, the values go stale and the adapter
	// stops serving them; the HPA reports that it cannot get the metric and
	// keeps the replicas (a broken metric never scales down), then recovers
	// when samples return.
	t.Run("stale", func(t *testing.T) {
		t.Parallel()
		e, ctx := env(t), testContext(t, scenarioTimeout)
		w := startWorkload(ctx, t, e, "rtpengine", 1, framework.SidecarOptions{Kind: sample.KindRTPEngine})
		w.sidecars.SetLoad(40)
		createHPA(ctx, t, e, w.ns, newHPA(w.name, 1, 10, podsMetric("calls", "10")))
		waitScaled(ctx, t, e, w.ns, w.name, 4, 4)

		w.sidecars.Pause()
		waitHPA(ctx, t, e, w.ns, w.name, "ScalingActive=False, FailedGetPodsMetric", func(h *autoscalingv2.HorizontalPodAutoscaler) bool {
			c := hpaCondition(h, autoscalingv2.ScalingActive)
			return c != nil && c.Status == corev1.ConditionFalse && c.Reason == "FailedGetPodsMetric"
		})
		// Nothing marks the moment a scale-down would have happened, so
		// watch for two stabilization windows plus sync periods: had the
		// adapter served stale or zero values, the HPA would have scaled
		// down to minReplicas in that time.
		holdCtx, cancel := context.WithTimeout(ctx, 2*10*time.Second+5*time.Second)
		defer cancel()
		_, err := framework.Until(holdCtx, e.Client.AppsV1().Deployments(w.ns), w.name, func(d *appsv1.Deployment) (bool, error) {
			if r := *d.Spec.Replicas; r != 4 {
				return false, fmt.Errorf("the HPA scaled %s to %d replicas without a metric", w.name, r)
			}
			return false, nil
		})
		if ctx.Err() != nil || holdCtx.Err() == nil {
			t.Fatalf("while the metric was stale: %v", err)
		}

		w.sidecars.Resume()
		waitHPA(ctx, t, e, w.ns, w.name, "ScalingActive=True again", func(h *autoscalingv2.HorizontalPodAutoscaler) bool {
			c := hpaCondition(h, autoscalingv2.ScalingActive)
			return c != nil && c.Status == corev1.ConditionTrue
		})
		waitScaled(ctx, t, e, w.ns, w.name, 4, 4)
	})

	// forecast: the example HPA (deploy/examples/hpa-asterisk.yaml, as
	// shipped) on an adapter whose history stream shows a daily ramp a few
	// minutes from now. The live load stays flat, far under the Pods
	// metric's target, yet the HPA adds pods before the ramp's time: only
	// calls_forecast can have asked for them.
	t.Run("forecast", func(t *testing.T) {
		t.Parallel()
		skipUnlessE2E(t)
		ctx := testContext(t, forecastTimeout)
		obj, hpa := exampleHPA(t)
		ns, name, minReplicas := hpa.Namespace, hpa.Spec.ScaleTargetRef.Name, *hpa.Spec.MinReplicas
		target := podsTarget(t, hpa)
		if baselineCalls/float64(minReplicas) > target || math.Ceil(rampCalls/target) <= float64(minReplicas) {
			t.Fatalf("%s (target %v, minReplicas %d) no longer fits the scenario's loads: %d calls must need minReplicas, %d more",
				exampleHPAManifest, target, minReplicas, baselineCalls, rampCalls)
		}
		e, rampAt := forecastEnvironment(ctx, t, ns, name)
		ready := time.Now()
		if err := framework.CreateNamespace(ctx, e.Client, ns); err != nil {
			t.Fatal(err)
		}
		startExampleHPA(ctx, t, e, obj, hpa, baselineCalls)

		// The live load never ramps: the scenario ends once the HPA has
		// asked for more pods, which must happen before the ramp's time.
		riseCtx, cancel := context.WithDeadline(ctx, rampAt)
		defer cancel()
		h, err := framework.Until(riseCtx, e.Client.AutoscalingV2().HorizontalPodAutoscalers(ns), hpa.Name, func(h *autoscalingv2.HorizontalPodAutoscaler) (bool, error) {
			return h.Status.DesiredReplicas > minReplicas, nil
		})
		if err != nil {
			forecast, ferr := objectValue(context.Background(), e, ns, name, "calls_forecast")
			t.Fatalf("the HPA added no pods before the ramp at %s: %v; %s; calls_forecast now %v (%v)",
				rampAt.Format(time.TimeOnly), err, describeHPA(e, ns, hpa.Name), forecast, ferr)
		}
		rose := time.Now()
		// The status that asked for more pods holds what the HPA read for
		// that decision, over its current (minReplicas) pods.
		perPod, okPods := hpaMetric(h, autoscalingv2.PodsMetricSourceType)
		forecastPerPod, okForecast := hpaMetric(h, autoscalingv2.ObjectMetricSourceType)
		if !okPods || !okForecast {
			t.Fatalf("the HPA asked for %d replicas without reading both metrics: %s", h.Status.DesiredReplicas, describeHPA(e, ns, hpa.Name))
		}
		if limit := target * (1 + e.Options.HPATolerance); perPod > limit {
			t.Errorf("the HPA read %v calls per pod when it asked for %d replicas: above the target %v and its tolerance (%v), so the reactive metric could have asked",
				perPod, h.Status.DesiredReplicas, target, limit)
		}
		if forecastPerPod <= perPod {
			t.Errorf("calls_forecast (%v per pod) is not above the current calls (%v per pod) when the HPA asked for %d replicas",
				forecastPerPod, perPod, h.Status.DesiredReplicas)
		}
		checkNoMetricErrors(ctx, t, e, h)
		d, err := framework.Until(ctx, e.Client.AppsV1().Deployments(ns), name, func(d *appsv1.Deployment) (bool, error) {
			return *d.Spec.Replicas >= h.Status.DesiredReplicas, nil
		})
		if err != nil {
			t.Fatalf("the Deployment was not scaled to the HPA's %d replicas: %v", h.Status.DesiredReplicas, err)
		}
		t.Logf("the adapter was ready %s before the ramp; %s later the HPA scaled %s/%s from %d to %d replicas, %s before the ramp, "+
			"reading %v calls per pod (target %v) and calls_forecast %v per pod (%v in all)",
			rampAt.Sub(ready).Round(time.Second), rose.Sub(ready).Round(time.Second), ns, name, h.Status.CurrentReplicas, *d.Spec.Replicas,
			rampAt.Sub(rose).Round(time.Second), perPod, target, forecastPerPod, forecastPerPod*float64(h.Status.CurrentReplicas))
	})

	// forecast-reactive: the same HPA on the shared adapter, whose NATS
	// server runs no JetStream, so the adapter has no history store: its
	// calls_forecast is the current sum, and the HPA scales on the load
	// alone without ever reporting a metric it could not get.
	t.Run("forecast-reactive", func(t *testing.T) {
		t.Parallel()
		e, ctx := env(t), testContext(t, scenarioTimeout)
		if e.NATS.JetStreamEnabled() {
			t.Fatal("the shared NATS server runs JetStream: this scenario needs an adapter without a history store")
		}
		obj, hpa := exampleHPA(t)
		ns, name, minReplicas := hpa.Namespace, hpa.Spec.ScaleTargetRef.Name, *hpa.Spec.MinReplicas
		target := podsTarget(t, hpa)
		// One pod's worth of calls keeps minReplicas; then the load of
		// `want` pods, which the HPA's scale-up policy reaches in one step.
		const want = 5
		if minReplicas >= want || hpa.Spec.MaxReplicas < want {
			t.Fatalf("%s (replicas %d-%d) no longer fits the scenario's %d replicas", exampleHPAManifest, minReplicas, hpa.Spec.MaxReplicas, want)
		}
		sharedNamespace(ctx, t, e, ns)
		w := startExampleHPA(ctx, t, e, obj, hpa, target)
		waitScaled(ctx, t, e, ns, name, minReplicas, minReplicas)

		// A forecast above the current sum would ask for more than want.
		w.sidecars.SetLoad(want * target)
		h := waitScaled(ctx, t, e, ns, name, want, want)
		checkNoMetricErrors(ctx, t, e, h)
		forecast, err := objectValue(ctx, e, ns, name, "calls_forecast")
		if err != nil {
			t.Fatal(err)
		}
		if forecast != want*target {
			t.Errorf("calls_forecast of %s/%s is %v without a history store, want the current sum %v", ns, name, forecast, want*target)
		}
	})
}

func newHPA(target string, minReplicas, maxReplicas int32, metrics ...autoscalingv2.MetricSpec) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: target},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: target},
			MinReplicas:    ptr.To(minReplicas),
			MaxReplicas:    maxReplicas,
			Metrics:        metrics,
		},
	}
}

// podsMetric is a Pods metric with an AverageValue target.
func podsMetric(name, average string) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{
		Type: autoscalingv2.PodsMetricSourceType,
		Pods: &autoscalingv2.PodsMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: name},
			Target: averageValue(average),
		},
	}
}

// deploymentMetric is an Object metric of a Deployment with an AverageValue
// target.
func deploymentMetric(deployment, name, average string) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{
		Type: autoscalingv2.ObjectMetricSourceType,
		Object: &autoscalingv2.ObjectMetricSource{
			DescribedObject: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: deployment},
			Metric:          autoscalingv2.MetricIdentifier{Name: name},
			Target:          averageValue(average),
		},
	}
}

// externalMetric is an External metric with a label selector and an
// AverageValue target.
func externalMetric(name string, selector map[string]string, average string) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{
		Type: autoscalingv2.ExternalMetricSourceType,
		External: &autoscalingv2.ExternalMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: name, Selector: &metav1.LabelSelector{MatchLabels: selector}},
			Target: averageValue(average),
		},
	}
}

func averageValue(v string) autoscalingv2.MetricTarget {
	return autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse(v))}
}

// workload is a Deployment whose pods' sidecars publish load.
type workload struct {
	ns, name string
	sidecars *framework.Sidecars
}

// startWorkload creates a namespace and a Deployment with replicas Ready
// pods, and starts their sidecars (at load 0).
func startWorkload(ctx context.Context, t *testing.T, e *framework.Environment, name string, replicas int32, opts framework.SidecarOptions) *workload {
	t.Helper()
	return startWorkloadIn(ctx, t, e, namespace(ctx, t, e), name, replicas, opts)
}

func startWorkloadIn(ctx context.Context, t *testing.T, e *framework.Environment, ns, name string, replicas int32, opts framework.SidecarOptions) *workload {
	t.Helper()
	return startDeployment(ctx, t, e, ns, newDeployment(name, replicas), opts)
}

// startDeployment creates d in namespace ns, waits until its pods are
// Ready, and starts their sidecars (at load 0).
func startDeployment(ctx context.Context, t *testing.T, e *framework.Environment, ns string, d *appsv1.Deployment, opts framework.SidecarOptions) *workload {
	t.Helper()
	name := d.Name
	if _, err := e.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitReady(ctx, t, e, ns, name, *d.Spec.Replicas)
	// The sidecars outlive ctx's waits but not the test.
	sc, err := framework.StartSidecars(t.Context(), e.Client, e.Conn, ns, labels.SelectorFromSet(d.Spec.Selector.MatchLabels), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sc.Err(); err != nil {
			t.Errorf("sidecars of %s/%s stopped: %v", ns, name, err)
		}
	})
	return &workload{ns: ns, name: name, sidecars: sc}
}

func createHPA(ctx context.Context, t *testing.T, e *framework.Environment, ns string, h *autoscalingv2.HorizontalPodAutoscaler) {
	t.Helper()
	if _, err := e.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, h, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitScaled waits until the Deployment runs want Ready replicas and its
// HPA (of the same name) reports want current and desired replicas with
// ScalingActive=True. It fails at once if the Deployment is scaled above
// max on the way.
func waitScaled(ctx context.Context, t *testing.T, e *framework.Environment, ns, name string, want, max int32) *autoscalingv2.HorizontalPodAutoscaler {
	t.Helper()
	return waitScaledBy(ctx, t, e, ns, name, name, want, max)
}

// waitScaledBy is waitScaled for a Deployment and the HPA called hpa that
// scales it (as one KEDA generates for a ScaledObject).
func waitScaledBy(ctx context.Context, t *testing.T, e *framework.Environment, ns, name, hpa string, want, max int32) *autoscalingv2.HorizontalPodAutoscaler {
	t.Helper()
	d, err := framework.Until(ctx, e.Client.AppsV1().Deployments(ns), name, func(d *appsv1.Deployment) (bool, error) {
		if r := *d.Spec.Replicas; r > max {
			return false, fmt.Errorf("scaled to %d replicas, more than the %d the load needs", r, max)
		}
		s := d.Status
		return *d.Spec.Replicas == want && d.Generation == s.ObservedGeneration && s.Replicas == want && s.ReadyReplicas == want, nil
	})
	if err != nil {
		t.Fatalf("deployment %s/%s never settled at %d ready replicas: %v; spec.replicas %d, status %+v; HPA %s",
			ns, name, want, err, ptr.Deref(d.Spec.Replicas, -1), d.Status, describeHPA(e, ns, hpa))
	}
	return waitHPA(ctx, t, e, ns, hpa, fmt.Sprintf("%d current and desired replicas, ScalingActive=True", want), func(h *autoscalingv2.HorizontalPodAutoscaler) bool {
		c := hpaCondition(h, autoscalingv2.ScalingActive)
		return h.Status.CurrentReplicas == want && h.Status.DesiredReplicas == want && c != nil && c.Status == corev1.ConditionTrue
	})
}

// waitHPA waits until the HPA's status satisfies cond.
func waitHPA(ctx context.Context, t *testing.T, e *framework.Environment, ns, name, what string, cond func(*autoscalingv2.HorizontalPodAutoscaler) bool) *autoscalingv2.HorizontalPodAutoscaler {
	t.Helper()
	h, err := framework.Until(ctx, e.Client.AutoscalingV2().HorizontalPodAutoscalers(ns), name, func(h *autoscalingv2.HorizontalPodAutoscaler) (bool, error) {
		return cond(h), nil
	})
	if err != nil {
		t.Fatalf("HPA %s/%s never reached %s: %v; %s", ns, name, what, err, describeHPA(e, ns, name))
	}
	return h
}

// describeHPA summarizes an HPA's status for failure messages.
func describeHPA(e *framework.Environment, ns, name string) string {
	h, err := e.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	s := fmt.Sprintf("current %d, desired %d", h.Status.CurrentReplicas, h.Status.DesiredReplicas)
	for _, c := range h.Status.Conditions {
		s += fmt.Sprintf("; %s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message)
	}
	return s
}

// currentAverage is the per-replica value the HPA last read for its only
// metric (AverageValue targets).
func currentAverage(h *autoscalingv2.HorizontalPodAutoscaler) float64 {
	if len(h.Status.CurrentMetrics) != 1 {
		return -1
	}
	return metricAverage(h.Status.CurrentMetrics[0])
}

// metricAverage is the per-replica value in the status of an AverageValue
// metric, -1 if it has none.
func metricAverage(m autoscalingv2.MetricStatus) float64 {
	var q *resource.Quantity
	switch {
	case m.Object != nil:
		q = m.Object.Current.AverageValue
	case m.External != nil:
		q = m.External.Current.AverageValue
	case m.Pods != nil:
		q = m.Pods.Current.AverageValue
	}
	if q == nil {
		return -1
	}
	return q.AsApproximateFloat64()
}
