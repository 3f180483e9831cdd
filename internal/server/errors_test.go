package server

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/internal/klogtest"
	"github.com/rtcscale/rtcscale/sample"
)

const (
	cm1 = "/apis/custom.metrics.k8s.io/v1beta1"
	em1 = "/apis/external.metrics.k8s.io/v1beta1"
	// What the adapter's errors promise: at most 5 workloads named, a
	// selector quoted up to 100 bytes.
	maxListed = 5
	maxQuoted = 100
)

// TestErrorsNameTheMistake: a malformed selector is a 400 on every path
// of both APIs, whichever parameter holds it, and nothing is logged as an
// unhandled error; a namespace, workload, kind or pod the cluster does not
// have is a 404 that names it and what there is instead, not a hint at the
// sidecars.
func TestErrorsNameTheMistake(t *testing.T) {
	r := newRig(t, collector.Options{})
	asterisk := r.deployment("voice", "asterisk", 2)
	r.pod("voice", "kamailio-0", "kamailio", "StatefulSet", "kamailio")
	r.pod("voice", "rtpengine-x7k2p", "rtpengine", "DaemonSet", "rtpengine")
	var many []string
	for i := range maxListed + 2 {
		many = append(many, r.deployment("many", fmt.Sprintf("app%d", i), 1)...)
	}
	eventually(t, "informers see the pods", func() (bool, string) {
		st := r.Store.Stats()
		return st.KnownPods == 4+len(many), fmt.Sprint(st)
	})
	r.publish(sample.KindAsterisk, "voice", "calls", map[string]float64{asterisk[0]: 1, asterisk[1]: 2})
	r.publish(sample.KindKamailio, "voice", "calls", map[string]float64{"kamailio-0": 3})
	r.publish(sample.KindRTPEngine, "voice", "calls", map[string]float64{"rtpengine-x7k2p": 4})
	eventually(t, "the collector has the samples", func() (bool, string) {
		st := r.Store.Stats()
		return st.Fresh == 4, fmt.Sprint(st)
	})

	logs := klogtest.Capture(t)
	bad := url.QueryEscape("bad===(")
	badMetric := `metricLabelSelector \"bad===(\" is not a label selector: unable to parse requirement`
	badLabels := `labelSelector \"bad===(\" is not a label selector: unable to parse requirement`
	noNamespace := `namespace \"voicee\" has no pod rtcscale knows of`
	for _, c := range []struct {
		path string
		code int
		want string
	}{
		// Malformed selectors, in each parameter, on each path.
		{cm2 + "/namespaces/voice/pods/*/calls?labelSelector=app%3Dasterisk&metricLabelSelector=" + bad, 400, badMetric},
		{cm1 + "/namespaces/voice/pods/*/calls?labelSelector=app%3Dasterisk&metricLabelSelector=" + bad, 400, badMetric},
		{cm2 + "/namespaces/voice/pods/" + asterisk[0] + "/calls?metricLabelSelector=" + bad, 400, badMetric},
		{cm1 + "/namespaces/voice/pods/" + asterisk[0] + "/calls?metricLabelSelector=" + bad, 400, badMetric},
		{cm2 + "/namespaces/voice/metrics/calls?metricLabelSelector=" + bad, 400, badMetric},
		{cm1 + "/namespaces/voice/metrics/calls?metricLabelSelector=" + bad, 400, badMetric},
		{cm2 + "/namespaces/voice/deployments.apps/asterisk/calls?metricLabelSelector=" + bad, 400, badMetric},
		{cm1 + "/namespaces/voice/daemonsets.apps/rtpengine/calls?metricLabelSelector=" + bad, 400, badMetric},
		{cm2 + "/namespaces/voice/pods/*/calls?labelSelector=" + bad, 400, badLabels},
		{cm1 + "/namespaces/voice/pods/*/calls?labelSelector=" + bad, 400, badLabels},
		{em1 + "/namespaces/voice/calls?labelSelector=" + bad, 400, badLabels},
		// What is quoted of the request is bounded.
		{cm2 + "/namespaces/voice/metrics/calls?metricLabelSelector=" + strings.Repeat("x", 5000) + "%3D%3D%3D", 400,
			`metricLabelSelector \"` + strings.Repeat("x", maxQuoted) + `...\" is not a label selector`},

		// A namespace without pods, on each path.
		{cm2 + "/namespaces/voicee/pods/*/calls?labelSelector=app%3Dasterisk", 404, noNamespace},
		{cm2 + "/namespaces/voicee/pods/" + asterisk[0] + "/calls", 404, noNamespace},
		{cm2 + "/namespaces/voicee/metrics/calls", 404, noNamespace},
		{cm2 + "/namespaces/voicee/deployments.apps/asterisk/calls", 404, noNamespace},
		{em1 + "/namespaces/voicee/calls?labelSelector=kind%3Dasterisk", 404, noNamespace},
		// ... before a gauge nobody publishes: the namespace is the first
		// mistake in the path.
		{cm2 + "/namespaces/voicee/metrics/participants", 404, noNamespace},

		// The wrong kind: the name exists as another.
		{cm2 + "/namespaces/voice/deployments.apps/rtpengine/calls", 404,
			"deployment voice/rtpengine has no pod rtcscale knows of, but daemonset voice/rtpengine has: ask for daemonsets.apps/rtpengine"},
		{cm1 + "/namespaces/voice/statefulsets.apps/asterisk/calls_max", 404,
			"statefulset voice/asterisk has no pod rtcscale knows of, but deployment voice/asterisk has: ask for deployments.apps/asterisk"},
		// A workload that does not exist: its kind's workloads, or all of
		// them when there is none of its kind, at most maxListed.
		{cm2 + "/namespaces/voice/deployments.apps/asteriks/calls", 404,
			`deployment \"asteriks\" in namespace voice has no pod rtcscale knows of (deployments there: asterisk)`},
		{cm2 + "/namespaces/voice/replicasets.apps/asteriks/calls", 404,
			`replicaset \"asteriks\" in namespace voice has no pod rtcscale knows of (workloads there: deployment asterisk, statefulset kamailio, daemonset rtpengine)`},
		{cm2 + "/namespaces/many/deployments.apps/app/calls", 404,
			`deployment \"app\" in namespace many has no pod rtcscale knows of (deployments there: app0, app1, app2, app3, app4 and 2 more)`},
		// A pod that does not exist, or selectors that match no pod.
		{cm2 + "/namespaces/voice/pods/asterisk-7c9-9/calls", 404, `namespace voice has no pod \"asterisk-7c9-9\" that rtcscale knows of`},
		{cm2 + "/namespaces/voice/pods/*/calls?labelSelector=app%3Dasterix", 404,
			`no pod rtcscale knows of in namespace voice matches labelSelector \"app=asterix\"`},
		{cm2 + "/namespaces/voice/pods/*/calls?labelSelector=app%3Dasterisk&metricLabelSelector=kind%3Djvb", 404,
			`no pod rtcscale knows of in namespace voice matches labelSelector \"app=asterisk\" and metricLabelSelector \"kind=jvb\"`},

		// What exists keeps its own message: a gauge nobody publishes.
		{cm2 + "/namespaces/voice/deployments.apps/asterisk/participants", 404, `no sidecar has published the gauge \"participants\"`},
	} {
		code, body := r.get(c.path, nil)
		var st metav1.Status
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Errorf("%s: %d, not a Status: %s", c.path, code, body)
			continue
		}
		wantReason := metav1.StatusReasonNotFound
		if c.code == 400 {
			wantReason = metav1.StatusReasonBadRequest
		}
		if code != c.code || st.Code != int32(c.code) || st.Reason != wantReason || !strings.Contains(body, c.want) {
			t.Errorf("%s:\n got %d %s\nwant %d %s", c.path, code, body, c.code, c.want)
		}
		if len(st.Message) > 600 {
			t.Errorf("%s: a message of %d bytes", c.path, len(st.Message))
		}
	}
	if n := logs.Count("Unhandled Error"); n > 0 {
		t.Errorf("%d unhandled errors logged:\n%s", n, logs)
	}
}
