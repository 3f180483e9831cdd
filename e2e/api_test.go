package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	cmv1beta1 "k8s.io/metrics/pkg/apis/custom_metrics/v1beta1"
	cmv1beta2 "k8s.io/metrics/pkg/apis/custom_metrics/v1beta2"
	emv1beta1 "k8s.io/metrics/pkg/apis/external_metrics/v1beta1"
	"k8s.io/utils/ptr"

	"github.com/rtcscale/rtcscale/e2e/framework"
	"github.com/rtcscale/rtcscale/sample"
)

const (
	customV1beta2 = "/apis/custom.metrics.k8s.io/v1beta2"
	customV1beta1 = "/apis/custom.metrics.k8s.io/v1beta1"
	externalV1    = "/apis/external.metrics.k8s.io/v1beta1"
)

// TestPodSeries checks that the pods a metric lists follow the pods that
// exist: a deleted pod's series disappears, even if a late sample of it
// arrives, and its replacement's appears.
func TestPodSeries(t *testing.T) {
	e, ctx := env(t), testContext(t, scenarioTimeout)
	w := startWorkload(ctx, t, e, "jvb", 3, framework.SidecarOptions{})
	w.sidecars.SetLoad(30)
	before := waitPodValues(ctx, t, e, w, func(v map[string]float64) bool { return len(v) == 3 && allEqual(v, 10) })

	victim := slices.Sorted(maps.Keys(before))[0]
	if err := e.Client.CoreV1().Pods(w.ns).Delete(ctx, victim, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := framework.UntilDeleted[*corev1.Pod](ctx, e.Client.CoreV1().Pods(w.ns), victim); err != nil {
		t.Fatal(err)
	}
	// A sidecar that shuts down late publishes once more after its pod is
	// gone. Samples of one connection arrive in order, so once the new load
	// (20 per pod) shows, the late sample has been processed too.
	late := sample.Sample{Kind: sample.KindAsterisk, Namespace: w.ns, Pod: victim, Time: time.Now(), Seq: 1 << 20,
		Interval: time.Second, Gauges: []sample.Gauge{{Name: sample.GaugeCalls, Value: 999}}}
	var buf []byte
	if err := framework.Publish(e.Conn, sample.DefaultSubjectPrefix, &late, &buf); err != nil {
		t.Fatal(err)
	}
	w.sidecars.SetLoad(60)
	after := waitPodValues(ctx, t, e, w, func(v map[string]float64) bool { return len(v) == 3 && allEqual(v, 20) })
	if _, ok := after[victim]; ok {
		t.Errorf("deleted pod %s is still served: %v", victim, after)
	}
	var added []string
	for p := range after {
		if _, ok := before[p]; !ok {
			added = append(added, p)
		}
	}
	if len(added) != 1 {
		t.Errorf("want exactly one new pod's series after replacing %s; before %v, after %v", victim, before, after)
	}
}

// TestMetricsAPI reads every discovery and metric endpoint through the
// apiserver, as the HPA controller and kubectl do, checks that each returns
// a well-formed object of its kind, and that the adapter refuses requests
// without a permitted identity.
func TestMetricsAPI(t *testing.T) {
	e, ctx := env(t), testContext(t, scenarioTimeout)
	w := startWorkload(ctx, t, e, "api", 2, framework.SidecarOptions{Region: "eu-west"})
	w.sidecars.SetLoad(30)
	values := waitPodValues(ctx, t, e, w, func(v map[string]float64) bool { return len(v) == 2 && allEqual(v, 15) })
	pod := slices.Sorted(maps.Keys(values))[0]

	t.Run("discovery", func(t *testing.T) {
		groups, err := e.Client.Discovery().ServerGroups()
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]string{
			"custom.metrics.k8s.io":   {"v1beta2", "v1beta1"},
			"external.metrics.k8s.io": {"v1beta1"},
		}
		for _, g := range groups.Groups {
			versions, ok := want[g.Name]
			if !ok {
				continue
			}
			delete(want, g.Name)
			var got []string
			for _, v := range g.Versions {
				got = append(got, v.Version)
			}
			if !slices.Equal(got, versions) || g.PreferredVersion.Version != versions[0] {
				t.Errorf("group %s: versions %v, preferred %s; want %v, preferred %s", g.Name, got, g.PreferredVersion.Version, versions, versions[0])
			}
		}
		if len(want) > 0 {
			t.Errorf("groups missing from discovery: %v", want)
		}

		var group metav1.APIGroup
		getJSON(ctx, t, e, "/apis/custom.metrics.k8s.io", nil, &group)
		checkKind(t, group.TypeMeta, "APIGroup", "v1")
		for gv, resources := range map[string][]string{
			customV1beta2: {"pods/calls", "deployments.apps/calls", "namespaces/calls"},
			customV1beta1: {"pods/calls", "deployments.apps/calls", "namespaces/calls"},
			externalV1:    {"calls"},
		} {
			var list metav1.APIResourceList
			getJSON(ctx, t, e, gv, nil, &list)
			checkKind(t, list.TypeMeta, "APIResourceList", "v1")
			have := map[string]bool{}
			for _, r := range list.APIResources {
				have[r.Name] = true
			}
			for _, r := range resources {
				if !have[r] {
					t.Errorf("%s does not list %s", gv, r)
				}
			}
		}
	})

	t.Run("metrics", func(t *testing.T) {
		podSel := url.Values{"labelSelector": {"app=" + w.name}}
		ns := "/namespaces/" + w.ns

		var v2 cmv1beta2.MetricValueList
		getJSON(ctx, t, e, customV1beta2+ns+"/pods/*/calls", podSel, &v2)
		checkKind(t, v2.TypeMeta, "MetricValueList", "custom.metrics.k8s.io/v1beta2")
		if len(v2.Items) != 2 {
			t.Errorf("v1beta2 pods list: %d items, want 2", len(v2.Items))
		}
		for _, it := range v2.Items {
			if it.DescribedObject.Kind != "Pod" || it.Metric.Name != "calls" || it.Value.AsApproximateFloat64() != 15 || it.Timestamp.IsZero() {
				t.Errorf("v1beta2 pods list item: %+v; want a Pod's calls = 15 with a timestamp", it)
			}
		}

		var v1 cmv1beta1.MetricValueList
		getJSON(ctx, t, e, customV1beta1+ns+"/pods/*/calls", podSel, &v1)
		checkKind(t, v1.TypeMeta, "MetricValueList", "custom.metrics.k8s.io/v1beta1")
		if len(v1.Items) != 2 || v1.Items[0].MetricName != "calls" {
			t.Errorf("v1beta1 pods list: %+v; want 2 items of calls", v1.Items)
		}

		for _, c := range []struct {
			path, kind string
			value      float64
		}{
			{customV1beta2 + ns + "/pods/" + pod + "/calls", "Pod", 15},
			{customV1beta2 + ns + "/deployments.apps/" + w.name + "/calls", "Deployment", 30},
			{customV1beta2 + ns + "/metrics/calls", "Namespace", 30},
		} {
			var one cmv1beta2.MetricValueList
			getJSON(ctx, t, e, c.path, nil, &one)
			checkKind(t, one.TypeMeta, "MetricValueList", "custom.metrics.k8s.io/v1beta2")
			if len(one.Items) != 1 || one.Items[0].DescribedObject.Kind != c.kind || one.Items[0].Value.AsApproximateFloat64() != c.value {
				t.Errorf("%s: %+v; want one %s with value %v", c.path, one.Items, c.kind, c.value)
			}
		}

		var ext emv1beta1.ExternalMetricValueList
		getJSON(ctx, t, e, externalV1+ns+"/calls", url.Values{"labelSelector": {"workload=" + w.name + ",region=eu-west"}}, &ext)
		checkKind(t, ext.TypeMeta, "ExternalMetricValueList", "external.metrics.k8s.io/v1beta1")
		if len(ext.Items) != 1 || ext.Items[0].MetricName != "calls" || ext.Items[0].Value.AsApproximateFloat64() != 30 {
			t.Errorf("external calls: %+v; want one value, 30", ext.Items)
		}

		// An unknown metric is a well-formed 404, not an empty list.
		_, err := e.Client.CoreV1().RESTClient().Get().AbsPath(customV1beta2 + ns + "/pods/*/no_such_gauge").DoRaw(ctx)
		if !apierrors.IsNotFound(err) {
			t.Errorf("unknown metric: %v; want NotFound", err)
		}
		// A malformed metric selector is the caller's mistake, a 400 as a
		// malformed labelSelector is, not the library's 500.
		body, err := e.Client.CoreV1().RESTClient().Get().AbsPath(customV1beta2+ns+"/pods/*/calls").
			Param("labelSelector", "app="+w.name).Param("metricLabelSelector", "bad===(").DoRaw(ctx)
		if !apierrors.IsBadRequest(err) || !strings.Contains(string(body), `metricLabelSelector \"bad===(\" is not a label selector`) {
			t.Errorf("malformed metricLabelSelector: %v %s; want BadRequest naming it", err, body)
		}
	})

	t.Run("refused", func(t *testing.T) {
		path := customV1beta2 + "/namespaces/" + w.ns + "/pods/*/calls"

		// Through the apiserver without credentials.
		anon, err := rest.HTTPClientFor(&rest.Config{Host: e.URL, TLSClientConfig: rest.TLSClientConfig{CAData: e.CA.CertPEM}})
		if err != nil {
			t.Fatal(err)
		}
		if code, body := get(ctx, t, anon, e.URL+path, nil); code != http.StatusUnauthorized && code != http.StatusForbidden {
			t.Errorf("anonymous request through the apiserver: %d %s; want 401 or 403", code, body)
		}

		// Straight to the adapter: it authenticates and authorizes by
		// asking the apiserver (TokenReview, SubjectAccessReview).
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(e.Adapter.CA.CertPEM)
		direct := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		hpaToken := token(ctx, t, e, "kube-system", "horizontal-pod-autoscaler")
		nobodyToken := token(ctx, t, e, w.ns, "default")
		for _, c := range []struct {
			what    string
			headers map[string]string
			ok      bool
		}{
			{"no credentials", nil, false},
			{"forged front-proxy headers without its client certificate",
				map[string]string{"X-Remote-User": "system:serviceaccount:kube-system:horizontal-pod-autoscaler", "X-Remote-Group": "system:masters"}, false},
			{"a ServiceAccount without RBAC", map[string]string{"Authorization": "Bearer " + nobodyToken}, false},
			{"the HPA controller's ServiceAccount", map[string]string{"Authorization": "Bearer " + hpaToken}, true},
		} {
			code, body := get(ctx, t, direct, e.Adapter.URL+path, c.headers)
			refused := code == http.StatusUnauthorized || code == http.StatusForbidden
			switch {
			case c.ok && code != http.StatusOK:
				t.Errorf("adapter, %s: %d %s; want 200", c.what, code, body)
			case !c.ok && !refused:
				t.Errorf("adapter, %s: %d %s; want 401 or 403", c.what, code, body)
			}
		}
	})
}

