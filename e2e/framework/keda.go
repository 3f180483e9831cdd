package framework

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// kedaModule is the module KEDA's binaries, CRDs and manifests come from,
// pinned by e2e/tools/keda.
const kedaModule = "github.com/kedacore/keda/v2"

// kedaBuilds are KEDA's operator and metrics apiserver. They have a tools
// module of their own: KEDA v2.21 builds with k8s.io/* v0.36, which the
// control plane's module (k8s.io/kubernetes v1.37) cannot also require.
var kedaBuilds = []toolBuild{{
	name:       "keda",
	toolsDir:   "e2e/tools/keda",
	modulePath: kedaModule,
	binaries: []binary{
		{"keda-operator", kedaModule + "/cmd/operator"},
		{"keda-adapter", kedaModule + "/cmd/adapter"},
	},
	ldflags: kedaLDFlags,
}}

// kedaLDFlags stamps the release the way KEDA's Makefile does, so that the
// operator's and metrics apiserver's start-up banners name it.
func kedaLDFlags(m moduleInfo) string {
	return "-s -w -X " + kedaModule + "/version.Version=" + m.Version
}

// KEDABinaries are KEDA's executables and the source they were built from.
type KEDABinaries struct {
	Operator         string
	MetricsAPIServer string
	// Version is KEDA's release, e.g. v2.21.0.
	Version string
	// Source is the module's folder in the module cache: its config/ holds
	// the CRDs and manifests StartKEDA applies.
	Source string
}

// EnsureKEDABinaries returns KEDA's binaries, building them if they are not
// yet in the cache, exactly as EnsureBinaries does the control plane's (the
// same cache folder and lock).
func EnsureKEDABinaries(ctx context.Context, repoRoot string, log io.Writer) (KEDABinaries, error) {
	builds, err := ensure(ctx, repoRoot, kedaBuilds, log)
	if err != nil {
		return KEDABinaries{}, err
	}
	b := builds["keda"]
	src, err := moduleSource(ctx, filepath.Join(repoRoot, b.toolsDir), b.info)
	if err != nil {
		return KEDABinaries{}, err
	}
	return KEDABinaries{
		Operator:         filepath.Join(b.dir, "keda-operator"),
		MetricsAPIServer: filepath.Join(b.dir, "keda-adapter"),
		Version:          b.info.Version,
		Source:           src,
	}, nil
}

// KEDABinariesCached reports whether EnsureKEDABinaries would find KEDA's
// binaries in the cache, without building.
func KEDABinariesCached(ctx context.Context, repoRoot string) bool {
	return cached(ctx, repoRoot, kedaBuilds)
}

// KEDA's manifests (config/ of its module) that StartKEDA applies
// unchanged but for the Service and APIService (see StartKEDA). The
// Deployments (config/manager, config/metrics-server/deployment.yaml) are
// replaced by processes with the same flags and environment.
var (
	kedaCRDDir   = filepath.Join("config", "crd", "bases")
	kedaRBAC     = []string{"general/namespace.yaml", "service_account/service_account.yaml", "rbac/role.yaml", "rbac/role_binding.yaml", "metrics-server/role.yaml", "metrics-server/role_binding.yaml"}
	kedaAPIFiles = []string{"metrics-server/service.yaml", "metrics-server/api_service.yaml"}
)

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// KEDA is KEDA's operator and metrics apiserver running as processes on
// loopback against a control plane, the metrics apiserver registered as
// v1beta1.external.metrics.k8s.io.
type KEDA struct {
	Operator         *Process
	MetricsAPIServer *Process
	// Version is the running release.
	Version string
	// Namespace is KEDA's own (where its Deployments would run).
	Namespace string
	// OperatorMetricsURL serves the operator's Prometheus metrics, such as
	// keda_scaler_active: each trigger's state at its last check.
	OperatorMetricsURL string
	// Kubeconfig authenticates as KEDA's ServiceAccount, which both
	// processes act as (the metrics apiserver's Deployment uses the
	// operator's ServiceAccount too).
	Kubeconfig string
}

