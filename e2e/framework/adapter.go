package framework

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
)

// The manifests the product ships, applied unchanged except where noted in
// StartAdapter.
const (
	manifestDir        = "deploy/kustomize/base"
	namespaceManifest  = "namespace.yaml"
	rbacManifest       = "rbac.yaml"
	apiServiceManifest = "apiservice.yaml"
	// adapterTokenSeconds outlives any run, even a kept-up control plane.
	adapterTokenSeconds = 48 * 3600
)

var apiServicesResource = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// AdapterOptions configure `rtcscale adapter`.
type AdapterOptions struct {
	// Binary is the rtcscale executable (see BuildRTCScale).
	Binary string
	// NATSURL is where the adapter subscribes to samples.
	NATSURL string
	// Args are further flags, e.g. --stale-after.
	Args []string
	// NoExternalMetrics is for a cluster where another adapter (KEDA's
	// metrics apiserver) owns external.metrics.k8s.io: the adapter runs
	// with --enable-external-metrics=false and its external APIService is
	// not applied, as components/no-external-metrics does.
	NoExternalMetrics bool
}

// externalMetricsGroup is the API group one adapter per cluster serves.
const externalMetricsGroup = "external.metrics.k8s.io"

// Adapter is `rtcscale adapter` running as a process outside the cluster,
// registered with the aggregation layer through the APIServices of
// deploy/kustomize/base, and acting as the ServiceAccount of its rbac.yaml.
type Adapter struct {
	Process *Process
	// URL is the adapter's own HTTPS address, https://127.0.0.1:PORT.
	URL string
	// OpsURL serves its /metrics, /healthz and /readyz over plain HTTP.
	OpsURL string
	// CA signed its serving certificate; it is the APIServices' caBundle.
	CA *CA
	// Kubeconfig authenticates as the adapter's ServiceAccount (a token
	// from the TokenRequest API).
	Kubeconfig string
	// APIServices are the names of the registered APIService objects.
	APIServices []string
}

// BuildRTCScale builds ./cmd/rtcscale of the checkout at repoRoot into dir,
// with the race detector if race is set.
func BuildRTCScale(ctx context.Context, repoRoot, dir string, race bool) (string, error) {
	bin := filepath.Join(dir, "rtcscale")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	cmd := goCommand(ctx, repoRoot, append(args, "./cmd/rtcscale")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %v: %w\n%s", args, err, out)
	}
	return bin, nil
}

// StartAdapter applies the adapter's namespace and RBAC, starts the adapter
// with a token of its ServiceAccount, registers its APIServices and waits
// until the aggregator reports them Available.
//
// The adapter runs on loopback, outside the cluster, so two things differ
// from an in-cluster install, both in how the apiserver finds it and
// neither in what it trusts: the Service becomes an ExternalName service for
// "localhost" (the aggregator dials https://localhost:PORT), and each
// APIService gets the adapter's port and a caBundle with the CA of the
// adapter's own serving certificate, which names the Service
// (<service>.<namespace>.svc) as the aggregator requires.
func StartAdapter(ctx context.Context, cp *ControlPlane, repoRoot string, opts AdapterOptions) (_ *Adapter, err error) {
	manifests := filepath.Join(repoRoot, manifestDir)
	applier, err := NewApplier(cp.Admin)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cp.Dir, "adapter")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	a := &Adapter{Kubeconfig: filepath.Join(dir, "adapter.kubeconfig")}
	if _, err := cp.applyServiceAccount(ctx, applier, manifests, []string{namespaceManifest, rbacManifest}, a.Kubeconfig); err != nil {
		return nil, err
	}

	apiObjs, err := ReadManifests(filepath.Join(manifests, apiServiceManifest))
	if err != nil {
		return nil, err
	}
	svc := findKind(apiObjs, "Service")
	if svc == nil {
		return nil, fmt.Errorf("%s has no Service", apiServiceManifest)
	}
	if a.CA, err = NewCA("rtcscale-adapter-ca"); err != nil {
		return nil, err
	}
	serving, err := a.CA.Issue(Cert{
		CommonName: "rtcscale-adapter",
		Server:     true,
		DNSNames:   []string{svc.GetName() + "." + svc.GetNamespace() + ".svc", "localhost"},
		IPs:        []net.IP{net.ParseIP("127.0.0.1")},
	})
	if err != nil {
		return nil, err
	}
	certFile, keyFile, err := serving.Write(dir, "serving")
	if err != nil {
		return nil, err
	}
	ports, err := FreePorts(2)
	if err != nil {
		return nil, err
	}
	a.URL = "https://127.0.0.1:" + strconv.Itoa(ports[0])
	a.OpsURL = "http://127.0.0.1:" + strconv.Itoa(ports[1])
	args := append([]string{
		"adapter",
		"--nats-url=" + opts.NATSURL,
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(ports[0]),
		"--tls-cert-file=" + certFile, "--tls-private-key-file=" + keyFile,
		"--lister-kubeconfig=" + a.Kubeconfig,
		"--authentication-kubeconfig=" + a.Kubeconfig,
		"--authorization-kubeconfig=" + a.Kubeconfig,
		"--metrics-bind-address=127.0.0.1:" + strconv.Itoa(ports[1]),
		"--v=2",
	}, opts.Args...)
	if opts.NoExternalMetrics {
		args = append(args, "--enable-external-metrics=false")
	}
	if a.Process, err = StartProcess("rtcscale-adapter", filepath.Join(cp.Dir, "logs"), opts.Binary, args...); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			a.Process.Stop()
		}
	}()
	if err := waitHealthy(ctx, a.Process, a.CA.HTTPClient(), a.URL+"/readyz"); err != nil {
		if lines, _ := a.Problems(); len(lines) > 0 {
			return nil, fmt.Errorf("%w\n%s", err, strings.Join(lines, "\n"))
		}
		return nil, err
	}

	// Reach the adapter from the apiserver; see the comment above.
	port := int64(ports[0])
	caBundle := base64.StdEncoding.EncodeToString(a.CA.CertPEM)
	apply := apiObjs[:0:0]
	for _, obj := range apiObjs {
		if group, _, _ := unstructured.NestedString(obj.Object, "spec", "group"); opts.NoExternalMetrics && group == externalMetricsGroup {
			continue
		}
		apply = append(apply, obj)
		switch obj.GetKind() {
		case "Service":
			obj.Object["spec"] = map[string]any{"type": "ExternalName", "externalName": "localhost"}
		case "APIService":
			if err := unstructured.SetNestedField(obj.Object, port, "spec", "service", "port"); err != nil {
				return nil, err
			}
			if err := unstructured.SetNestedField(obj.Object, caBundle, "spec", "caBundle"); err != nil {
				return nil, err
			}
			a.APIServices = append(a.APIServices, obj.GetName())
		}
	}
	if err := applier.Apply(ctx, apply...); err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cp.Admin)
	if err != nil {
		return nil, err
	}
	for _, name := range a.APIServices {
		last, err := Until(ctx, dyn.Resource(apiServicesResource), name, func(u *unstructured.Unstructured) (bool, error) {
			if err := a.Process.ExitError(); err != nil {
				return false, err
			}
			return ConditionStatus(u, "Available") == "True", nil
		})
		if err != nil {
			conds, _, _ := unstructured.NestedSlice(last.Object, "status", "conditions")
			return nil, fmt.Errorf("APIService %s never became Available: %w; conditions %v", name, err, conds)
		}
	}
	return a, nil
}