// waitPodValues polls the adapter (through the apiserver) for the workload's
// pods' calls until done accepts them. The metrics API has no watch: polling
// is how its clients, the HPA included, see changes.
func waitPodValues(ctx context.Context, t *testing.T, e *framework.Environment, w *workload, done func(map[string]float64) bool) map[string]float64 {
	t.Helper()
	var last map[string]float64
	var lastErr error
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		raw, err := e.Client.CoreV1().RESTClient().Get().AbsPath(customV1beta2+"/namespaces/"+w.ns+"/pods/*/calls").
			Param("labelSelector", "app="+w.name).DoRaw(ctx)
		if lastErr = err; err != nil {
			return false, nil
		}
		var list cmv1beta2.MetricValueList
		if err := json.Unmarshal(raw, &list); err != nil {
			return false, err
		}
		last = map[string]float64{}
		for _, it := range list.Items {
			last[it.DescribedObject.Name] = it.Value.AsApproximateFloat64()
		}
		return done(last), nil
	})
	if err != nil {
		t.Fatalf("pods' calls of %s/%s never settled: %v; last answer %v, last error %v", w.ns, w.name, err, last, lastErr)
	}
	return last
}

func allEqual(m map[string]float64, v float64) bool {
	for _, x := range m {
		if x != v {
			return false
		}
	}
	return true
}

