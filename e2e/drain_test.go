package e2e

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/rtcscale/rtcscale/drain"
	"github.com/rtcscale/rtcscale/e2e/framework"
)

// deletionCostRBAC is what the chart's deletionCost.enabled and the
// kustomize component add to the base RBAC: patch on pods, in one namespace
// (a Role; the component is copied for each RTC namespace).
const deletionCostRBAC = "deploy/kustomize/components/deletion-cost/rbac.yaml"

// TestDeletionCost proves drain-aware scale-down on the real ReplicaSet
// controller: the adapter (run with --pod-deletion-cost) writes each
// opted-in pod's controller.kubernetes.io/pod-deletion-cost from the calls
// its sidecar publishes, and when the Deployment is scaled down the
// ReplicaSet deletes the pods with the fewest calls and keeps the busiest.
//
// The adapter may patch pods only through deploy/'s optional RBAC, which
// this scenario applies: without it the patches are refused, the
// annotations never appear and the refused requests fail the run.
func TestDeletionCost(t *testing.T) {
	t.Parallel()
	e, ctx := env(t), testContext(t, scenarioTimeout)
	ns := namespace(ctx, t, e)
	grantDeletionCost(ctx, t, e, ns)

	d := newDeployment("jitsi", 4)
	d.Spec.Template.Labels["rtcscale.io/deletion-cost"] = "calls" // the pods opt in
	w := startDeployment(ctx, t, e, ns, d, framework.SidecarOptions{})
	pods, err := w.sidecars.ReadyPods()
	if err != nil || len(pods) != 4 {
		t.Fatalf("ready pods: %d, %v; want 4", len(pods), err)
	}
	// The oldest pod gets the fewest calls: left alone, the ReplicaSet
	// prefers to delete the newest pods, here the busiest.
	slices.SortFunc(pods, func(a, b *corev1.Pod) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.UID, b.UID)
	})
	calls := []float64{0, 5, 40, 80}
	loads := map[string]float64{}
	for i, p := range pods {
		loads[p.Name] = calls[i]
	}
	w.sidecars.SetPodLoads(loads)

	for _, p := range pods {
		want := strconv.Itoa(int(drain.Cost(loads[p.Name])))
		got, err := framework.Until(ctx, e.Client.CoreV1().Pods(w.ns), p.Name, func(p *corev1.Pod) (bool, error) {
			return p.Annotations[drain.Annotation] == want, nil
		})
		if err != nil {
			t.Fatalf("pod %s with %v calls: %s never became %s: %v; annotations %v", p.Name, loads[p.Name], drain.Annotation, want, err, got.Annotations)
		}
	}

	scale, err := e.Client.AppsV1().Deployments(w.ns).GetScale(ctx, w.name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scale.Spec.Replicas = 2
	if _, err := e.Client.AppsV1().Deployments(w.ns).UpdateScale(ctx, w.name, scale, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The ReplicaSet controller marks the two pods it picks for deletion
	// at once; the others are the survivors.
	waitReady(ctx, t, e, w.ns, w.name, 2)
	left, err := e.Client.CoreV1().Pods(w.ns).List(ctx, metav1.ListOptions{LabelSelector: labels.FormatLabels(d.Spec.Selector.MatchLabels)})
	if err != nil {
		t.Fatal(err)
	}
	var survivors []string
	for _, p := range left.Items {
		if p.DeletionTimestamp == nil {
			survivors = append(survivors, p.Name)
		}
	}
	slices.Sort(survivors)
	want := []string{pods[2].Name, pods[3].Name}
	slices.Sort(want)
	if !slices.Equal(survivors, want) {
		t.Fatalf("after the scale-down %v survive, want the busiest %v; loads %v; pods now: %s", survivors, want, loads, describePods(e, w.ns, d.Spec.Selector.MatchLabels))
	}
	for _, p := range pods[:2] {
		if err := framework.UntilDeleted[*corev1.Pod](ctx, e.Client.CoreV1().Pods(w.ns), p.Name); err != nil {
			t.Fatalf("pod %s with %v calls was never deleted: %v", p.Name, loads[p.Name], err)
		}
	}
	t.Logf("calls per pod %v; survivors of the scale-down to 2: %v", loads, survivors)
}

// grantDeletionCost applies deploy/'s optional RBAC of the deletion-cost
// controller and waits until the apiserver authorizes the adapter's
// ServiceAccount to patch pods (RBAC takes effect through the apiserver's
// informers, a moment after the apply) in namespace ns.
func grantDeletionCost(ctx context.Context, t *testing.T, e *framework.Environment, ns string) {
	t.Helper()
	objs := repoManifests(t, deletionCostRBAC)
	for _, o := range objs {
		o.SetNamespace(ns) // as an operator copies the component for a namespace
	}
	apply(ctx, t, e, objs...)
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               "system:serviceaccount:rtcscale:rtcscale-adapter",
		Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:rtcscale", "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: "patch", Resource: "pods"},
	}}
	var reason string
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		r, err := e.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		reason = r.Status.Reason
		return r.Status.Allowed, nil
	})
	if err != nil {
		t.Fatalf("%s applied, but the adapter may not patch pods: %v (%s)", deletionCostRBAC, err, reason)
	}
}

// describePods lists the pods matching selector with their deletion cost,
// for failure messages.
func describePods(e *framework.Environment, ns string, selector map[string]string) string {
	l, err := e.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: labels.FormatLabels(selector)})
	if err != nil {
		return err.Error()
	}
	s := ""
	for _, p := range l.Items {
		s += fmt.Sprintf("%s (cost %q, deleting %v); ", p.Name, p.Annotations[drain.Annotation], p.DeletionTimestamp != nil)
	}
	return s
}