// StartKEDA installs KEDA's CRDs and RBAC from its module's config/, starts
// the operator and the metrics apiserver as KEDA's ServiceAccount, and
// registers the metrics apiserver as external.metrics.k8s.io, waiting
// until the aggregator reports it Available. Nothing else may serve that
// API (see AdapterOptions.NoExternalMetrics).
//
// What differs from KEDA's own install, and why:
//   - certificate rotation is off (--enable-cert-rotation=false, the
//     default): the certificates come from a CA of this run, written where
//     KEDA reads its mounted Secret (--cert-dir: ca.crt, tls.crt, tls.key).
//     The operator's gRPC metrics service requires a client certificate
//     signed by that CA; the metrics apiserver presents one.
//   - like rtcscale's adapter (see StartAdapter), the metrics apiserver's
//     Service becomes an ExternalName service for "localhost", and the
//     APIService gets its port and the CA as caBundle.
//   - the metrics apiserver finds the operator's gRPC service at its
//     loopback address (--metrics-service-address) instead of the
//     keda-operator Service.
func StartKEDA(ctx context.Context, cp *ControlPlane, bins KEDABinaries, log io.Writer) (_ *KEDA, err error) {
	config := filepath.Join(bins.Source, "config")
	applier, err := NewApplier(cp.Admin)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cp.Admin)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "e2e: installing KEDA %s's CRDs and RBAC\n", bins.Version)
	if err := installCRDs(ctx, applier, dyn, filepath.Join(bins.Source, kedaCRDDir)); err != nil {
		return nil, err
	}
	dir := filepath.Join(cp.Dir, "keda")
	operatorCerts, apiCerts := filepath.Join(dir, "operator-certs"), filepath.Join(dir, "metrics-apiserver-certs")
	caDir := filepath.Join(dir, "extra-ca")
	for _, d := range []string{operatorCerts, apiCerts, caDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	k := &KEDA{Version: bins.Version, Kubeconfig: filepath.Join(dir, "keda.kubeconfig")}
	sa, err := cp.applyServiceAccount(ctx, applier, config, kedaRBAC, k.Kubeconfig)
	if err != nil {
		return nil, err
	}
	k.Namespace = sa.GetNamespace()
	defer func() {
		if err != nil {
			k.Stop()
		}
	}()

	apiObjs, err := readAll(config, kedaAPIFiles)
	if err != nil {
		return nil, err
	}
	svc := findKind(apiObjs, "Service")
	if svc == nil {
		return nil, fmt.Errorf("KEDA's %v has no Service", kedaAPIFiles)
	}
	ca, err := NewCA("rtcscale-e2e-keda-ca")
	if err != nil {
		return nil, err
	}
	loopback := []net.IP{net.ParseIP("127.0.0.1")}
	certs := []struct {
		dir, name string
		cert      Cert
	}{
		// The operator's gRPC metrics service, dialled at 127.0.0.1.
		{operatorCerts, "tls", Cert{CommonName: "keda-operator", Server: true, IPs: loopback, DNSNames: []string{"localhost"}}},
		// The metrics apiserver's client certificate for that service.
		{apiCerts, "tls", Cert{CommonName: "keda-metrics-apiserver"}},
		// Its serving certificate, for the aggregator, which checks the
		// Service's name.
		{dir, "metrics-apiserver-serving", Cert{CommonName: "keda-metrics-apiserver", Server: true, IPs: loopback,
			DNSNames: []string{svc.GetName() + "." + svc.GetNamespace() + ".svc", "localhost"}}},
	}
	for _, c := range certs {
		kp, err := ca.Issue(c.cert)
		if err != nil {
			return nil, err
		}
		if _, _, err := kp.Write(c.dir, c.name); err != nil {
			return nil, err
		}
	}
	for _, d := range []string{operatorCerts, apiCerts} {
		if err := os.WriteFile(filepath.Join(d, "ca.crt"), ca.CertPEM, 0o644); err != nil {
			return nil, err
		}
	}

	ports, err := FreePorts(5)
	if err != nil {
		return nil, err
	}
	probe, grpcAddr := "127.0.0.1:"+strconv.Itoa(ports[0]), "127.0.0.1:"+strconv.Itoa(ports[1])
	metricsAddr := "127.0.0.1:" + strconv.Itoa(ports[4])
	k.OperatorMetricsURL = "http://" + metricsAddr + "/metrics"
	// The environment of KEDA's Deployments: every namespace watched, its
	// own namespace for the objects it keeps (and for the
	// TriggerAuthentication secrets of ClusterTriggerAuthentications).
	env := []string{
		"KUBECONFIG=" + k.Kubeconfig,
		"WATCH_NAMESPACE=",
		"POD_NAMESPACE=" + k.Namespace,
		"KEDA_CLUSTER_OBJECT_NAMESPACE=" + k.Namespace,
	}
	logs := filepath.Join(cp.Dir, "logs")
	fmt.Fprintf(log, "e2e: starting keda-operator\n")
	if k.Operator, err = startProcess("keda-operator", logs, bins.Operator, env, []string{
		"--leader-elect=false",
		"--enable-cert-rotation=false",
		"--cert-dir=" + operatorCerts,
		// Scalers' extra CAs (--ca-dir, default /custom/ca): none; the
		// TriggerAuthentication carries the scaler's CA.
		"--ca-dir=" + caDir,
		"--metrics-service-bind-address=" + grpcAddr,
		"--health-probe-bind-address=" + probe,
		"--metrics-bind-address=" + metricsAddr,
		"--zap-log-level=info",
	}); err != nil {
		return nil, err
	}
	if err := waitHealthy(ctx, k.Operator, http.DefaultClient, "http://"+probe+"/readyz"); err != nil {
		return nil, err
	}

	securePort := ports[2]
	servingCert, servingKey := filepath.Join(dir, "metrics-apiserver-serving.crt"), filepath.Join(dir, "metrics-apiserver-serving.key")
	fmt.Fprintf(log, "e2e: starting keda-metrics-apiserver\n")
	if k.MetricsAPIServer, err = startProcess("keda-metrics-apiserver", logs, bins.MetricsAPIServer, env, []string{
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(securePort),
		"--tls-cert-file=" + servingCert, "--tls-private-key-file=" + servingKey,
		// Where the gRPC client finds ca.crt, tls.crt and tls.key.
		"--cert-dir=" + apiCerts,
		"--metrics-service-address=" + grpcAddr,
		"--lister-kubeconfig=" + k.Kubeconfig,
		"--authentication-kubeconfig=" + k.Kubeconfig,
		"--authorization-kubeconfig=" + k.Kubeconfig,
		// Its own /metrics listener takes only a port (it binds every
		// interface): a free one, so that runs do not collide.
		"--port=" + strconv.Itoa(ports[3]),
		"--zap-log-level=info",
	}); err != nil {
		return nil, err
	}
	if err := waitHealthy(ctx, k.MetricsAPIServer, ca.HTTPClient(), "https://127.0.0.1:"+strconv.Itoa(securePort)+"/readyz"); err != nil {
		return nil, err
	}

	var apiServices []string
	caBundle := base64.StdEncoding.EncodeToString(ca.CertPEM)
	for _, obj := range apiObjs {
		switch obj.GetKind() {
		case "Service":
			obj.Object["spec"] = map[string]any{"type": "ExternalName", "externalName": "localhost"}
		case "APIService":
			if err := unstructured.SetNestedField(obj.Object, int64(securePort), "spec", "service", "port"); err != nil {
				return nil, err
			}
			if err := unstructured.SetNestedField(obj.Object, caBundle, "spec", "caBundle"); err != nil {
				return nil, err
			}
			apiServices = append(apiServices, obj.GetName())
		}
	}
	if err := applier.Apply(ctx, apiObjs...); err != nil {
		return nil, err
	}
	for _, name := range apiServices {
		last, err := Until(ctx, dyn.Resource(apiServicesResource), name, func(u *unstructured.Unstructured) (bool, error) {
			if err := k.Check(); err != nil {
				return false, err
			}
			return ConditionStatus(u, "Available") == "True", nil
		})
		if err != nil {
			conds, _, _ := unstructured.NestedSlice(last.Object, "status", "conditions")
			return nil, fmt.Errorf("KEDA's APIService %s never became Available: %w; conditions %v", name, err, conds)
		}
	}
	fmt.Fprintf(log, "e2e: KEDA %s up; %v registered\n", k.Version, apiServices)
	return k, nil
}

