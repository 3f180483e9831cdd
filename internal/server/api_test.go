package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/rtcscale/rtcscale/adapter"
	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/internal/natsconn"
	"github.com/rtcscale/rtcscale/internal/natstest"
	"github.com/rtcscale/rtcscale/predictor"
	"github.com/rtcscale/rtcscale/sample"
)

// rig is the adapter as it runs, minus TLS and the aggregation layer: the
// composition of this package (Config.Complete, Run behind LocalAPI) over a
// real NATS server with JetStream and client-go's in-memory cluster.
type rig struct {
	t      *testing.T
	nc     *nats.Conn // the sidecars' connection
	url    string     // the NATS server's
	client *fake.Clientset
	*replica
	now func() time.Time
	seq uint64
	// draining are the pods whose samples say their server is draining.
	draining map[string]bool
}

// replica is one adapter process, running until the test ends.
type replica struct {
	*Server
	api, ops string // base URLs of the metrics APIs and of the probes
}

// newRig starts the rig with its first replica. configure, if given,
// changes the replica's Config (forecasts, the provider's options).
func newRig(t *testing.T, opts collector.Options, configure ...func(*Config)) *rig {
	t.Helper()
	srv := natstest.Start(t, natstest.JetStream(t.TempDir()))
	r := &rig{t: t, client: fake.NewClientset(), url: srv.ClientURL()}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r.now = opts.Now
	r.nc = natstest.Connect(t, srv.ClientURL())
	r.replica = newReplica(t, r.client, r.url, opts, configure...)
	return r
}

// newReplica runs an adapter on client's cluster and the samples of the
// NATS server at url, and returns once it is ready: informers synced, the
// subscription on the server.
func newReplica(t *testing.T, client *fake.Clientset, url string, opts collector.Options, configure ...func(*Config)) *replica {
	t.Helper()
	cfg := Config{
		Store: opts, SubjectPrefix: sample.DefaultSubjectPrefix, ExternalMetrics: true,
		Client: client, NATS: natsconn.Options{URL: url, Name: "rtcscale-test"},
		MetricsAddress: "127.0.0.1:0",
	}
	for _, c := range configure {
		c(&cfg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, done, err := cfg.StartLocal(ctx, ln)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the adapter stopped with %v", err)
		}
	})
	return &replica{Server: s, api: "http://" + ln.Addr().String(), ops: "http://" + s.MetricsAddr().String()}
}

// serve puts a provider of opts over the replica's store in front of its
// metrics APIs, for a test that drives the forecasts by hand.
func (rep *replica) serve(t *testing.T, opts adapter.Options) {
	t.Helper()
	h, err := adapter.NewLocalHandler(adapter.NewProvider(rep.Store, opts, nil), true)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	rep.api = srv.URL
}

// deployment creates a Deployment's ReplicaSet and n Ready pods labelled
// app=name.
func (r *rig) deployment(ns, name string, n int) []string {
	r.t.Helper()
	ctx := context.Background()
	rsName := name + "-7c9"
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: rsName, OwnerReferences: []metav1.OwnerReference{
		{APIVersion: "apps/v1", Kind: "Deployment", Name: name, UID: "d-" + "uid", Controller: ptr(true)}}}}
	if _, err := r.client.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{}); err != nil {
		r.t.Fatal(err)
	}
	var pods []string
	for i := range n {
		pods = append(pods, r.pod(ns, fmt.Sprintf("%s-%d", rsName, i), name, "ReplicaSet", rsName))
	}
	return pods
}

func (r *rig) pod(ns, name, app, ownerKind, owner string) string {
	r.t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": app},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: ownerKind, Name: owner, UID: "o-uid", Controller: ptr(true)}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(r.now().Add(-time.Hour))}}},
	}
	if _, err := r.client.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		r.t.Fatal(err)
	}
	return name
}

// publish sends one sample per pod and waits until NATS has delivered it.
func (r *rig) publish(kind sample.Kind, ns string, gauge string, values map[string]float64) {
	r.t.Helper()
	for pod, v := range values {
		r.seq++
		s := sample.Sample{Kind: kind, Namespace: ns, Pod: pod, Region: "eu-west", Time: r.now(), Seq: r.seq, Interval: 5 * time.Second,
			Draining: r.draining[pod], Gauges: []sample.Gauge{{Name: gauge, Value: v}}}
		if err := r.nc.Publish(s.Subject(sample.DefaultSubjectPrefix), s.AppendJSON(nil)); err != nil {
			r.t.Fatal(err)
		}
	}
	if err := r.nc.Flush(); err != nil {
		r.t.Fatal(err)
	}
}

