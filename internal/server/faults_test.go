package server

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/collector/ingest"
	"github.com/rtcscale/rtcscale/sample"
)

// queries are the requests an HPA, kubectl and a dashboard make.
var queries = []string{
	cm2 + "/namespaces/voice/pods/*/calls?labelSelector=" + url.QueryEscape("app=asterisk"),
	cm2 + "/namespaces/voice/pods/*/calls?labelSelector=" + url.QueryEscape("app=asterisk") + "&metricLabelSelector=" + url.QueryEscape("kind=asterisk"),
	"/apis/custom.metrics.k8s.io/v1beta1/namespaces/voice/pods/*/calls?labelSelector=" + url.QueryEscape("app=asterisk"),
	cm2 + "/namespaces/voice/pods/asterisk-7c9-3/calls",
	cm2 + "/namespaces/voice/deployments.apps/asterisk/calls",
	cm2 + "/namespaces/voice/deployments.apps/asterisk/calls_avg",
	cm2 + "/namespaces/voice/deployments.apps/asterisk/calls_max",
	cm2 + "/namespaces/voice/metrics/calls",
	"/apis/external.metrics.k8s.io/v1beta1/namespaces/voice/calls?labelSelector=" + url.QueryEscape("kind=asterisk,region=eu-west"),
	"/apis/external.metrics.k8s.io/v1beta1/namespaces/voice/calls_max",
	cm2 + "/namespaces/voice/pods/*/participants", // an error
}

// TestReplicasAnswerAlike runs two adapter replicas on the same NATS
// server and cluster, as a Deployment of two does behind one Service: the
// HPA must get the same answer whichever replica it reaches.
func TestReplicasAnswerAlike(t *testing.T) {
	r := newRig(t, collector.Options{})
	second := newReplica(t, r.client, r.url, collector.Options{})
	pods := r.deployment("voice", "asterisk", 8)
	eventually(t, "both replicas see the pods", func() (bool, string) {
		return r.Store.Stats().KnownPods == 8 && second.Store.Stats().KnownPods == 8, ""
	})
	values := map[string]float64{}
	for i, p := range pods {
		values[p] = float64(10*i) + 0.5
	}
	r.publish(sample.KindAsterisk, "voice", "calls", values)
	eventually(t, "both replicas hold every sample", func() (bool, string) {
		return r.Store.Stats().Fresh == 8 && second.Store.Stats().Fresh == 8, ""
	})
	for _, q := range queries {
		code1, body1 := r.get(q, nil)
		code2, body2 := second.get(t, q, nil)
		if code1 != code2 || body1 != body2 {
			t.Errorf("%s:\n replica 1: %d %s\n replica 2: %d %s", q, code1, body1, code2, body2)
		}
		if code1 == 500 {
			t.Errorf("%s: %s", q, body1)
		}
	}
}

// TestAdapterRestartServesAtOnce restarts the adapter with the warm-restart
// stream: the new process is not ready until it has loaded every pod's
// latest sample, and from the moment it is ready it answers with the right
// values, with no sidecar publishing in between.
func TestAdapterRestartServesAtOnce(t *testing.T) {
	r := newRig(t, collector.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	js, err := jetstream.New(r.nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := ingest.EnsureWarmStream(ctx, js, ingest.WarmConfig{Stream: "LATEST", Memory: true}); err != nil {
		t.Fatal(err)
	}
	pods := r.deployment("voice", "asterisk", 4)
	r.publish(sample.KindAsterisk, "voice", "calls", map[string]float64{pods[0]: 1, pods[1]: 2, pods[2]: 4, pods[3]: 8})
	want := map[string]int{}
	for _, q := range queries[:8] {
		eventually(t, "the first process serves "+q, func() (bool, string) {
			code, body := r.get(q, nil)
			return code == 200, body
		})
		want[q] = 200
	}

	// The restart: a new process, its own store and informers, which
	// loads the warm-restart stream before it subscribes and is ready.
	next := newReplica(t, r.client, r.url, collector.Options{}, func(c *Config) {
		c.Warm = &Warm{WarmConfig: ingest.WarmConfig{Stream: "LATEST", Memory: true}, Timeout: 20 * time.Second}
	})
	if code, _ := status(t, next.ops+"/readyz"); code != http.StatusOK {
		t.Fatalf("readyz after the warm load: %d", code)
	}
	// No waiting: the first answers after readiness are right.
	for _, q := range queries[:8] {
		code1, body1 := r.get(q, nil)
		code2, body2 := next.get(t, q, nil)
		if code2 != want[q] || body1 != body2 {
			t.Errorf("%s right after the restart:\n before: %d %s\n after:  %d %s", q, code1, body1, code2, body2)
		}
	}
	var l metricValueList
	if code, body := next.get(t, cm2+"/namespaces/voice/deployments.apps/asterisk/calls", &l); code != 200 || l.Items[0].Value != "15" {
		t.Fatalf("deployment sum after the restart: %d %s", code, body)
	}
}

// status requests u and returns the status code and the body.
func status(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
