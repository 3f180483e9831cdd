package kedascaler

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/rtcscale/rtcscale/adapter"
	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/internal/natstest"
	"github.com/rtcscale/rtcscale/predictor"
	"github.com/rtcscale/rtcscale/sample"
)

// rig is the adapter's read path as it runs: a real NATS server, the
// collector subscribed to it, informers over a client-go cluster, the
// provider, and the scaler served over gRPC on loopback. The store's clock
// is the rig's, so that samples go stale when a test says.
type rig struct {
	t      *testing.T
	nc     *nats.Conn
	kube   *fake.Clientset
	store  *collector.Store
	reg    *prometheus.Registry
	scaler externalscaler.ExternalScalerClient

	mu  sync.Mutex
	now time.Time
	seq uint64
}

// checkInterval is the streams' check interval in tests: short, since
// each crossing waits for one.
const checkInterval = 10 * time.Millisecond

func newRig(t *testing.T, tlsCfg TLS, dial credentials.TransportCredentials) *rig {
	t.Helper()
	r := &rig{t: t, kube: fake.NewClientset(), reg: prometheus.NewRegistry(), now: time.Now()}
	srv := natstest.Start(t)
	r.nc = natstest.Connect(t, srv.ClientURL())
	r.store = collector.NewStore(collector.Options{Now: r.clock}, collector.NewMetrics(r.reg))
	cluster, err := collector.WatchCluster(r.kube, r.store)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cluster.Start(ctx.Done())
	if !cluster.WaitForSync(ctx.Done()) {
		t.Fatal("informers did not sync")
	}
	sub := collector.NewSubscriber(r.store, sample.DefaultSubjectPrefix)
	subConn := natstest.Connect(t, srv.ClientURL())
	if err := sub.Start(subConn); err != nil {
		t.Fatal(err)
	}
	if err := subConn.Flush(); err != nil {
		t.Fatal(err)
	}
	live, err := predictor.NewLive(r.store, predictor.LiveConfig{Now: r.clock}, r.reg)
	if err != nil {
		t.Fatal(err)
	}
	prov := adapter.NewProvider(r.store, adapter.Options{Forecaster: live}, adapter.NewMetrics(r.reg))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, l, tlsCfg, NewScaler(prov, checkInterval, NewMetrics(r.reg))) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	if dial == nil {
		dial = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(dial))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	r.scaler = externalscaler.NewExternalScalerClient(conn)
	return r
}

func (r *rig) clock() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.now
}

// advance moves the store's clock: samples older than their staleness
// limit (3 publish intervals) stop being served.
func (r *rig) advance(d time.Duration) {
	r.mu.Lock()
	r.now = r.now.Add(d)
	r.mu.Unlock()
}

// statefulSet creates n Ready pods of a StatefulSet labelled app=name.
func (r *rig) statefulSet(ns, name string, n int) []string {
	return r.pods(ns, name, "StatefulSet", name, n)
}

// deployment creates a Deployment's ReplicaSet and n Ready pods labelled
// app=name.
func (r *rig) deployment(ns, name string, n int) []string {
	r.t.Helper()
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-7c9", OwnerReferences: []metav1.OwnerReference{
		{APIVersion: "apps/v1", Kind: "Deployment", Name: name, UID: "d-uid", Controller: ptr(true)}}}}
	if _, err := r.kube.AppsV1().ReplicaSets(ns).Create(context.Background(), rs, metav1.CreateOptions{}); err != nil {
		r.t.Fatal(err)
	}
	return r.pods(ns, name, "ReplicaSet", rs.Name, n)
}

func (r *rig) pods(ns, app, ownerKind, owner string, n int) []string {
	r.t.Helper()
	want := r.store.Stats().KnownPods + n
	var names []string
	for i := range n {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-%d", owner, i), Labels: map[string]string{"app": app},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: ownerKind, Name: owner, UID: "o-uid", Controller: ptr(true)}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(r.clock().Add(-time.Hour))}}},
		}
		if _, err := r.kube.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
			r.t.Fatal(err)
		}
		names = append(names, p.Name)
	}
	eventually(r.t, "the informers see the pods", func() bool { return r.store.Stats().KnownPods == want })
	return names
}

