package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	chart "helm.sh/helm/v4/pkg/chart"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
)

func TestChartDefaults(t *testing.T) {
	objs := mustRender(t, "")
	checkInstall(t, objs, install{external: true, tls: "generate"})
	for _, kind := range []string{"Certificate", "Issuer", "ServiceMonitor"} {
		if n := len(ofKind[any](objs, kind)); n != 0 {
			t.Errorf("the defaults render %d %s objects, want none (their CRDs may be missing)", n, kind)
		}
	}
	d := get[*appsv1.Deployment](t, objs, "Deployment", namespace, name)
	if img := container(t, d).Image; img != "ghcr.io/rtcscale/rtcscale:0.1.0" {
		t.Errorf("image %s, want the chart's appVersion", img)
	}
	// Forecasts on with the adapter's own defaults; warm restart off.
	for _, a := range container(t, d).Args {
		if strings.HasPrefix(a, "--forecast") || strings.HasPrefix(a, "--history") || strings.HasPrefix(a, "--warm-restart") {
			t.Errorf("the defaults render %s; want the adapter's defaults", a)
		}
	}
	off := get[*appsv1.Deployment](t, mustRender(t, `forecast: {enabled: false}`), "Deployment", namespace, name)
	if v, ok := flagArgs(container(t, off).Args)["forecast"]; !ok || v != "false" {
		t.Errorf("forecast.enabled=false: args %q lack --forecast=false", container(t, off).Args)
	}
}

func TestChartAllOptions(t *testing.T) {
	allOptions, err := os.ReadFile(filepath.Join(chartDir, "ci", "all-options-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs := mustRender(t, string(allOptions))
	checkInstall(t, objs, install{external: false, deletionCost: true, deletionCostNamespaces: []string{"voice", "video"}, tls: "certManager", kedaScaler: true})

	d := get[*appsv1.Deployment](t, objs, "Deployment", namespace, name)
	spec := d.Spec.Template.Spec
	c := container(t, d)
	args := flagArgs(c.Args)
	wantFlags(t, args, map[string]string{
		"nats-url":              "tls://nats-0.nats:4222,tls://nats-1.nats:4222",
		"subject-prefix":        "tenant-a.load.v1",
		"nats-creds":            "/etc/rtcscale/nats-auth/adapter.creds",
		"nats-tls-ca":           "/etc/rtcscale/nats-tls/ca.pem",
		"nats-tls-cert":         "/etc/rtcscale/nats-tls/tls.crt",
		"nats-tls-key":          "/etc/rtcscale/nats-tls/tls.key",
		"max-clock-skew":        "2s",
		"v":                     "3",
		"forecast-gauges":       "calls,bitrate_out",
		"forecast-lead":         "default=5m,voice/asterisk=learned",
		"history-replicas":      "3",
		"history-stream":        "TENANT_A_HISTORY",
		"history-subject":       "tenant-a.history.v1",
		"warm-restart-stream":   "RTCSCALE_LATEST",
		"warm-restart-replicas": "3",
	})
	if _, ok := args["warm-restart-memory"]; !ok {
		t.Errorf("args %q lack --warm-restart-memory", c.Args)
	}
	secretVolumes := map[string]string{}
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			secretVolumes[v.Name] = v.Secret.SecretName
		}
	}
	if secretVolumes["nats-auth"] != "rtcscale-nats" || secretVolumes["nats-tls"] != "nats-client-tls" {
		t.Errorf("secret volumes %v: want nats-auth from rtcscale-nats and nats-tls from nats-client-tls", secretVolumes)
	}
	if !strings.HasSuffix(c.Image, "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef") {
		t.Errorf("image %s is not pinned by digest", c.Image)
	}
	if aa := spec.Affinity.PodAntiAffinity; len(aa.RequiredDuringSchedulingIgnoredDuringExecution) != 1 || len(aa.PreferredDuringSchedulingIgnoredDuringExecution) != 0 {
		t.Errorf("antiAffinity hard: want one required term, got %+v", aa)
	}
	if spec.PriorityClassName != "system-cluster-critical" || spec.NodeSelector["kubernetes.io/os"] != "linux" ||
		len(spec.Tolerations) != 1 || len(spec.TopologySpreadConstraints) != 1 || len(spec.ImagePullSecrets) != 1 {
		t.Errorf("scheduling options missing from the pod spec: %+v", spec)
	}
	if d.Spec.Template.Annotations["example.com/team"] != "voice" || d.Spec.Template.Labels["example.com/tier"] != "control" {
		t.Errorf("pod annotations %v, labels %v", d.Spec.Template.Annotations, d.Spec.Template.Labels)
	}
	for _, a := range ofKind[interface{ GetName() string }](objs, "APIService") {
		if strings.Contains(a.GetName(), "external") {
			t.Errorf("APIService %s registered with apiService.external=false", a.GetName())
		}
	}

	sm := get[*map[string]any](t, objs, "ServiceMonitor", namespace, name)
	smSpec := (*sm)["spec"].(map[string]any)
	endpoints := smSpec["endpoints"].([]any)
	if ep := endpoints[0].(map[string]any); ep["port"] != "metrics" || ep["path"] != "/metrics" || ep["interval"] != "5s" || ep["honorLabels"] != true {
		t.Errorf("ServiceMonitor endpoint %v: want port metrics, path /metrics, interval 5s, honorLabels", ep)
	}
	if l := (*sm)["metadata"].(map[string]any)["labels"].(map[string]any); l["release"] != "prometheus" {
		t.Errorf("ServiceMonitor labels %v lack release=prometheus", l)
	}

	// With no issuerRef, the chart makes its own CA.
	for _, issuer := range []string{name + "-selfsigned", name + "-ca"} {
		get[*map[string]any](t, objs, "Issuer", namespace, issuer)
	}
	cm := get[*corev1.ConfigMap](t, objs, "ConfigMap", namespace, name+"-config")
	if !strings.Contains(cm.Data["config.yaml"], "stale-after: 5") || !strings.Contains(cm.Data["config.yaml"], "max-series: 200000") {
		t.Errorf("config.yaml does not merge the given settings into the defaults:\n%s", cm.Data["config.yaml"])
	}
}

