package deploy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"

	"github.com/rtcscale/rtcscale/internal/testenv"
)

// allComponents is an overlay with every kustomize component on.
const allComponents = `
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../../base]
components:
  - ../../components/cert-manager
  - ../../components/no-external-metrics
  - ../../components/deletion-cost
  - ../../components/service-monitor
  - ../../components/warm-restart
  - ../../components/keda-scaler
`

// kedaScaler is overlays/keda with the KEDA external scaler.
const kedaScaler = `
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../keda]
components: [../../components/keda-scaler]
`

func TestKustomizeOverlays(t *testing.T) {
	t.Run("cert-manager", func(t *testing.T) {
		checkInstall(t, mustBuild(t, "overlays/cert-manager", nil), install{external: true, tls: "certManager"})
	})
	t.Run("keda", func(t *testing.T) {
		objs := mustBuild(t, "overlays/keda", nil)
		checkInstall(t, objs, install{external: false, tls: "certManager"})
		// Only cert-manager's CRDs are needed: a cluster without the
		// Prometheus Operator must take the overlay.
		for _, o := range objs {
			if typed(o.APIVersion, o.Kind) == nil && !strings.HasPrefix(o.APIVersion, "cert-manager.io/") {
				t.Errorf("the keda overlay renders %s %s, whose CRD the cluster may lack", o.APIVersion, o.key())
			}
		}
		// With the Operator, the ServiceMonitor is one component away.
		withMonitor := mustBuild(t, "overlays/keda-monitored", map[string]string{"overlays/keda-monitored/kustomization.yaml": `
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../keda]
components: [../../components/service-monitor]
`})
		get[*map[string]any](t, withMonitor, "ServiceMonitor", namespace, name)
	})
	t.Run("keda-scaler", func(t *testing.T) {
		objs := mustBuild(t, "overlays/keda-scaler", map[string]string{"overlays/keda-scaler/kustomization.yaml": kedaScaler})
		checkInstall(t, objs, install{external: false, tls: "certManager", kedaScaler: true})
	})
	t.Run("all-components", func(t *testing.T) {
		objs := mustBuild(t, "overlays/all", map[string]string{"overlays/all/kustomization.yaml": allComponents})
		checkInstall(t, objs, install{external: false, deletionCost: true, deletionCostNamespaces: []string{"voice"}, tls: "certManager", kedaScaler: true})
	})
	t.Run("deletion-cost-cluster-wide", func(t *testing.T) {
		objs := mustBuild(t, "overlays/cluster-wide", map[string]string{"overlays/cluster-wide/kustomization.yaml": `
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../cert-manager]
components: [../../components/deletion-cost-cluster-wide]
`})
		checkInstall(t, objs, install{external: true, deletionCost: true, tls: "certManager"})
	})
	t.Run("tls-secret", func(t *testing.T) {
		caPEM, certPEM, keyPEM := servingCertificate(t)
		objs := mustBuild(t, "overlays/tls-secret", map[string]string{
			"overlays/tls-secret/ca.crt":  string(caPEM),
			"overlays/tls-secret/tls.crt": string(certPEM),
			"overlays/tls-secret/tls.key": string(keyPEM),
		})
		checkInstall(t, objs, install{external: true, tls: "secret"})
		secret := get[*corev1.Secret](t, objs, "Secret", namespace, name+"-tls")
		if secret.Type != corev1.SecretTypeTLS {
			t.Errorf("Secret type %s, want %s", secret.Type, corev1.SecretTypeTLS)
		}
		for _, a := range ofKind[*apiregistrationv1.APIService](objs, "APIService") {
			if string(a.Spec.CABundle) != string(caPEM) {
				t.Errorf("APIService %s caBundle is not the overlay's ca.crt", a.Name)
			}
			verifyServing(t, a.Spec.CABundle, secret.Data["tls.crt"], secret.Data["tls.key"])
		}
	})
}

// TestHelmAndKustomizeInstallTheSameObjects: the chart and the kustomize
// overlays with the same options produce the same objects with the same
// specs; only labels (Helm adds its own) and the order of arguments differ.
func TestHelmAndKustomizeInstallTheSameObjects(t *testing.T) {
	for _, tc := range []struct {
		name, values, overlay, kustomization string
	}{
		{"cert-manager", `tls: {mode: certManager}`, "overlays/cert-manager", ""},
		{"keda", `{tls: {mode: certManager}, apiService: {external: false}}`, "overlays/keda", ""},
		{"keda-scaler", `{tls: {mode: certManager}, kedaScaler: {enabled: true}}`, "overlays/keda-scaler", kedaScaler},
		{"all", `{tls: {mode: certManager}, apiService: {external: false}, serviceMonitor: {enabled: true}, deletionCost: {enabled: true, namespaces: [voice]}, warmRestart: {stream: RTCSCALE_LATEST}, kedaScaler: {enabled: true}}`, "overlays/all", allComponents},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var extra map[string]string
			if tc.kustomization != "" {
				extra = map[string]string{tc.overlay + "/kustomization.yaml": tc.kustomization}
			}
			helm := comparable(t, mustRender(t, tc.values))
			kust := comparable(t, mustBuild(t, tc.overlay, extra))
			delete(kust, "Namespace /"+namespace) // Helm leaves the namespace to --create-namespace
			if diff := cmp.Diff(sortedKeys(helm), sortedKeys(kust)); diff != "" {
				t.Fatalf("objects differ (-helm +kustomize):\n%s", diff)
			}
			for k := range helm {
				if diff := cmp.Diff(helm[k], kust[k]); diff != "" {
					t.Errorf("%s differs (-helm +kustomize):\n%s", k, diff)
				}
			}
		})
	}
}