// applyServiceAccount applies the manifests files (relative to dir), among
// them one ServiceAccount with its RBAC, and writes at kubeconfig a
// kubeconfig that authenticates as that ServiceAccount, which it returns.
func (cp *ControlPlane) applyServiceAccount(ctx context.Context, applier *Applier, dir string, files []string, kubeconfig string) (*unstructured.Unstructured, error) {
	objs, err := readAll(dir, files)
	if err != nil {
		return nil, err
	}
	if err := applier.Apply(ctx, objs...); err != nil {
		return nil, err
	}
	sa := findKind(objs, "ServiceAccount")
	if sa == nil {
		return nil, fmt.Errorf("%s: no ServiceAccount in %v", dir, files)
	}
	return sa, cp.writeTokenKubeconfig(ctx, kubeconfig, sa.GetNamespace(), sa.GetName())
}

// readAll reads the manifests of files, relative to dir, in order.
func readAll(dir string, files []string) ([]*unstructured.Unstructured, error) {
	var all []*unstructured.Unstructured
	for _, f := range files {
		objs, err := ReadManifests(filepath.Join(dir, f))
		if err != nil {
			return nil, err
		}
		all = append(all, objs...)
	}
	return all, nil
}

func findKind(objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind {
			return o
		}
	}
	return nil
}

// ConditionStatus is the status ("True", "False", "Unknown") of the
// condition typ in u's status (an APIService's Available, a CRD's
// Established, a ScaledObject's Ready), "" if u has no such condition.
func ConditionStatus(u *unstructured.Unstructured, typ string) string {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ {
			s, _ := m["status"].(string)
			return s
		}
	}
	return ""
}

// writeTokenKubeconfig writes a kubeconfig that authenticates as the
// ServiceAccount namespace/name with a token from the TokenRequest API.
func (cp *ControlPlane) writeTokenKubeconfig(ctx context.Context, path, namespace, name string) error {
	tr, err := cp.Client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](adapterTokenSeconds)},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("token for ServiceAccount %s/%s: %w", namespace, name, err)
	}
	return clientcmd.WriteToFile(Kubeconfig(cp.URL, cp.CA.CertPEM, &clientcmdapi.AuthInfo{Token: tr.Status.Token}), path)
}

// Problems returns the lines of the adapter's log that report a request
// the apiserver refused (a permission deploy/'s RBAC lacks) or a data race
// (when built with the race detector), whatever the adapter did about them.
func (a *Adapter) Problems() ([]string, error) {
	return a.Process.scanLog(func(l string) string {
		switch {
		case strings.Contains(l, "forbidden"):
			return "refused by the apiserver (missing RBAC in " + manifestDir + "/" + rbacManifest + "?): " + l
		case strings.Contains(l, "WARNING: DATA RACE"):
			return "data race in the adapter, see " + a.Process.LogFile
		}
		return ""
	})
}

// Stop stops the adapter process.
func (a *Adapter) Stop() { a.Process.Stop() }

// HeapProfile fetches the adapter's heap profile (pprof format, after a
// garbage collection) from /debug/pprof/heap on its serving port, which the
// generic API server's --profiling (on by default) serves to callers
// authorized for that path: here the control plane's admin.
func (a *Adapter) HeapProfile(ctx context.Context, admin *rest.Config) ([]byte, error) {
	tlsConfig, err := rest.TLSConfigFor(admin)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(a.CA.CertPEM)
	tlsConfig.RootCAs = pool
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /debug/pprof/heap: %s: %s", resp.Status, body)
	}
	return body, nil
}