func TestChartPasswordAndOwnCertificate(t *testing.T) {
	objs := mustRender(t, `
nats: {user: adapter, passwordSecret: {name: nats-users, key: adapter}}
tls: {mode: secret, secretName: my-serving-cert, caBundle: "LS0tLS1CRUdJTg=="}
`)
	checkInstall(t, objs, install{external: true, tls: "secret"})
	d := get[*appsv1.Deployment](t, objs, "Deployment", namespace, name)
	c := container(t, d)
	if flagArgs(c.Args)["nats-user"] != "adapter" {
		t.Errorf("args %q lack --nats-user=adapter", c.Args)
	}
	if len(c.Env) != 1 || c.Env[0].Name != "NATS_PASSWORD" || c.Env[0].ValueFrom == nil || c.Env[0].ValueFrom.SecretKeyRef == nil ||
		c.Env[0].ValueFrom.SecretKeyRef.Name != "nats-users" || c.Env[0].ValueFrom.SecretKeyRef.Key != "adapter" {
		t.Errorf("env %+v: want NATS_PASSWORD from Secret nats-users key adapter", c.Env)
	}
	if slices.ContainsFunc(d.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool {
		return v.Secret != nil && v.Name == "serving-cert" && v.Secret.SecretName != "my-serving-cert"
	}) {
		t.Errorf("the adapter does not mount the given serving certificate")
	}
	if has(objs, "Secret", namespace, name+"-tls") {
		t.Errorf("tls.mode=secret renders a Secret of its own")
	}
	for _, r := range ofKind[*rbacv1.ClusterRole](objs, "ClusterRole") {
		if strings.HasSuffix(r.Name, "pod-deletion-cost") {
			t.Errorf("ClusterRole %s rendered with the deletion-cost controller off", r.Name)
		}
	}
}

