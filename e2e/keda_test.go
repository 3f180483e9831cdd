package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/rtcscale/rtcscale/e2e/framework"
	"github.com/rtcscale/rtcscale/sample"
)

// kedaTimeout bounds TestKEDA: an environment of its own (control plane,
// adapter, KEDA: half a minute on an idle machine, a few on a busy one),
// then both scenarios side by side.
const kedaTimeout = 8 * time.Minute

var scaledObjectsResource = schema.GroupVersionResource{Group: "keda.sh", Version: "v1alpha1", Resource: "scaledobjects"}

// kedaScaler is where KEDA reaches rtcscale's external scaler, and the
// certificates of their mutual TLS.
type kedaScaler struct {
	addr string
	tls  *framework.ScalerTLS
}

// TestKEDA proves rtcscale's KEDA external scaler against the real KEDA
// (operator and metrics apiserver built from e2e/tools/keda): ScaledObjects
// whose triggers point at the adapter's scaler drive the HPAs KEDA
// generates, which the real HPA controller acts on through KEDA's
// external.metrics.k8s.io. Both scenarios share one environment of their
// own, where KEDA owns the external metrics API.
func TestKEDA(t *testing.T) {
	skipUnlessE2E(t)
	e, scaler := kedaEnvironment(t)

	// external: a ScaledObject with an `external` trigger on a workload's
	// calls. KEDA's HPA scales up on the load (replicas = ceil(calls /
	// target)) and back to minReplicaCount once it leaves.
	t.Run("external", func(t *testing.T) {
		t.Parallel()
		ctx := testContext(t, scenarioTimeout)
		w := startWorkload(ctx, t, e, "asterisk", 1, framework.SidecarOptions{})
		triggerAuthentication(ctx, t, e, w.ns, scaler)
		hpa := applyScaledObject(ctx, t, e, w.ns, scaler.scaledObject("asterisk", 1, 1, "external", "workload: deployments.apps/asterisk"))
		h := waitHPA(ctx, t, e, w.ns, hpa, "an external metric s0-calls", func(h *autoscalingv2.HorizontalPodAutoscaler) bool {
			return len(h.Spec.Metrics) == 1 && h.Spec.Metrics[0].External != nil
		})
		// KEDA names the metric after GetMetricSpec's, prefixed with the
		// trigger's index, and targets GetMetricSpec's targetSize per pod.
		if m := h.Spec.Metrics[0].External; m.Metric.Name != "s0-calls" || m.Target.AverageValue == nil || m.Target.AverageValue.Value() != 10 {
			t.Fatalf("KEDA's HPA has external metric %q with target %+v, want s0-calls with an AverageValue of 10", m.Metric.Name, m.Target)
		}

		// 45 calls at 10 per replica need 5.
		w.sidecars.SetLoad(45)
		h = waitScaledBy(ctx, t, e, w.ns, w.name, hpa, 5, 5)
		if got := currentAverage(h); got != 9 {
			t.Errorf("HPA read %v calls per replica through KEDA, want 9 (the workload's 45 over 5 replicas)", got)
		}

		// The load leaves: back to minReplicaCount, after the HPA's
		// downscale stabilization.
		w.sidecars.SetLoad(0)
		waitScaledBy(ctx, t, e, w.ns, w.name, hpa, 1, 5)
	})

	// external-push: the media pool is at zero (it has no pods, so no load
	// of its own); an `external-push` trigger on the SIP proxy's pods
	// (labelSelector) wakes it when calls arrive there. Its pollingInterval
	// is an hour, far beyond the scenario's timeout: only the scaler's push
	// (StreamIsActive) can wake it in time, not KEDA's polling.
	t.Run("external-push", func(t *testing.T) {
		t.Parallel()
		ctx := testContext(t, scenarioTimeout)
		proxy := startWorkload(ctx, t, e, "kamailio", 2, framework.SidecarOptions{Kind: sample.KindKamailio})
		media := startWorkloadIn(ctx, t, e, proxy.ns, "rtpengine", 0, framework.SidecarOptions{Kind: sample.KindRTPEngine})
		triggerAuthentication(ctx, t, e, proxy.ns, scaler)
		hpa := applyScaledObject(ctx, t, e, proxy.ns, scaler.scaledObject("rtpengine", 3600, 0, "external-push", "labelSelector: app=kamailio"))
		// No calls: KEDA's one poll (at the start of its scale loop) finds
		// the trigger inactive, and the pool stays at zero. The operator's
		// keda_scaler_active says so; the ScaledObject's Active condition
		// may not, as KEDA's reconciler can overwrite that first result
		// with Unknown, and the next poll is an hour away.
		if active := waitScalerActive(ctx, t, e, proxy.ns, "rtpengine"); active != "0" {
			t.Fatalf("KEDA found the trigger active (keda_scaler_active %s) with no calls on the proxy", active)
		}
		if d, err := e.Client.AppsV1().Deployments(media.ns).Get(ctx, media.name, metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		} else if r := *d.Spec.Replicas; r != 0 {
			t.Fatalf("the media pool runs %d replicas with no calls on the proxy, want 0", r)
		}

		// 25 calls on the proxy: the push wakes the pool, and KEDA's HPA
		// takes it to ceil(25 / 10) = 3 replicas.
		proxy.sidecars.SetLoad(25)
		waitScaledBy(ctx, t, e, media.ns, media.name, hpa, 3, 3)
		waitScaledObject(ctx, t, e, proxy.ns, "rtpengine", "Active=True", func(u *unstructured.Unstructured) bool {
			return framework.ConditionStatus(u, "Active") == "True"
		})
	})
}