// publish sends one sample per pod, as its sidecar does, and returns once
// the collector holds them all.
func (r *rig) publish(kind sample.Kind, ns, gauge string, values map[string]float64, draining ...string) {
	r.t.Helper()
	before := r.accepted()
	for pod, v := range values {
		r.seq++
		s := sample.Sample{Kind: kind, Namespace: ns, Pod: pod, Time: r.clock(), Seq: r.seq, Interval: time.Second,
			Draining: slices.Contains(draining, pod), Gauges: []sample.Gauge{{Name: gauge, Value: v}}}
		if err := r.nc.Publish(s.Subject(sample.DefaultSubjectPrefix), s.AppendJSON(nil)); err != nil {
			r.t.Fatal(err)
		}
	}
	if err := r.nc.Flush(); err != nil {
		r.t.Fatal(err)
	}
	eventually(r.t, "the collector accepts the samples", func() bool { return r.accepted() == before+float64(len(values)) })
}

func (r *rig) accepted() float64 { return sum(r.t, r.reg, "rtcscale_samples_accepted_total", nil) }

// sum adds up the samples of a metric family of reg whose labels include
// want.
func sum(t *testing.T, reg prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for k, v := range want {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == k && l.GetValue() == v)
				}
				if !found {
					continue metrics
				}
			}
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return total
}

// eventually retries cond until it holds: samples cross NATS and informer
// events cross client-go asynchronously.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: never happened", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ptr[T any](v T) *T { return &v }

// ref is a ScaledObject's reference to the scaler, with its trigger's
// metadata.
func ref(ns string, md map[string]string) *externalscaler.ScaledObjectRef {
	return &externalscaler.ScaledObjectRef{Name: "so", Namespace: ns, ScalerMetadata: md}
}

func wantCode(t *testing.T, err error, code codes.Code, inMessage string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code || !strings.Contains(st.Message(), inMessage) {
		t.Errorf("error %v: want code %s and a message with %q", err, code, inMessage)
	}
}

