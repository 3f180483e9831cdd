package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/rtcscale/rtcscale/e2e/framework"
)

// TestControlPlane checks the harness itself: a Deployment gets Ready pods
// from the fake kubelet, and the HPA controller evaluates an HPA on a metric
// nobody serves, reporting FailedGetPodsMetric and leaving replicas alone.
func TestControlPlane(t *testing.T) {
	cp := env(t)
	ctx := testContext(t, 2*time.Minute)
	ns := namespace(ctx, t, cp)

	deploy := newDeployment("web", 2)
	if _, err := cp.Client.AppsV1().Deployments(ns).Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitReady(ctx, t, cp, ns, "web", 2)

	hpa := newHPA("web", 1, 5, podsMetric("e2e-unserved", "10"))
	if _, err := cp.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	h, err := framework.Until(ctx, cp.Client.AutoscalingV2().HorizontalPodAutoscalers(ns), "web",
		func(h *autoscalingv2.HorizontalPodAutoscaler) (bool, error) {
			c := hpaCondition(h, autoscalingv2.ScalingActive)
			return c != nil && c.Status == corev1.ConditionFalse && c.Reason == "FailedGetPodsMetric", nil
		})
	if err != nil {
		t.Fatalf("%v; HPA status: %+v", err, h.Status)
	}
	if h.Status.CurrentReplicas != 2 {
		t.Errorf("HPA reports %d current replicas, want 2", h.Status.CurrentReplicas)
	}
	d, err := cp.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 2 {
		t.Errorf("HPA with an unserved metric scaled the deployment to %d, want 2", *d.Spec.Replicas)
	}
	t.Logf("ScalingActive: %s", hpaCondition(h, autoscalingv2.ScalingActive).Message)
}

// testContext is a context that ends with the test or after limit, so a
// wait that can never succeed fails instead of hanging the suite.
func testContext(t *testing.T, limit time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	t.Cleanup(cancel)
	return ctx
}

// namespace creates a namespace for one test, deleted when it ends.
func namespace(ctx context.Context, t *testing.T, cp *framework.Environment) string {
	t.Helper()
	name := fmt.Sprintf("e2e-%d", time.Now().UnixNano()%1e9)
	if err := framework.CreateNamespace(ctx, cp.Client, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// t.Context is done by now.
		_ = cp.Client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

func newDeployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					// Never pulled: the fake kubelet runs no containers.
					Containers: []corev1.Container{{Name: "rtc", Image: "registry.invalid/rtc:e2e"}},
				},
			},
		},
	}
}

// waitReady waits until the Deployment has exactly replicas pods, all
// updated and ready.
func waitReady(ctx context.Context, t *testing.T, cp *framework.Environment, ns, name string, replicas int32) {
	t.Helper()
	d, err := framework.Until(ctx, cp.Client.AppsV1().Deployments(ns), name, func(d *appsv1.Deployment) (bool, error) {
		s := d.Status
		return d.Generation == s.ObservedGeneration && s.Replicas == replicas &&
			s.UpdatedReplicas == replicas && s.ReadyReplicas == replicas, nil
	})
	if err != nil {
		t.Fatalf("deployment %s/%s never had %d ready replicas: %v; status %+v", ns, name, replicas, err, d.Status)
	}
}

// apply applies objs by server-side apply as the environment's admin. Its
// Applier is new, so its discovery sees every CRD installed so far (KEDA's).
func apply(ctx context.Context, t *testing.T, e *framework.Environment, objs ...*unstructured.Unstructured) {
	t.Helper()
	applier, err := framework.NewApplier(e.Admin)
	if err != nil {
		t.Fatal(err)
	}
	if err := applier.Apply(ctx, objs...); err != nil {
		t.Fatal(err)
	}
}

// repoManifests reads the objects of a manifest of the checkout, path
// relative to its root.
func repoManifests(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	root, err := framework.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := framework.ReadManifests(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func hpaCondition(h *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType) *autoscalingv2.HorizontalPodAutoscalerCondition {
	for i := range h.Status.Conditions {
		if h.Status.Conditions[i].Type == t {
			return &h.Status.Conditions[i]
		}
	}
	return nil
}
