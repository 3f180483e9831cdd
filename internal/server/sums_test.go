package server

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/sample"
)

// sumViews are every view of voice's calls that sums pods, by the path
// that serves it.
var sumViews = []string{
	cm2 + "/namespaces/voice/deployments.apps/asterisk/calls",
	cm2 + "/namespaces/voice/metrics/calls",
	"/apis/external.metrics.k8s.io/v1beta1/namespaces/voice/calls",
	"/apis/external.metrics.k8s.io/v1beta1/namespaces/voice/calls?labelSelector=" + url.QueryEscape("kind=asterisk"),
	"/apis/external.metrics.k8s.io/v1beta1/namespaces/voice/calls?labelSelector=" + url.QueryEscape("region=eu-west"),
}

// sums returns what each of sumViews serves, and the Pods metric of the
// Deployment's selector added up: the views must all agree with it.
func (r *rig) sums() (podsSum string, views map[string]string) {
	r.t.Helper()
	var l metricValueList
	if code, body := r.get(cm2+"/namespaces/voice/pods/*/calls?labelSelector=app%3Dasterisk", &l); code != 200 {
		r.t.Fatalf("Pods metric: %d %s", code, body)
	}
	var total float64
	for _, it := range l.Items {
		var v float64
		if _, err := fmt.Sscan(it.Value, &v); err != nil {
			r.t.Fatalf("Pods metric value %q: %v", it.Value, err)
		}
		total += v
	}
	views = map[string]string{}
	for _, path := range sumViews {
		var got string
		if strings.HasPrefix(path, "/apis/external") {
			var e externalList
			if code, body := r.get(path, &e); code != 200 || len(e.Items) != 1 {
				r.t.Fatalf("%s: %d %s", path, code, body)
			}
			got = e.Items[0].Value
		} else {
			if code, body := r.get(path, &l); code != 200 || len(l.Items) != 1 {
				r.t.Fatalf("%s: %d %s", path, code, body)
			}
			got = l.Items[0].Value
		}
		views[path] = got
	}
	return fmt.Sprint(total), views
}

// wantSums checks that the Pods metric adds up to want and that every sum
// view serves want.
func (r *rig) wantSums(when, want string) {
	r.t.Helper()
	podsSum, views := r.sums()
	if podsSum != want {
		r.t.Errorf("%s: the Pods metric adds up to %s, want %s", when, podsSum, want)
	}
	for path, got := range views {
		if got != want {
			r.t.Errorf("%s: %s serves %s, want %s (as the Pods metric)", when, path, got, want)
		}
	}
}

// TestSumsCountOnlyKnownPods: a sample for a pod the cluster never
// reported, and a deleted pod's late sample, are stored (the informer may
// only be late) but counted nowhere: the Pods metric, the workload's, the
// namespace's and the external sums agree.
func TestSumsCountOnlyKnownPods(t *testing.T) {
	r := newRig(t, collector.Options{})
	pods := r.deployment("voice", "asterisk", 2)
	eventually(t, "informers see the pods", func() (bool, string) { return r.Store.Stats().KnownPods == 2, "" })
	accepted := func(n float64) func() (bool, string) {
		return func() (bool, string) {
			got := counterValue(r.Registry, "rtcscale_samples_accepted_total", "")
			return got == n, fmt.Sprint("accepted ", got)
		}
	}

	r.publish(sample.KindAsterisk, "voice", "calls", map[string]float64{pods[0]: 10, pods[1]: 32, "ghost-pod-1": 777777})
	eventually(t, "the three samples are stored", accepted(3))
	r.wantSums("with a pod the cluster does not know", "42")
	if code, body := r.get(cm2+"/namespaces/voice/pods/ghost-pod-1/calls", nil); code != 404 {
		t.Errorf("the unknown pod by name: %d %s, want 404", code, body)
	}

	// The cluster deletes a pod; its sidecar's last sample arrives after.
	if err := r.client.CoreV1().Pods("voice").Delete(context.Background(), pods[1], metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the store forgets the deleted pod", func() (bool, string) { return r.Store.Stats().KnownPods == 1, "" })
	r.publish(sample.KindAsterisk, "voice", "calls", map[string]float64{pods[1]: 50})
	eventually(t, "the late sample is stored", accepted(4))
	r.wantSums("after a deleted pod's late sample", "10")
	if code, body := r.get(cm2+"/namespaces/voice/pods/"+pods[1]+"/calls", nil); code != 404 {
		t.Errorf("the deleted pod by name: %d %s, want 404", code, body)
	}
}