// scaledObject is the manifest (without apiVersion and kind) of a
// ScaledObject for the Deployment called name, at 10 calls a replica (at
// most 10 replicas) from the scope's calls, with a trigger of triggerType
// at the scaler authenticated by triggerAuthentication's
// TriggerAuthentication.
func (s kedaScaler) scaledObject(name string, pollingInterval, minReplicas int, triggerType, scope string) string {
	return fmt.Sprintf(`
metadata:
  name: %[1]s
spec:
  scaleTargetRef:
    name: %[1]s
  pollingInterval: %[2]d
  minReplicaCount: %[3]d
  maxReplicaCount: 10
  triggers:
    - type: %[4]s
      metadata:
        scalerAddress: %[5]q
        gauge: calls
        %[6]s
        target: "10"
      authenticationRef:
        name: rtcscale-scaler
`, name, pollingInterval, minReplicas, triggerType, s.addr, scope)
}

// kedaEnvironment starts the KEDA scenarios' environment: KEDA owns
// external.metrics.k8s.io, and rtcscale's adapter serves custom metrics and
// the KEDA external scaler on loopback with mutual TLS.
func kedaEnvironment(t *testing.T) (*framework.Environment, kedaScaler) {
	t.Helper()
	ctx := testContext(t, kedaTimeout)
	root, err := framework.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	// Each of the two builds, the control plane's and KEDA's, takes up to
	// coldBuildTimeout on a busy machine.
	var need time.Duration
	for _, cached := range []bool{framework.BinariesCached(ctx, root), framework.KEDABinariesCached(ctx, root)} {
		if !cached {
			need += coldBuildTimeout
		}
	}
	if d := testTimeout(); need > 0 && d > 0 && d < need {
		t.Fatalf("KEDA's or the control plane's binaries are not built yet and -timeout %v is too short to build them "+
			"(KEDA's took 23 minutes on a busy 2-core machine): run with -timeout %v, or build first with `go run ./e2e/cmd/controlplane -build-only`",
			d, need)
	}
	tls, err := framework.NewScalerTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ports, err := framework.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	scaler := kedaScaler{addr: "127.0.0.1:" + strconv.Itoa(ports[0]), tls: tls}
	start := time.Now()
	e, err := framework.StartEnvironment(ctx, root, framework.EnvironmentOptions{
		Options: controlPlaneOptions(),
		AdapterArgs: []string{
			"--keda-scaler-bind-address=" + scaler.addr,
			"--keda-scaler-tls-cert-file=" + tls.ServerCert,
			"--keda-scaler-tls-private-key-file=" + tls.ServerKey,
			"--keda-scaler-client-ca-file=" + tls.ClientCAFile,
		},
		Race: raceEnabled,
		KEDA: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("KEDA %s environment up in %s", e.KEDA.Version, time.Since(start).Round(time.Millisecond))
	stopAtEnd(t, e)
	t.Cleanup(func() {
		if err := e.Check(); err != nil {
			t.Error(err)
		}
		lines, err := e.KEDA.Problems()
		if err != nil {
			t.Error(err)
		}
		for _, l := range lines {
			t.Errorf("KEDA's log: %s", l)
		}
	})
	return e, scaler
}

// triggerAuthentication creates, in namespace ns, the Secret of KEDA's
// client certificate and the scaler's CA, and the TriggerAuthentication
// rtcscale-scaler that hands them to the trigger (caCert, tlsClientCert,
// tlsClientKey), as docs/keda.md tells users to.
func triggerAuthentication(ctx context.Context, t *testing.T, e *framework.Environment, ns string, s kedaScaler) {
	t.Helper()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "rtcscale-scaler-tls"},
		Data: map[string][]byte{
			"ca.crt":  s.tls.CA.CertPEM,
			"tls.crt": s.tls.Client.CertPEM,
			"tls.key": s.tls.Client.KeyPEM,
		},
	}
	if _, err := e.Client.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	applyKEDAObject(ctx, t, e, ns, "TriggerAuthentication", `
metadata:
  name: rtcscale-scaler
spec:
  secretTargetRef:
    - parameter: caCert
      name: rtcscale-scaler-tls
      key: ca.crt
    - parameter: tlsClientCert
      name: rtcscale-scaler-tls
      key: tls.crt
    - parameter: tlsClientKey
      name: rtcscale-scaler-tls
      key: tls.key
`)
}