// getJSON GETs path through the apiserver and decodes the answer strictly
// into out: an unknown field fails the test.
func getJSON(ctx context.Context, t *testing.T, e *framework.Environment, path string, params url.Values, out any) {
	t.Helper()
	req := e.Client.CoreV1().RESTClient().Get().AbsPath(path)
	for k, vs := range params {
		for _, v := range vs {
			req = req.Param(k, v)
		}
	}
	raw, err := req.DoRaw(ctx)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		t.Fatalf("GET %s: not a well-formed %T: %v\n%s", path, out, err, raw)
	}
}

func checkKind(t *testing.T, tm metav1.TypeMeta, kind, apiVersion string) {
	t.Helper()
	if tm.Kind != kind || tm.APIVersion != apiVersion {
		t.Errorf("got kind %q apiVersion %q, want %q %q", tm.Kind, tm.APIVersion, kind, apiVersion)
	}
}

// get GETs url with client and headers and returns the status and body.
func get(ctx context.Context, t *testing.T, client *http.Client, url string, headers map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// token returns a short-lived token of the ServiceAccount ns/name.
func token(ctx context.Context, t *testing.T, e *framework.Environment, ns, name string) string {
	t.Helper()
	tr, err := e.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(fmt.Errorf("token for %s/%s: %w", ns, name, err))
	}
	return tr.Status.Token
}