// installCRDs applies every CRD in dir and waits until each is Established,
// so that objects of its kinds can be created at once.
func installCRDs(ctx context.Context, applier *Applier, dyn dynamic.Interface, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no CRDs in %s", dir)
	}
	crds, err := readAll("", files)
	if err != nil {
		return err
	}
	if err := applier.Apply(ctx, crds...); err != nil {
		return err
	}
	for _, crd := range crds {
		if _, err := Until(ctx, dyn.Resource(crdResource), crd.GetName(), func(u *unstructured.Unstructured) (bool, error) {
			return ConditionStatus(u, "Established") == "True", nil
		}); err != nil {
			return fmt.Errorf("CRD %s: %w", crd.GetName(), err)
		}
	}
	return nil
}

// Check returns an error if a KEDA process has exited.
func (k *KEDA) Check() error {
	for _, p := range []*Process{k.Operator, k.MetricsAPIServer} {
		if p == nil {
			continue
		}
		if err := p.ExitError(); err != nil {
			return err
		}
	}
	return nil
}

// Problems returns the lines of KEDA's logs that report a request RBAC
// refused: a permission that KEDA's own RBAC, as StartKEDA applies it,
// lacks. Other refusals are KEDA's business: it keeps reconciling while a
// test's namespace is deleted, and is refused ("forbidden: unable to
// create new content in namespace ... because it is being terminated").
func (k *KEDA) Problems() ([]string, error) {
	var all []string
	for _, p := range []*Process{k.Operator, k.MetricsAPIServer} {
		lines, err := p.scanLog(func(l string) string {
			// The RBAC authorizer's refusal: `... is forbidden: User "..." cannot ...`.
			if strings.Contains(l, "forbidden: User") {
				return p.Name + " refused by the apiserver (KEDA's RBAC as installed from its config/): " + l
			}
			return ""
		})
		if err != nil {
			return nil, err
		}
		all = append(all, lines...)
	}
	return all, nil
}