func TestGetMetrics(t *testing.T) {
	r := newRig(t, TLS{Insecure: true}, nil)
	ctx := context.Background()
	pods := r.deployment("voice", "asterisk", 4)
	// The fourth pod drains: its 40 calls end where they are and count 0.
	r.publish(sample.KindAsterisk, "voice", "calls", map[string]float64{pods[0]: 10, pods[1]: 20, pods[2]: 5, pods[3]: 40}, pods[3])

	asterisk := map[string]string{"scalerAddress": "rtcscale.rtcscale:9443", "gauge": "calls", "workload": "deployments.apps/asterisk", "target": "50", "activationThreshold": "30"}
	spec, err := r.scaler.GetMetricSpec(ctx, ref("voice", asterisk))
	if err != nil {
		t.Fatal(err)
	}
	if got := spec.GetMetricSpecs(); len(got) != 1 || got[0].GetMetricName() != "calls" || got[0].GetTargetSizeFloat() != 50 || got[0].GetTargetSize() != 50 {
		t.Errorf("GetMetricSpec: %v, want calls with target 50", got)
	}

	for _, tc := range []struct {
		name   string
		md     map[string]string
		metric string
		want   float64
	}{
		{"workload", asterisk, "calls", 35},
		{"label selector", map[string]string{"gauge": "calls", "labelSelector": "app=asterisk", "target": "50"}, "calls", 35},
		{"forecast", map[string]string{"gauge": "calls", "workload": "deployments.apps/asterisk", "forecast": "true", "target": "50"}, "calls_forecast", 35},
		{"selector without pods", map[string]string{"gauge": "calls", "labelSelector": "app=jvb", "target": "50"}, "calls", 0},
	} {
		got, err := r.scaler.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref("voice", tc.md), MetricName: tc.metric})
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if v := got.GetMetricValues(); len(v) != 1 || v[0].GetMetricName() != tc.metric || v[0].GetMetricValueFloat() != tc.want {
			t.Errorf("%s: %v, want %s = %v", tc.name, v, tc.metric, tc.want)
		}
	}

	active := func(md map[string]string) bool {
		t.Helper()
		resp, err := r.scaler.IsActive(ctx, ref("voice", md))
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetResult()
	}
	if !active(asterisk) {
		t.Error("IsActive: 35 calls over an activation threshold of 30 is not active")
	}
	if active(map[string]string{"gauge": "calls", "workload": "deployments.apps/asterisk", "target": "50", "activationThreshold": "35"}) {
		t.Error("IsActive: 35 calls, threshold 35: active")
	}
	if active(map[string]string{"gauge": "calls", "labelSelector": "app=jvb", "target": "50"}) {
		t.Error("IsActive: a selector without pods is active")
	}

	_, err = r.scaler.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref("voice", map[string]string{"gauge": "calls", "workload": "deployments.apps/asterisc", "target": "50"})})
	wantCode(t, err, codes.NotFound, `deployment "asterisc" in namespace voice has no pod rtcscale knows of (deployments there: asterisk)`)
	_, err = r.scaler.IsActive(ctx, ref("voice", map[string]string{"gauge": "calls", "workload": "statefulsets.apps/asterisk", "target": "50"}))
	wantCode(t, err, codes.NotFound, "but deployment voice/asterisk has: ask for deployments.apps/asterisk")
	_, err = r.scaler.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref("voice", map[string]string{"gauge": "cals", "workload": "deployments.apps/asterisk", "target": "50"})})
	wantCode(t, err, codes.NotFound, `no sidecar has published the gauge "cals"`)
	_, err = r.scaler.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref("voice", asterisk), MetricName: "calls_forecast"})
	wantCode(t, err, codes.InvalidArgument, `this trigger's metric is "calls"`)

	// Stale: the value is unknown. GetMetrics refuses it, and activity is
	// on, whatever the threshold, so that missing data scales nothing to 0.
	r.advance(10 * time.Second)
	for _, md := range []map[string]string{asterisk, {"gauge": "calls", "labelSelector": "app=asterisk", "target": "50", "activationThreshold": "1000"}} {
		_, err = r.scaler.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref("voice", md)})
		wantCode(t, err, codes.Unavailable, "4 pods stopped publishing it")
		if !active(md) {
			t.Errorf("IsActive %v on stale samples: not active", md)
		}
	}

	if n := sum(t, r.reg, "rtcscale_keda_scaler_requests_total", map[string]string{"method": "GetMetrics", "code": "NotFound"}); n != 2 {
		t.Errorf("requests_total{GetMetrics,NotFound} = %v, want 2", n)
	}
	if n := sum(t, r.reg, "rtcscale_keda_scaler_requests_total", map[string]string{"method": "IsActive", "code": "OK"}); n != 5 {
		t.Errorf("requests_total{IsActive,OK} = %v, want 5", n)
	}
}

