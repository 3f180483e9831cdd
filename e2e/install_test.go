package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/rtcscale/rtcscale/deploy"
	"github.com/rtcscale/rtcscale/e2e/framework"
)

// TestInstall applies what deploy/ renders, unchanged, to a control plane
// of its own by server-side apply: the Helm chart with its defaults (a
// certificate the chart generates) and the kustomize overlay with the
// operator's own certificate. The Deployment's pods must become available
// (its ServiceAccount, selector and pod template are accepted and
// reconciled), then the adapter that Deployment describes runs: its
// arguments, the files of its Secret and ConfigMap volumes as the apiserver
// holds them, a token of its ServiceAccount with the rendered RBAC. Its
// APIServices must become Available, the aggregator verifying the adapter
// against the rendered caBundle, and the adapter must meet no refused
// request. The NetworkPolicy is applied with the rest (the apiserver
// validates it; nothing here enforces it: deploy's checkNetworkPolicy
// evaluates it). For the chart, then: a rendering against the cluster, as
// `helm upgrade` does, keeps the generated certificate; the deletion cost's
// namespaced RBAC lets the adapter patch pods in its namespace only
// (SubjectAccessReview); and the pod template has no chart-version label.
//
// Each install gets its own control plane: APIServices are cluster-wide.
// What differs from a cluster is only how the apiserver reaches a process
// on loopback (docs/e2e.md): the Service becomes an ExternalName for
// localhost and each APIService gets the adapter's port.
func TestInstall(t *testing.T) {
	skipUnlessE2E(t)
	root, err := framework.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	chartDir := filepath.Join(root, "deploy/helm/rtcscale")
	for _, tc := range []struct {
		name   string
		render func(t *testing.T) []byte
		// then checks the installed cluster further.
		then func(ctx context.Context, t *testing.T, cp *framework.ControlPlane)
	}{
		{"helm", func(t *testing.T) []byte {
			out, err := deploy.RenderChart(chartDir, "rtcscale", "rtcscale", "")
			if err != nil {
				t.Fatal(err)
			}
			return out
		}, func(ctx context.Context, t *testing.T, cp *framework.ControlPlane) {
			checkUpgradeKeepsCertificate(ctx, t, cp, chartDir)
			checkDeletionCostRBAC(ctx, t, cp, chartDir)
			d, err := cp.Client.AppsV1().Deployments("rtcscale").Get(ctx, "rtcscale-adapter", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if v, ok := d.Spec.Template.Labels["helm.sh/chart"]; ok || d.Labels["helm.sh/chart"] == "" {
				t.Errorf("helm.sh/chart is %q on the pod template (a chart bump would roll the adapter) and %q on the Deployment", v, d.Labels["helm.sh/chart"])
			}
			if _, err := cp.Client.NetworkingV1().NetworkPolicies("rtcscale").Get(ctx, "rtcscale-adapter", metav1.GetOptions{}); err != nil {
				t.Errorf("the chart's NetworkPolicy: %v", err)
			}
		}},
		{"kustomize", func(t *testing.T) []byte {
			ca, err := framework.NewCA("operator-ca")
			if err != nil {
				t.Fatal(err)
			}
			serving, err := ca.Issue(framework.Cert{CommonName: "rtcscale-adapter", Server: true, DNSNames: []string{"rtcscale-adapter.rtcscale.svc"}})
			if err != nil {
				t.Fatal(err)
			}
			out, err := deploy.BuildKustomize(filepath.Join(root, "deploy/kustomize"), "overlays/tls-secret", map[string]string{
				"overlays/tls-secret/ca.crt":  string(ca.CertPEM),
				"overlays/tls-secret/tls.crt": string(serving.CertPEM),
				"overlays/tls-secret/tls.key": string(serving.KeyPEM),
			})
			if err != nil {
				t.Fatal(err)
			}
			return out
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t, 10*time.Minute)
			bins, err := framework.EnsureBinaries(ctx, root, os.Stderr)
			if err != nil {
				t.Fatal(err)
			}
			cp, err := framework.Start(ctx, bins, framework.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cp.Stop)
			installAndRegister(ctx, t, cp, root, tc.render(t))
			if tc.then != nil {
				tc.then(ctx, t, cp)
			}
		})
	}
}