// get requests a path as the HPA's metrics client would and decodes it.
func (r *rig) get(path string, out any) (int, string) {
	r.t.Helper()
	return r.replica.get(r.t, path, out)
}

func (rep *replica) get(t *testing.T, path string, out any) (int, string) {
	t.Helper()
	resp, err := http.Get(rep.api + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s: %v in %s", path, err, b)
		}
	}
	return resp.StatusCode, string(b)
}

// eventually retries cond until it holds: samples cross NATS and informer
// events cross client-go asynchronously.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: never happened; last: %s", what, last)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type metricValueList struct {
	Items []struct {
		DescribedObject struct{ Kind, Namespace, Name, APIVersion string }
		Metric          struct{ Name string }
		MetricName      string
		Timestamp       time.Time
		Value           string
	}
}

type externalList struct {
	Items []struct {
		MetricName   string
		MetricLabels map[string]string
		Timestamp    time.Time
		Value        string
	}
}

func podValues(l metricValueList) map[string]string {
	out := map[string]string{}
	for _, it := range l.Items {
		out[it.DescribedObject.Name] = it.Value
	}
	return out
}

const cm2 = "/apis/custom.metrics.k8s.io/v1beta2"

func TestMetricsAPIFromNATS(t *testing.T) {
	r := newRig(t, collector.Options{})
	pods := r.deployment("voice", "asterisk", 3)
	r.pod("voice", "kamailio-0", "kamailio", "StatefulSet", "kamailio")
	r.pod("voice", "db-0", "db", "StatefulSet", "db") // publishes nothing

	eventually(t, "informers see the pods", func() (bool, string) {
		st := r.Store.Stats()
		return st.KnownPods == 5, fmt.Sprint(st)
	})
	r.publish(sample.KindAsterisk, "voice", "calls", map[string]float64{pods[0]: 10, pods[1]: 0, pods[2]: 32.5})
	r.publish(sample.KindKamailio, "voice", "calls", map[string]float64{"kamailio-0": 42})
	eventually(t, "the collector has the samples", func() (bool, string) {
		st := r.Store.Stats()
		return st.Fresh == 4, fmt.Sprint(st)
	})

	// Pods metric, as the HPA asks: the target's selector, every pod with
	// its own value and an explicit 0.
	var l metricValueList
	eventually(t, "per-pod values", func() (bool, string) {
		code, body := r.get(cm2+"/namespaces/voice/pods/*/calls?labelSelector="+url.QueryEscape("app=asterisk"), &l)
		return code == 200 && len(l.Items) == 3, body
	})
	if got := podValues(l); got[pods[0]] != "10" || got[pods[1]] != "0" || got[pods[2]] != "32500m" {
		t.Fatalf("pod values %v", got)
	}
	for _, it := range l.Items {
		if it.DescribedObject.Kind != "Pod" || it.Metric.Name != "calls" || time.Since(it.Timestamp) > time.Minute {
			t.Fatalf("item %+v", it)
		}
	}
	// v1beta1 answers the same.
	if code, body := r.get("/apis/custom.metrics.k8s.io/v1beta1/namespaces/voice/pods/*/calls?labelSelector=app%3Dasterisk", &l); code != 200 || len(l.Items) != 3 {
		t.Fatalf("v1beta1: %d %s", code, body)
	}
	// One pod by name.
	if code, body := r.get(cm2+"/namespaces/voice/pods/"+pods[2]+"/calls", &l); code != 200 || l.Items[0].Value != "32500m" {
		t.Fatalf("one pod: %d %s", code, body)
	}

	// Object metrics: the Deployment (through its ReplicaSet), a
	// StatefulSet, the namespace; and the aggregations.
	for path, want := range map[string]string{
		"/namespaces/voice/deployments.apps/asterisk/calls":     "42500m",
		"/namespaces/voice/deployments.apps/asterisk/calls_max": "32500m",
		"/namespaces/voice/deployments.apps/asterisk/calls_avg": "14167",
		"/namespaces/voice/statefulsets.apps/kamailio/calls":    "42",
		"/namespaces/voice/metrics/calls":                       "84500m",
	} {
		code, body := r.get(cm2+path, &l)
		if code != 200 || len(l.Items) != 1 || l.Items[0].Value != want && !strings.HasPrefix(l.Items[0].Value, want) {
			t.Errorf("%s: %d %s, want %s", path, code, body, want)
		}
	}

	// External: the fleet view by labels.
	var e externalList
	for sel, want := range map[string]string{
		"kind=asterisk":                "42500m",
		"kind=kamailio,region=eu-west": "42",
		"workload=asterisk":            "42500m",
		"":                             "84500m",
	} {
		code, body := r.get("/apis/external.metrics.k8s.io/v1beta1/namespaces/voice/calls?labelSelector="+url.QueryEscape(sel), &e)
		if code != 200 || len(e.Items) != 1 || e.Items[0].Value != want {
			t.Errorf("external %q: %d %s, want %s", sel, code, body, want)
		}
	}
	if code, body := r.get("/apis/external.metrics.k8s.io/v1beta1/namespaces/voice/calls?labelSelector="+url.QueryEscape("kind=asterisk,region=eu-west"), &e); code != 200 || e.Items[0].MetricLabels["kind"] != "asterisk" || e.Items[0].MetricLabels["region"] != "eu-west" {
		t.Fatalf("external labels: %s", body)
	}
	// Another namespace's series are out of reach by default.
	if code, body := r.get("/apis/external.metrics.k8s.io/v1beta1/namespaces/meet/calls?labelSelector=namespace%3Dvoice", nil); code != 400 || !strings.Contains(body, "another namespace") {
		t.Fatalf("cross-namespace external: %d %s", code, body)
	}

	// Errors name what is missing.
	for path, want := range map[string]string{
		cm2 + "/namespaces/voice/pods/*/participants":                 `no sidecar has published the gauge \"participants\"`,
		cm2 + "/namespaces/voice/pods/*/calls?labelSelector=app%3Ddb": "1 pods match, none with a fresh sample",
		cm2 + "/namespaces/voice/services/sip/calls":                  "rtcscale serves metrics of pods",
		cm2 + "/namespaces/voice/pods/*/calls_max":                    "a pod has one value",
		cm2 + "/namespaces/voice/deployments.apps/*/calls":            "ask for one",
	} {
		code, body := r.get(path, nil)
		if (code != 404 && code != 400) || !strings.Contains(body, want) {
			t.Errorf("%s: %d %s, want %q", path, code, body, want)
		}
	}

	// Discovery lists every gauge for every resource.
	var disc metav1.APIResourceList
	if code, body := r.get(cm2, &disc); code != 200 || !hasResource(disc, "pods/calls") || !hasResource(disc, "deployments.apps/calls_max") {
		t.Fatalf("discovery: %s", body)
	}
	if code, body := r.get("/apis/external.metrics.k8s.io/v1beta1", &disc); code != 200 || !hasResource(disc, "calls") {
		t.Fatalf("external discovery: %s", body)
	}
}