// Stop stops the metrics apiserver and the operator.
func (k *KEDA) Stop() {
	for _, p := range []*Process{k.MetricsAPIServer, k.Operator} {
		if p != nil {
			p.Stop()
		}
	}
}

// ScalerTLS is the mutual TLS between KEDA and an external scaler, from a
// CA of this run: the scaler serves ServerCert and requires a client
// certificate signed by the CA; KEDA presents Client and checks the
// scaler against the CA (a TriggerAuthentication's caCert, tlsClientCert
// and tlsClientKey).
type ScalerTLS struct {
	CA *CA
	// The scaler's serving certificate, its key and the CA, as files.
	ServerCert, ServerKey, ClientCAFile string
	// Client is KEDA's client certificate.
	Client KeyPair
}

// NewScalerTLS issues the certificates in dir; the scaler is dialled at
// 127.0.0.1.
func NewScalerTLS(dir string) (*ScalerTLS, error) {
	ca, err := NewCA("rtcscale-e2e-keda-scaler-ca")
	if err != nil {
		return nil, err
	}
	s := &ScalerTLS{CA: ca, ClientCAFile: filepath.Join(dir, "scaler-client-ca.crt")}
	server, err := ca.Issue(Cert{CommonName: "rtcscale-keda-scaler", Server: true, IPs: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}})
	if err != nil {
		return nil, err
	}
	if s.ServerCert, s.ServerKey, err = server.Write(dir, "scaler-serving"); err != nil {
		return nil, err
	}
	if s.Client, err = ca.Issue(Cert{CommonName: "keda-operator"}); err != nil {
		return nil, err
	}
	return s, os.WriteFile(s.ClientCAFile, ca.CertPEM, 0o644)
}