// TestChartRefusesBadValues: a contradictory setting fails the install with
// a message naming the value, instead of a pod that crash-loops.
func TestChartRefusesBadValues(t *testing.T) {
	for _, tc := range []struct{ values, want string }{
		{`nats: {credsSecret: {name: a}, user: b}`, "at most one of"},
		{`nats: {credsSecret: {name: a}, nkeySecret: {name: b}}`, "at most one of"},
		{`nats: {passwordSecret: {name: a}}`, "nats.passwordSecret needs nats.user"},
		{`tls: {mode: selfsigned}`, "tls.mode must be generate, certManager or secret"},
		{`tls: {mode: secret, caBundle: eA==}`, "tls.secretName is required"},
		{`tls: {mode: secret, secretName: s}`, "tls.caBundle"},
		{`antiAffinity: maybe`, "antiAffinity must be soft or hard"},
		// values.schema.json: a misspelt key fails instead of being ignored.
		{`replica: 3`, "replica"},
		{`config: {stale_after: 4}`, "stale_after"},
		{`config: {max-series: many}`, "max-series"},
		{`nats: {tls: {secretname: nats-tls}}`, "secretname"},
		// A stream name or subject prefix the permissions could not name.
		{`forecast: {historyStream: "A.B"}`, "historyStream"},
		{`forecast: {historySubject: "a.>"}`, "historySubject"},
		// A namespace name the NetworkPolicy's selector would never match.
		{`networkPolicy: {prometheusNamespaces: [Monitoring]}`, "prometheusNamespaces"},
	} {
		_, err := renderChart(tc.values)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("values %s: error %v, want one containing %q", tc.values, err, tc.want)
		}
	}
}