// comparable maps each object to its JSON form without labels and with its
// containers' arguments sorted.
func comparable(t *testing.T, objs []object) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, o := range objs {
		b, err := json.Marshal(o.Obj)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		dropLabels(m)
		if o.Kind == "Deployment" {
			spec := m["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
			for _, c := range spec["containers"].([]any) {
				args := c.(map[string]any)["args"].([]any)
				sort.Slice(args, func(i, j int) bool { return args[i].(string) < args[j].(string) })
			}
		}
		out[o.key()] = m
	}
	return out
}

// dropLabels removes every metadata.labels in m, at any depth (pod
// templates have theirs).
func dropLabels(m map[string]any) {
	for k, v := range m {
		switch v := v.(type) {
		case map[string]any:
			if k == "metadata" {
				delete(v, "labels")
			}
			dropLabels(v)
		case []any:
			for _, e := range v {
				if em, ok := e.(map[string]any); ok {
					dropLabels(em)
				}
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// servingCertificate returns a CA and a certificate it signed for the
// adapter's Service, as an operator brings them to overlays/tls-secret.
func servingCertificate(t *testing.T) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rtcscale test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: serviceDNS}, DNSNames: []string{serviceDNS},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// TestTLSSecretOverlayGitignore runs docs/install.md's openssl commands for
// overlays/tls-secret as written, in a scratch copy of the overlay's folder,
// and checks that the overlay's .gitignore ignores every file they create
// (the CA's key above all) but not the overlay itself, and that the
// certificate they make is one the aggregator accepts.
func TestTLSSecretOverlayGitignore(t *testing.T) {
	testenv.LookPath(t, "bash", "bash")
	testenv.LookPath(t, "openssl", "openssl")
	doc, err := os.ReadFile("../docs/install.md")
	if err != nil {
		t.Fatal(err)
	}
	const overlay = "deploy/kustomize/overlays/tls-secret"
	script := regexp.MustCompile("(?s)```sh\n(cd " + regexp.QuoteMeta(overlay) + "\n.*?)```").FindSubmatch(doc)
	if script == nil {
		t.Fatalf("docs/install.md has no sh block starting with cd %s", overlay)
	}
	root := t.TempDir()
	dir := filepath.Join(root, overlay)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", string(script[1]))
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docs/install.md's openssl commands: %v\n%s", err, out)
	}
	created, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(created) < 3 {
		t.Fatalf("the commands created %d files, want at least ca.crt, tls.crt and tls.key", len(created))
	}
	ignore, err := os.ReadFile("kustomize/overlays/tls-secret/.gitignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(ignore), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	ignored := func(name string) bool {
		return slices.ContainsFunc(patterns, func(p string) bool { ok, _ := filepath.Match(p, name); return ok })
	}
	for _, f := range created {
		if !ignored(f.Name()) {
			t.Errorf("the overlay's .gitignore (%q) does not ignore %s, which docs/install.md's commands create", patterns, f.Name())
		}
	}
	for _, f := range []string{"kustomization.yaml", ".gitignore"} {
		if ignored(f) {
			t.Errorf("the overlay's .gitignore ignores its own %s", f)
		}
	}

	files := map[string]string{}
	for _, f := range []string{"ca.crt", "tls.crt", "tls.key"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		files["overlays/tls-secret/"+f] = string(b)
	}
	objs := mustBuild(t, "overlays/tls-secret", files)
	secret := get[*corev1.Secret](t, objs, "Secret", namespace, name+"-tls")
	verifyServing(t, secret.Data["ca.crt"], secret.Data["tls.crt"], secret.Data["tls.key"])
}

// TestKustomizeNetworkPolicyPatch applies docs/install.md's patch for a
// Prometheus in another namespace, as written, in an overlay: the metrics
// port then admits that namespace and no longer monitoring.
func TestKustomizeNetworkPolicyPatch(t *testing.T) {
	doc, err := os.ReadFile("../docs/install.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(patches:\n  - target: \\{group: networking.k8s.io, kind: NetworkPolicy.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/install.md has no NetworkPolicy patch")
	}
	objs := mustBuild(t, "overlays/prometheus-elsewhere", map[string]string{"overlays/prometheus-elsewhere/kustomization.yaml": `
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../cert-manager]
` + string(m[1])})
	checkInstall(t, objs, install{external: true, tls: "certManager", prometheus: []string{"observability"}})
	d := get[*appsv1.Deployment](t, objs, "Deployment", namespace, name)
	metrics := container(t, d).Ports[slices.IndexFunc(container(t, d).Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" })]
	if admits(t, ofKind[*networkingv1.NetworkPolicy](objs, "NetworkPolicy"), d.Spec.Template.Labels, metrics, peer{namespace: "monitoring"}) {
		t.Errorf("after the patch, the metrics port still admits the namespace monitoring")
	}
}