// TestDrainingPodsThroughTheAPI: a draining pod's calls count 0 in every
// metric the HPA reads (its Pods value, the workload's and namespace's sums,
// external sums and the forecast), and a metric selector naming draining
// gets the real load back.
func TestDrainingPodsThroughTheAPI(t *testing.T) {
	r := newRig(t, collector.Options{}, func(c *Config) {
		c.Forecasts = &Forecasts{Live: predictor.LiveConfig{Gauges: []string{"calls"}}}
	})
	pods := r.deployment("voice", "asterisk", 2)
	eventually(t, "informers see the pods", func() (bool, string) { return r.Store.Stats().KnownPods == 2, "" })
	r.draining = map[string]bool{pods[1]: true}
	r.publish(sample.KindAsterisk, "voice", "calls", map[string]float64{pods[0]: 60, pods[1]: 40})
	eventually(t, "the collector has the samples", func() (bool, string) { return r.Store.Stats().Fresh == 2, fmt.Sprint(r.Store.Stats()) })

	var l metricValueList
	if code, body := r.get(cm2+"/namespaces/voice/pods/*/calls?labelSelector=app%3Dasterisk", &l); code != 200 || fmt.Sprint(podValues(l)) != fmt.Sprint(map[string]string{pods[0]: "60", pods[1]: "0"}) {
		t.Fatalf("Pods metric: %d %s, want the draining pod as a fresh 0", code, body)
	}
	sel := "?metricLabelSelector=" + url.QueryEscape("draining=true")
	for path, want := range map[string]string{
		cm2 + "/namespaces/voice/deployments.apps/asterisk/calls":                                                                   "60",
		cm2 + "/namespaces/voice/deployments.apps/asterisk/calls_forecast":                                                          "60",
		cm2 + "/namespaces/voice/metrics/calls":                                                                                     "60",
		"/apis/external.metrics.k8s.io/v1beta1/namespaces/voice/calls":                                                              "60",
		cm2 + "/namespaces/voice/deployments.apps/asterisk/calls" + sel:                                                             "40",
		cm2 + "/namespaces/voice/pods/" + pods[1] + "/calls" + sel:                                                                  "40",
		"/apis/external.metrics.k8s.io/v1beta1/namespaces/voice/calls?labelSelector=" + url.QueryEscape("draining in (true,false)"): "100",
	} {
		var got string
		if strings.HasPrefix(path, "/apis/external") {
			var e externalList
			if code, body := r.get(path, &e); code != 200 || len(e.Items) != 1 {
				t.Fatalf("%s: %d %s", path, code, body)
			}
			got = e.Items[0].Value
		} else {
			if code, body := r.get(path, &l); code != 200 || len(l.Items) != 1 {
				t.Fatalf("%s: %d %s", path, code, body)
			}
			got = l.Items[0].Value
		}
		if got != want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}

	// The drain is over (the server serves again): its calls count.
	r.draining = nil
	r.publish(sample.KindAsterisk, "voice", "calls", map[string]float64{pods[1]: 40})
	eventually(t, "the pod serves again", func() (bool, string) {
		code, body := r.get(cm2+"/namespaces/voice/deployments.apps/asterisk/calls", &l)
		return code == 200 && l.Items[0].Value == "100", body
	})
}