// TestChartBumpKeepsPodTemplate: a new chart version with the same
// appVersion changes the objects' helm.sh/chart label but not the pod
// template, so `helm upgrade` to it does not roll the adapter's replicas.
func TestChartBumpKeepsPodTemplate(t *testing.T) {
	bumped := filepath.Join(t.TempDir(), "rtcscale")
	if err := os.CopyFS(bumped, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	chartYAML := filepath.Join(bumped, "Chart.yaml")
	b, err := os.ReadFile(chartYAML)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^version: .*$`)
	if !re.Match(b) {
		t.Fatalf("Chart.yaml has no version line")
	}
	if err := os.WriteFile(chartYAML, re.ReplaceAll(b, []byte("version: 99.0.0")), 0o644); err != nil {
		t.Fatal(err)
	}
	deployment := func(dir string) *appsv1.Deployment {
		stream, err := RenderChart(dir, "rtcscale", namespace, "")
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decodeAll(stream)
		if err != nil {
			t.Fatal(err)
		}
		return get[*appsv1.Deployment](t, objs, "Deployment", namespace, name)
	}
	before, after := deployment(chartDir), deployment(bumped)
	if before.Labels["helm.sh/chart"] == after.Labels["helm.sh/chart"] || after.Labels["helm.sh/chart"] != "rtcscale-99.0.0" {
		t.Fatalf("helm.sh/chart %q then %q: the bump did not take", before.Labels["helm.sh/chart"], after.Labels["helm.sh/chart"])
	}
	if diff := gocmp.Diff(before.Spec.Template, after.Spec.Template); diff != "" {
		t.Errorf("a chart version bump changes the pod template, which rolls the adapter (-before +after):\n%s", diff)
	}
	for k := range before.Spec.Template.Labels {
		if k == "helm.sh/chart" || k == "app.kubernetes.io/version" {
			t.Errorf("the pod template carries %s", k)
		}
	}
}

// TestChartNetworkPolicy: the Prometheus namespaces and extra peers the
// operator lists are what reaches the metrics port; listing none closes it
// (an empty from would open it to all); the policy can be turned off.
func TestChartNetworkPolicy(t *testing.T) {
	objs := mustRender(t, `networkPolicy: {prometheusNamespaces: [observability, prom]}`)
	checkInstall(t, objs, install{external: true, tls: "generate", prometheus: []string{"observability", "prom"}})
	d := get[*appsv1.Deployment](t, objs, "Deployment", namespace, name)
	ports := map[string]corev1.ContainerPort{}
	for _, p := range container(t, d).Ports {
		ports[p.Name] = p
	}
	policies := func(objs []object) []*networkingv1.NetworkPolicy {
		return ofKind[*networkingv1.NetworkPolicy](objs, "NetworkPolicy")
	}
	prometheus := peer{namespace: "monitoring", podLabels: map[string]string{"app.kubernetes.io/name": "prometheus"}}
	if admits(t, policies(objs), d.Spec.Template.Labels, ports["metrics"], prometheus) {
		t.Errorf("prometheusNamespaces [observability, prom] still admits the namespace monitoring")
	}

	peers := mustRender(t, `networkPolicy: {prometheusNamespaces: [], metricsFrom: [{namespaceSelector: {matchLabels: {team: obs}}, podSelector: {matchLabels: {app: vmagent}}}]}`)
	vmagent := peer{namespace: "obs-1", nsLabels: map[string]string{"team": "obs"}, podLabels: map[string]string{"app": "vmagent"}}
	for _, tc := range []struct {
		src  peer
		want bool
	}{
		{vmagent, true},
		{peer{namespace: "obs-1", nsLabels: map[string]string{"team": "obs"}, podLabels: map[string]string{"app": "other"}}, false},
		{peer{namespace: "obs-2", podLabels: map[string]string{"app": "vmagent"}}, false},
		{prometheus, false},
	} {
		if got := admits(t, policies(peers), d.Spec.Template.Labels, ports["metrics"], tc.src); got != tc.want {
			t.Errorf("metricsFrom: %+v admitted %v, want %v", tc.src, got, tc.want)
		}
	}

	closed := mustRender(t, `networkPolicy: {prometheusNamespaces: []}`)
	for _, np := range policies(closed) {
		for _, r := range np.Spec.Ingress {
			if len(r.From) == 0 && slices.ContainsFunc(r.Ports, func(p networkingv1.NetworkPolicyPort) bool { return p.Port.String() == "metrics" }) {
				t.Errorf("no peer listed, yet a rule admits every source on the metrics port: %+v", r)
			}
		}
	}
	if admits(t, policies(closed), d.Spec.Template.Labels, ports["metrics"], prometheus) {
		t.Errorf("no peer listed, yet the metrics port admits %+v", prometheus)
	}
	if n := len(policies(mustRender(t, `networkPolicy: {enabled: false}`))); n != 0 {
		t.Errorf("networkPolicy.enabled=false renders %d NetworkPolicies", n)
	}
}

// TestChartDeletionCost: the deletion-cost controller's patch on pods is
// granted where the operator lists, by a Role in each namespace, or in every
// namespace only by the explicit deletionCost.clusterWide; on with neither,
// or with both, the install fails naming the values.
func TestChartDeletionCost(t *testing.T) {
	objs := mustRender(t, `deletionCost: {enabled: true, namespaces: [voice]}`)
	checkInstall(t, objs, install{external: true, tls: "generate", deletionCost: true, deletionCostNamespaces: []string{"voice"}})
	for _, r := range ofKind[*rbacv1.ClusterRole](objs, "ClusterRole") {
		if strings.HasSuffix(r.Name, "pod-deletion-cost") {
			t.Errorf("deletionCost.namespaces renders ClusterRole %s", r.Name)
		}
	}
	get[*rbacv1.Role](t, objs, "Role", "voice", name+":pod-deletion-cost")

	objs = mustRender(t, `deletionCost: {enabled: true, clusterWide: true}`)
	checkInstall(t, objs, install{external: true, tls: "generate", deletionCost: true})
	get[*rbacv1.ClusterRole](t, objs, "ClusterRole", "", name+":pod-deletion-cost")

	// Namespaces listed with the controller off grant nothing.
	checkInstall(t, mustRender(t, `deletionCost: {namespaces: [voice]}`), install{external: true, tls: "generate"})

	for _, tc := range []struct{ values, want string }{
		{`deletionCost: {enabled: true}`, "deletionCost.enabled needs deletionCost.namespaces"},
		{`deletionCost: {enabled: true, namespaces: [voice], clusterWide: true}`, "not both"},
		{`deletionCost: {enabled: true, namespaces: [Voice]}`, "namespaces"},
		{`deletionCost: {enabled: true, namespaces: [voice, voice]}`, "namespaces"},
	} {
		if _, err := renderChart(tc.values); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("values %s: error %v, want one containing %q", tc.values, err, tc.want)
		}
	}
}

// secretsOnly is a cluster for the chart's lookup holding Secrets, as
// engine.ClientProvider: what `helm upgrade` sees of a release's namespace.
type secretsOnly struct {
	client *dynamicfake.FakeDynamicClient
}

func (c secretsOnly) GetClientFor(apiVersion, kind string) (dynamic.NamespaceableResourceInterface, bool, error) {
	if apiVersion != "v1" || kind != "Secret" {
		return nil, false, fmt.Errorf("the chart looks up %s %s; only Secrets are expected", apiVersion, kind)
	}
	return c.client.Resource(corev1.SchemeGroupVersion.WithResource("secrets")), true, nil
}

// renderAgainst renders values as `helm upgrade` does against a cluster that
// holds secrets.
func renderAgainst(t *testing.T, values string, secrets ...*corev1.Secret) []object {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	var objs []runtime.Object
	for _, s := range secrets {
		objs = append(objs, s)
	}
	cluster := secretsOnly{dynamicfake.NewSimpleDynamicClient(scheme, objs...)}
	stream, err := renderChartWith(chartDir, "rtcscale", namespace, values, func(ch chart.Charter, vals common.Values) (map[string]string, error) {
		return engine.RenderWithClientProvider(ch, vals, cluster)
	})
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := decodeAll(stream)
	if err != nil {
		t.Fatal(err)
	}
	return rendered
}

// TestChartGenerateKeepsCertificate: with tls.mode=generate, a rendering
// against a cluster that holds the release's Secret keeps its CA,
// certificate and key, in the Secret and in every caBundle, so an upgrade
// rotates nothing and shows no change. A Secret missing a key is replaced
// whole. Without a cluster (`helm template`) the certificate is new every
// time: the caveat docs/install.md gives GitOps users.
func TestChartGenerateKeepsCertificate(t *testing.T) {
	secretOf := func(objs []object) *corev1.Secret {
		return get[*corev1.Secret](t, objs, "Secret", namespace, name+"-tls")
	}
	first := mustRender(t, "")
	installed := secretOf(first).DeepCopy()
	if again := secretOf(mustRender(t, "")); string(again.Data["tls.crt"]) == string(installed.Data["tls.crt"]) {
		t.Errorf("two renderings without a cluster made the same certificate; docs/install.md says they do not")
	}

	upgraded := renderAgainst(t, "", installed)
	checkInstall(t, upgraded, install{external: true, tls: "generate"})
	if diff := gocmp.Diff(installed.Data, secretOf(upgraded).Data); diff != "" {
		t.Errorf("rendered against the cluster, the Secret is not the one it holds (-installed +rendered):\n%s", diff)
	}
	for _, a := range ofKind[*apiregistrationv1.APIService](upgraded, "APIService") {
		if string(a.Spec.CABundle) != string(installed.Data["ca.crt"]) {
			t.Errorf("APIService %s: caBundle is not the installed Secret's CA", a.Name)
		}
	}

	partial := installed.DeepCopy()
	delete(partial.Data, "tls.key")
	replaced := renderAgainst(t, "", partial)
	checkInstall(t, replaced, install{external: true, tls: "generate"})
	if string(secretOf(replaced).Data["ca.crt"]) == string(installed.Data["ca.crt"]) {
		t.Errorf("a Secret without tls.key was kept in part; want a new CA and certificate")
	}
	// A Secret of another name (another release's) is not taken.
	other := installed.DeepCopy()
	other.Name = "someone-else-tls"
	if string(secretOf(renderAgainst(t, "", other)).Data["ca.crt"]) == string(installed.Data["ca.crt"]) {
		t.Errorf("the chart took the certificate of Secret %s", other.Name)
	}
}

// TestChartKEDAScaler: kedaScaler.enabled serves the external scaler on a
// Service port, with the adapter's own certificate unless another is
// given, leaves external.metrics.k8s.io to KEDA, and admits only KEDA's
// namespace to the port.
func TestChartKEDAScaler(t *testing.T) {
	objs := mustRender(t, `kedaScaler: {enabled: true}`)
	checkInstall(t, objs, install{external: false, tls: "generate", kedaScaler: true})
	args := flagArgs(container(t, get[*appsv1.Deployment](t, objs, "Deployment", namespace, name)).Args)
	wantFlags(t, args, map[string]string{
		"keda-scaler-bind-address":         ":9443",
		"keda-scaler-tls-cert-file":        "/var/run/serving-cert/tls.crt",
		"keda-scaler-tls-private-key-file": "/var/run/serving-cert/tls.key",
		"enable-external-metrics":          "false",
	})
	if _, ok := args["keda-scaler-client-ca-file"]; ok {
		t.Error("--keda-scaler-client-ca-file without kedaScaler.clientCA")
	}

	objs = mustRender(t, `kedaScaler: {enabled: true, port: 9500, tlsSecretName: scaler-cert, clientCA: {secretName: keda-clients, key: ca.pem}, kedaNamespaces: [keda]}`)
	checkInstall(t, objs, install{external: false, tls: "generate", kedaScaler: true})
	d := get[*appsv1.Deployment](t, objs, "Deployment", namespace, name)
	wantFlags(t, flagArgs(container(t, d).Args), map[string]string{
		"keda-scaler-bind-address":         ":9500",
		"keda-scaler-tls-cert-file":        "/var/run/keda-scaler-cert/tls.crt",
		"keda-scaler-tls-private-key-file": "/var/run/keda-scaler-cert/tls.key",
		"keda-scaler-client-ca-file":       "/var/run/keda-scaler-client-ca/ca.pem",
	})
	secrets := map[string]string{}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			secrets[v.Name] = v.Secret.SecretName
		}
	}
	if secrets["keda-scaler-cert"] != "scaler-cert" || secrets["keda-scaler-client-ca"] != "keda-clients" {
		t.Errorf("secret volumes %v: want keda-scaler-cert from scaler-cert, keda-scaler-client-ca from keda-clients", secrets)
	}

	plain := mustRender(t, `kedaScaler: {enabled: true, insecurePlaintext: true}`)
	checkInstall(t, plain, install{external: false, tls: "generate", kedaScaler: true})
	if _, err := RenderChart(chartDir, "rtcscale", namespace, `kedaScaler: {enabled: true, insecurePlaintext: true, clientCA: {secretName: x}}`); err == nil || !strings.Contains(err.Error(), "insecurePlaintext takes no") {
		t.Errorf("plaintext with a client CA: %v, want refused", err)
	}
}

// wantFlags reports each flag of want whose value in args differs.
func wantFlags(t *testing.T, args, want map[string]string) {
	t.Helper()
	for flag, v := range want {
		if args[flag] != v {
			t.Errorf("--%s=%q, want %q", flag, args[flag], v)
		}
	}
}