// applyScaledObject applies the ScaledObject manifest (without apiVersion
// and kind) in namespace ns, waits until KEDA reports it Ready, and returns
// the name of the HPA KEDA made for it.
func applyScaledObject(ctx context.Context, t *testing.T, e *framework.Environment, ns, manifest string) string {
	t.Helper()
	so := applyKEDAObject(ctx, t, e, ns, "ScaledObject", manifest)
	u := waitScaledObject(ctx, t, e, ns, so.GetName(), "Ready=True with its HPA", func(u *unstructured.Unstructured) bool {
		hpa, _, _ := unstructured.NestedString(u.Object, "status", "hpaName")
		return framework.ConditionStatus(u, "Ready") == "True" && hpa != ""
	})
	hpa, _, _ := unstructured.NestedString(u.Object, "status", "hpaName")
	return hpa
}

// applyKEDAObject applies a keda.sh/v1alpha1 object of kind from manifest
// (without apiVersion and kind) in namespace ns.
func applyKEDAObject(ctx context.Context, t *testing.T, e *framework.Environment, ns, kind, manifest string) *unstructured.Unstructured {
	t.Helper()
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &obj.Object); err != nil {
		t.Fatalf("%s manifest: %v", kind, err)
	}
	obj.SetAPIVersion("keda.sh/v1alpha1")
	obj.SetKind(kind)
	obj.SetNamespace(ns)
	apply(ctx, t, e, obj)
	return obj
}

// waitScalerActive polls the KEDA operator's metrics until they report
// the state of the ScaledObject ns/name's trigger at its last check
// (keda_scaler_active, "0" or "1"), and returns it. The metrics have no
// watch: polling is how Prometheus reads them too.
func waitScalerActive(ctx context.Context, t *testing.T, e *framework.Environment, ns, name string) string {
	t.Helper()
	var value string
	var last int
	want := []string{`namespace="` + ns + `"`, `scaledObject="` + name + `"`}
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		code, body := get(ctx, t, http.DefaultClient, e.KEDA.OperatorMetricsURL, nil)
		if last = code; code != http.StatusOK {
			return false, nil
		}
		for line := range strings.Lines(string(body)) {
			if strings.HasPrefix(line, "keda_scaler_active{") && containsAll(line, want) {
				value = strings.TrimSpace(line[strings.LastIndexByte(line, '}')+1:])
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("KEDA's operator never reported keda_scaler_active for %s/%s: %v (last answer %d)", ns, name, err, last)
	}
	return value
}

// containsAll reports whether s contains every one of subs.
func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// waitScaledObject watches the ScaledObject until cond accepts it.
func waitScaledObject(ctx context.Context, t *testing.T, e *framework.Environment, ns, name, what string, cond func(*unstructured.Unstructured) bool) *unstructured.Unstructured {
	t.Helper()
	dyn, err := dynamic.NewForConfig(e.Admin)
	if err != nil {
		t.Fatal(err)
	}
	u, err := framework.Until(ctx, dyn.Resource(scaledObjectsResource).Namespace(ns), name, func(u *unstructured.Unstructured) (bool, error) {
		if err := e.Check(); err != nil {
			return false, err
		}
		return cond(u), nil
	})
	if err != nil {
		var status any
		if u != nil {
			status = u.Object["status"]
		}
		t.Fatalf("ScaledObject %s/%s never reached %s: %v; status %v; KEDA's logs in %s", ns, name, what, err, status, e.Dir+"/logs")
	}
	return u
}