func TestBadMetadata(t *testing.T) {
	r := newRig(t, TLS{Insecure: true}, nil)
	for _, tc := range []struct {
		md   map[string]string
		want string
	}{
		{map[string]string{"workload": "deployments.apps/a", "target": "1"}, "metadata gauge \"\": want a gauge name"},
		{map[string]string{"gauge": "calls", "target": "1"}, "want exactly one of workload"},
		{map[string]string{"gauge": "calls", "workload": "deployments.apps/a", "labelSelector": "app=a", "target": "1"}, "want exactly one of workload"},
		{map[string]string{"gauge": "calls", "workload": "asterisk", "target": "1"}, "want RESOURCE.GROUP/NAME"},
		{map[string]string{"gauge": "calls", "workload": "services/asterisk", "target": "1"}, `"services" is not deployments.apps`},
		{map[string]string{"gauge": "calls", "workload": "deployments.apps/Bad_Name", "target": "1"}, "is not a workload name"},
		{map[string]string{"gauge": "calls", "labelSelector": "app==(", "target": "1"}, "is not a label selector"},
		{map[string]string{"gauge": "calls", "labelSelector": "app=a", "forecast": "true", "target": "1"}, "a forecast is of one workload"},
		{map[string]string{"gauge": "calls", "workload": "deployments.apps/a", "forecast": "yes", "target": "1"}, "want true or false"},
		{map[string]string{"gauge": "calls", "workload": "deployments.apps/a"}, "metadata target is required"},
		{map[string]string{"gauge": "calls", "workload": "deployments.apps/a", "target": "0"}, "want a number above 0"},
		{map[string]string{"gauge": "calls", "workload": "deployments.apps/a", "target": "NaN"}, "want a number"},
		{map[string]string{"gauge": "calls", "workload": "deployments.apps/a", "target": "1", "activationThreshold": "-1"}, "want a number at least 0"},
		{map[string]string{"gauge": "calls", "workload": "deployments.apps/a", "target": "1", "activationthreshold": "5"}, "unknown metadata activationthreshold"},
	} {
		_, err := r.scaler.GetMetricSpec(context.Background(), ref("voice", tc.md))
		wantCode(t, err, codes.InvalidArgument, tc.want)
		_, err = r.scaler.IsActive(context.Background(), ref("voice", tc.md))
		wantCode(t, err, codes.InvalidArgument, tc.want)
	}
	_, err := r.scaler.GetMetrics(context.Background(), &externalscaler.GetMetricsRequest{ScaledObjectRef: ref("", map[string]string{"gauge": "calls", "workload": "deployments.apps/a", "target": "1"})})
	wantCode(t, err, codes.InvalidArgument, "is not a namespace name")
}

// TestStreamIsActive wakes the media pool on the SIP proxy's calls, as an
// external-push trigger over a labelSelector does for a workload scaled
// to zero: each crossing of the threshold is pushed, in both directions,
// and stale samples push active.
func TestStreamIsActive(t *testing.T) {
	r := newRig(t, TLS{Insecure: true}, nil)
	pods := r.statefulSet("voice", "kamailio", 2)
	idle := map[string]float64{pods[0]: 0, pods[1]: 0}
	r.publish(sample.KindKamailio, "voice", "calls", idle)

	// A push that never comes fails the test rather than hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	stream, err := r.scaler.StreamIsActive(ctx, ref("voice", map[string]string{"gauge": "calls", "labelSelector": "app=kamailio", "target": "20", "activationThreshold": "2"}))
	if err != nil {
		t.Fatal(err)
	}
	recv := func(want bool) {
		t.Helper()
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetResult() != want {
			t.Fatalf("StreamIsActive sent %v, want %v", resp.GetResult(), want)
		}
	}
	recv(false) // at once
	if n := sum(t, r.reg, "rtcscale_keda_scaler_active_streams", nil); n != 1 {
		t.Errorf("active_streams = %v, want 1", n)
	}
	r.publish(sample.KindKamailio, "voice", "calls", map[string]float64{pods[0]: 2, pods[1]: 1})
	recv(true)
	r.publish(sample.KindKamailio, "voice", "calls", idle)
	recv(false)
	r.advance(10 * time.Second)
	recv(true) // fail safe: the calls are unknown
	r.publish(sample.KindKamailio, "voice", "calls", idle)
	recv(false)

	cancel()
	if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
		t.Errorf("Recv after cancel: %v, want Canceled", err)
	}
	eventually(t, "the stream ends on the server", func() bool {
		return sum(t, r.reg, "rtcscale_keda_scaler_active_streams", nil) == 0
	})
}

// TestStreamEndsOnMistake: a stream whose workload has no pod ends with
// the error naming it, rather than reporting on nothing.
func TestStreamEndsOnMistake(t *testing.T) {
	r := newRig(t, TLS{Insecure: true}, nil)
	pods := r.statefulSet("meet", "jvb", 1)
	r.publish(sample.KindJVB, "meet", "participants", map[string]float64{pods[0]: 3})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream, err := r.scaler.StreamIsActive(ctx, ref("meet", map[string]string{"gauge": "participants", "workload": "statefulsets.apps/jbv", "target": "100"}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	wantCode(t, err, codes.NotFound, `statefulset "jbv" in namespace meet has no pod rtcscale knows of (statefulsets there: jvb)`)
}