// checkUpgradeKeepsCertificate renders the chart again as `helm upgrade`
// does, its lookup reading the installed cluster: tls.mode=generate must
// keep the Secret the apiserver holds, and the caBundle of every
// APIService, so that an upgrade neither rotates the CA nor shows a change.
func checkUpgradeKeepsCertificate(ctx context.Context, t *testing.T, cp *framework.ControlPlane, chartDir string) {
	t.Helper()
	stream, err := deploy.RenderChartAgainst(cp.Admin, chartDir, "rtcscale", "rtcscale", "")
	if err != nil {
		t.Fatalf("rendering against the cluster: %v", err)
	}
	file := filepath.Join(t.TempDir(), "upgrade.yaml")
	if err := os.WriteFile(file, stream, 0o644); err != nil {
		t.Fatal(err)
	}
	objs, err := framework.ReadManifests(file)
	if err != nil {
		t.Fatal(err)
	}
	installed, err := cp.Client.CoreV1().Secrets("rtcscale").Get(ctx, "rtcscale-adapter-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var secrets, bundles int
	for _, o := range objs {
		switch o.GetKind() {
		case "Secret":
			secrets++
			for _, k := range []string{"ca.crt", "tls.crt", "tls.key"} {
				v, _, _ := unstructured.NestedString(o.Object, "data", k)
				if v != base64.StdEncoding.EncodeToString(installed.Data[k]) {
					t.Errorf("rendered against the cluster, Secret %s's %s differs from the installed one", o.GetName(), k)
				}
			}
		case "APIService":
			bundles++
			v, _, _ := unstructured.NestedString(o.Object, "spec", "caBundle")
			if v != base64.StdEncoding.EncodeToString(installed.Data["ca.crt"]) {
				t.Errorf("rendered against the cluster, APIService %s's caBundle is not the installed CA", o.GetName())
			}
		}
	}
	if secrets != 1 || bundles == 0 {
		t.Errorf("the upgrade rendering has %d Secrets and %d APIServices", secrets, bundles)
	}
}

// checkDeletionCostRBAC applies the RBAC of the chart with the deletion cost
// on for the namespace voice, and asks the apiserver what the adapter's
// ServiceAccount may then do: patch pods in voice, and nowhere else.
func checkDeletionCostRBAC(ctx context.Context, t *testing.T, cp *framework.ControlPlane, chartDir string) {
	t.Helper()
	stream, err := deploy.RenderChart(chartDir, "rtcscale", "rtcscale", `deletionCost: {enabled: true, namespaces: [voice]}`)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "deletion-cost.yaml")
	if err := os.WriteFile(file, stream, 0o644); err != nil {
		t.Fatal(err)
	}
	objs, err := framework.ReadManifests(file)
	if err != nil {
		t.Fatal(err)
	}
	var rbac []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetAPIVersion() == "rbac.authorization.k8s.io/v1" {
			rbac = append(rbac, o)
		}
	}
	// The namespaces must exist, as install.md says.
	for _, ns := range []string{"voice", "video"} {
		if err := framework.CreateNamespace(ctx, cp.Client, ns); err != nil && !strings.Contains(err.Error(), "already exists") {
			t.Fatal(err)
		}
	}
	applier, err := framework.NewApplier(cp.Admin)
	if err != nil {
		t.Fatal(err)
	}
	if err := applier.Apply(ctx, rbac...); err != nil {
		t.Fatalf("server-side apply of the deletion cost's RBAC: %v", err)
	}
	const sa = "system:serviceaccount:rtcscale:rtcscale-adapter"
	for _, tc := range []struct {
		verb, namespace string
		want            bool
	}{
		{"patch", "voice", true},
		{"patch", "video", false},
		{"patch", "rtcscale", false},
		{"patch", "", false}, // every namespace
		{"watch", "video", true},
		{"delete", "voice", false},
		{"update", "voice", false},
	} {
		// The RBAC authorizer's caches follow the new bindings within a
		// moment: ask until the answer is the wanted one or time is up.
		// The first case is allowed only once the binding is seen, so the
		// denials after it are not the caches' lag.
		var got bool
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			r, err := cp.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
				Spec: authorizationv1.SubjectAccessReviewSpec{
					User:               sa,
					Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:rtcscale", "system:authenticated"},
					ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: tc.verb, Resource: "pods", Namespace: tc.namespace},
				},
			}, metav1.CreateOptions{})
			if err != nil {
				return false, err
			}
			got = r.Status.Allowed
			return got == tc.want, nil
		})
		if err != nil && !wait.Interrupted(err) {
			t.Fatalf("SubjectAccessReview: %v", err)
		}
		if got != tc.want {
			t.Errorf("the adapter may %s pods in namespace %q: %v, want %v", tc.verb, tc.namespace, got, tc.want)
		}
	}
}