func hasResource(l metav1.APIResourceList, name string) bool {
	for _, r := range l.APIResources {
		if r.Name == name {
			return true
		}
	}
	return false
}

func TestStaleAndDeletedPods(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	r := newRig(t, collector.Options{Now: clock})
	pods := r.deployment("voice", "asterisk", 2)
	eventually(t, "informers see the pods", func() (bool, string) { return r.Store.Stats().KnownPods == 2, "" })
	r.publish(sample.KindAsterisk, "voice", "calls", map[string]float64{pods[0]: 5, pods[1]: 7})
	var l metricValueList
	eventually(t, "values", func() (bool, string) {
		code, body := r.get(cm2+"/namespaces/voice/deployments.apps/asterisk/calls", &l)
		return code == 200 && l.Items[0].Value == "12", body
	})

	// Publishers stop: after 3 intervals nothing is served, and the error
	// says why. The Deployment's sum is refused, not shrunk.
	advance(16 * time.Second)
	code, body := r.get(cm2+"/namespaces/voice/deployments.apps/asterisk/calls", nil)
	if code != 404 || !strings.Contains(body, "2 of 2 pods stopped publishing") {
		t.Fatalf("stale deployment: %d %s", code, body)
	}
	code, body = r.get(cm2+"/namespaces/voice/pods/*/calls?labelSelector=app%3Dasterisk", nil)
	if code != 404 || !strings.Contains(body, "stopped publishing") {
		t.Fatalf("stale pods: %d %s", code, body)
	}
	// One pod comes back: the sum is still refused, the pod is served.
	r.publish(sample.KindAsterisk, "voice", "calls", map[string]float64{pods[0]: 6})
	eventually(t, "one pod back", func() (bool, string) {
		code, body := r.get(cm2+"/namespaces/voice/pods/*/calls?labelSelector=app%3Dasterisk", &l)
		return code == 200 && len(l.Items) == 1 && l.Items[0].Value == "6", body
	})
	if code, body := r.get(cm2+"/namespaces/voice/deployments.apps/asterisk/calls", nil); code != 404 || !strings.Contains(body, "1 of 2") {
		t.Fatalf("half-stale deployment: %d %s", code, body)
	}
	// The silent pod is deleted: its series goes, and the sum is whole again.
	if err := r.client.CoreV1().Pods("voice").Delete(context.Background(), pods[1], metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "sum after deletion", func() (bool, string) {
		code, body := r.get(cm2+"/namespaces/voice/deployments.apps/asterisk/calls", &l)
		return code == 200 && l.Items[0].Value == "6", body
	})
	// A new pod appears and publishes: it is served.
	r.pod("voice", "asterisk-7c9-new", "asterisk", "ReplicaSet", "asterisk-7c9")
	eventually(t, "new pod known", func() (bool, string) { return r.Store.Stats().KnownPods == 2, "" })
	r.publish(sample.KindAsterisk, "voice", "calls", map[string]float64{"asterisk-7c9-new": 1})
	eventually(t, "new pod served", func() (bool, string) {
		code, body := r.get(cm2+"/namespaces/voice/pods/*/calls?labelSelector=app%3Dasterisk", &l)
		return code == 200 && len(l.Items) == 2, body
	})
}