var apiServices = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

func installAndRegister(ctx context.Context, t *testing.T, cp *framework.ControlPlane, root string, manifests []byte) {
	file := filepath.Join(t.TempDir(), "install.yaml")
	if err := os.WriteFile(file, manifests, 0o644); err != nil {
		t.Fatal(err)
	}
	objs, err := framework.ReadManifests(file)
	if err != nil {
		t.Fatal(err)
	}
	var deployment *unstructured.Unstructured
	var registrations []*unstructured.Unstructured
	for _, o := range objs {
		switch o.GetKind() {
		case "Deployment":
			deployment = o
		case "Service", "APIService":
			registrations = append(registrations, o)
		}
	}
	if deployment == nil {
		t.Fatal("the manifests have no Deployment")
	}
	ns := deployment.GetNamespace()
	// Helm leaves the namespace to --create-namespace.
	if err := framework.CreateNamespace(ctx, cp.Client, ns); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	applier, err := framework.NewApplier(cp.Admin)
	if err != nil {
		t.Fatal(err)
	}
	if err := applier.Apply(ctx, objs...); err != nil {
		t.Fatalf("server-side apply of the rendered manifests: %v", err)
	}

	d, err := framework.Until(ctx, cp.Client.AppsV1().Deployments(ns), deployment.GetName(), func(d *appsv1.Deployment) (bool, error) {
		return d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas == *d.Spec.Replicas, nil
	})
	if err != nil {
		t.Fatalf("the adapter's Deployment never had its replicas available: %v; status %+v", err, d.Status)
	}

	adapter := startRenderedAdapter(ctx, t, cp, root, d)

	// How the apiserver reaches the adapter on loopback; the rendered
	// caBundle stays as it is.
	for _, o := range registrations {
		switch o.GetKind() {
		case "Service":
			o.Object["spec"] = map[string]any{"type": "ExternalName", "externalName": "localhost"}
		case "APIService":
			if err := unstructured.SetNestedField(o.Object, int64(adapter.port), "spec", "service", "port"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := applier.Apply(ctx, registrations...); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cp.Admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range registrations {
		if o.GetKind() != "APIService" {
			continue
		}
		last, err := framework.Until(ctx, dyn.Resource(apiServices), o.GetName(), func(u *unstructured.Unstructured) (bool, error) {
			if err := adapter.process.ExitError(); err != nil {
				return false, fmt.Errorf("the adapter exited: %w", err)
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				if c, ok := c.(map[string]any); ok && c["type"] == "Available" {
					return c["status"] == "True", nil
				}
			}
			return false, nil
		})
		if err != nil {
			conds, _, _ := unstructured.NestedSlice(last.Object, "status", "conditions")
			t.Fatalf("APIService %s never became Available: %v; conditions %v", o.GetName(), err, conds)
		}
	}
	// Available is the availability controller's verdict; the proxy
	// handler follows the same APIService and Service updates through its
	// own informers, so its first requests may still 503 for a moment.
	var body []byte
	err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		body, err = cp.Client.Discovery().RESTClient().Get().AbsPath("/apis/custom.metrics.k8s.io/v1beta2").DoRaw(ctx)
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("discovery of custom.metrics.k8s.io/v1beta2 through the aggregator never answered: %v", err)
	}
	if !strings.Contains(string(body), `"groupVersion":"custom.metrics.k8s.io/v1beta2"`) {
		t.Errorf("discovery answer: %s", body)
	}
	lines, err := (&framework.Adapter{Process: adapter.process}).Problems()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		t.Errorf("adapter log: %s", l)
	}
}

type renderedAdapter struct {
	process *framework.Process
	port    int
}

// startRenderedAdapter runs the adapter of d as a process on loopback: the
// container's arguments, with each volume's files written from the Secret or
// ConfigMap the apiserver holds and the paths rewritten to them, loopback
// ports, the test's NATS server, and kubeconfigs holding a token of the
// Deployment's ServiceAccount.
func startRenderedAdapter(ctx context.Context, t *testing.T, cp *framework.ControlPlane, root string, d *appsv1.Deployment) renderedAdapter {
	t.Helper()
	dir := t.TempDir()
	pod := d.Spec.Template.Spec
	ns := d.Namespace
	c := pod.Containers[0]
	mounts := map[string]string{} // mountPath -> local folder
	for _, v := range pod.Volumes {
		files := map[string][]byte{}
		switch {
		case v.Secret != nil:
			s, err := cp.Client.CoreV1().Secrets(ns).Get(ctx, v.Secret.SecretName, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("volume %s: %v", v.Name, err)
			}
			files = s.Data
		case v.ConfigMap != nil:
			cm, err := cp.Client.CoreV1().ConfigMaps(ns).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("volume %s: %v", v.Name, err)
			}
			for k, s := range cm.Data {
				files[k] = []byte(s)
			}
		default:
			t.Fatalf("volume %s: neither a Secret nor a ConfigMap", v.Name)
		}
		local := filepath.Join(dir, v.Name)
		if err := os.Mkdir(local, 0o700); err != nil {
			t.Fatal(err)
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(local, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		for _, m := range c.VolumeMounts {
			if m.Name == v.Name {
				mounts[m.MountPath] = local
			}
		}
	}

	natsServer, err := framework.StartNATS("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(natsServer.Shutdown)
	kubeconfig := filepath.Join(dir, "adapter.kubeconfig")
	tr, err := cp.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, pod.ServiceAccountName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for the Deployment's ServiceAccount %s: %v", pod.ServiceAccountName, err)
	}
	if err := clientcmd.WriteToFile(framework.Kubeconfig(cp.URL, cp.CA.CertPEM, &clientcmdapi.AuthInfo{Token: tr.Status.Token}), kubeconfig); err != nil {
		t.Fatal(err)
	}
	ports, err := framework.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}

	if len(c.Args) == 0 || c.Args[0] != "adapter" {
		t.Fatalf("container args %q do not run the adapter", c.Args)
	}
	var args []string
	for _, a := range c.Args {
		name, value, _ := strings.Cut(a, "=")
		switch name {
		case "--secure-port":
			a = "--secure-port=" + strconv.Itoa(ports[0])
		case "--metrics-bind-address":
			a = "--metrics-bind-address=127.0.0.1:" + strconv.Itoa(ports[1])
		case "--nats-url":
			a = "--nats-url=" + natsServer.ClientURL()
		}
		for mountPath, local := range mounts {
			if strings.HasPrefix(value, mountPath+"/") {
				a = name + "=" + local + strings.TrimPrefix(value, mountPath)
			}
		}
		args = append(args, a)
	}
	args = append(args, "--bind-address=127.0.0.1",
		"--lister-kubeconfig="+kubeconfig, "--authentication-kubeconfig="+kubeconfig, "--authorization-kubeconfig="+kubeconfig)

	bin, err := framework.BuildRTCScale(ctx, root, dir, raceEnabled)
	if err != nil {
		t.Fatal(err)
	}
	p, err := framework.StartProcess("rtcscale-adapter", dir, bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			if b, err := os.ReadFile(p.LogFile); err == nil {
				t.Logf("adapter log:\n%s", b)
			}
		}
	})
	return renderedAdapter{process: p, port: ports[0]}
}