func TestRejectionsAreCounted(t *testing.T) {
	r := newRig(t, collector.Options{})
	good := sample.Sample{Kind: sample.KindJVB, Namespace: "meet", Pod: "jvb-0", Time: time.Now(), Interval: time.Second,
		Gauges: []sample.Gauge{{Name: "participants", Value: 3}}}
	msgs := map[string]string{
		"rtcscale.load.v1.meet.jvb.jvb-1":  string(good.AppendJSON(nil)), // another pod's subject
		"rtcscale.load.v1.meet.jvb.jvb-0":  `{"v":1,`,
		"rtcscale.load.v1.meet.jvb.jvb-0 ": "",
	}
	for subj, body := range msgs {
		if strings.TrimSpace(subj) != subj {
			continue
		}
		if err := r.nc.Publish(subj, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	bad := good
	bad.Gauges = []sample.Gauge{{Name: "participants", Value: -1}}
	if err := r.nc.Publish(good.Subject(sample.DefaultSubjectPrefix), bad.AppendJSON(nil)); err != nil {
		t.Fatal(err)
	}
	if err := r.nc.Publish(good.Subject(sample.DefaultSubjectPrefix), good.AppendJSON(nil)); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"subject_mismatch": 1, "malformed": 1, "value": 1}
	eventually(t, "rejections counted", func() (bool, string) {
		got := map[string]float64{}
		for reason := range want {
			got[reason] = counterValue(r.Registry, "rtcscale_samples_rejected_total", reason)
		}
		accepted := counterValue(r.Registry, "rtcscale_samples_accepted_total", "")
		return fmt.Sprint(got) == fmt.Sprint(want) && accepted == 1, fmt.Sprint(got, " accepted ", accepted)
	})
}

func counterValue(g prometheus.Gatherer, name, reason string) float64 {
	mfs, _ := g.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "reason" && lp.GetValue() != reason {
					goto next
				}
			}
			return m.GetCounter().GetValue()
		next:
		}
	}
	return 0
}

// TestConcurrentPublishAndQuery runs under -race in CI: NATS delivery,
// informer events and API queries at once.
func TestConcurrentPublishAndQuery(t *testing.T) {
	r := newRig(t, collector.Options{})
	pods := r.deployment("voice", "asterisk", 20)
	eventually(t, "informers", func() (bool, string) { return r.Store.Stats().KnownPods == 20, "" })
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r.get(cm2+"/namespaces/voice/pods/*/calls?labelSelector=app%3Dasterisk", nil)
				r.get(cm2+"/namespaces/voice/deployments.apps/asterisk/calls", nil)
			}
		}()
	}
	const rounds = 50
	for round := 1; round <= rounds; round++ {
		vals := map[string]float64{}
		for _, p := range pods {
			vals[p] = float64(round)
		}
		r.publish(sample.KindAsterisk, "voice", "calls", vals)
	}
	close(stop)
	wg.Wait()
	var l metricValueList
	eventually(t, "last round", func() (bool, string) {
		code, body := r.get(cm2+"/namespaces/voice/deployments.apps/asterisk/calls", &l)
		if code != 200 {
			return false, body
		}
		q := resource.MustParse(l.Items[0].Value)
		return q.Value() == 20*rounds, body
	})
}

func ptr[T any](v T) *T { return &v }
