package framework

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Options configure a control plane. The zero value is usable.
type Options struct {
	// Dir holds certificates, kubeconfigs, etcd data and logs. Empty: a new
	// temporary folder, removed by Stop.
	Dir string
	// Log receives progress messages; nil discards them.
	Log io.Writer
	// HPASyncPeriod is kube-controller-manager's
	// --horizontal-pod-autoscaler-sync-period (default 1s).
	HPASyncPeriod time.Duration
	// HPADownscaleStabilization is
	// --horizontal-pod-autoscaler-downscale-stabilization (default 10s),
	// the window HPAs without `behavior` use before scaling down.
	HPADownscaleStabilization time.Duration
	// HPATolerance is --horizontal-pod-autoscaler-tolerance (default 0.1,
	// kube-controller-manager's own).
	HPATolerance float64
	// PodReadyAfter is how long the fake kubelet keeps a Running pod unready,
	// like a container's start-up (default 0: Ready at once).
	PodReadyAfter time.Duration
}

// ControlPlane is etcd, kube-apiserver and kube-controller-manager running
// as local processes on loopback, plus a fake kubelet that makes pods Running
// and Ready.
type ControlPlane struct {
	// Dir is the working folder (see Options.Dir).
	Dir string
	// URL is the apiserver's address, https://127.0.0.1:PORT.
	URL string
	// CA signed the apiserver's serving and client certificates.
	CA *CA
	// AdminKubeconfig is a kubeconfig file for a system:masters user.
	AdminKubeconfig string
	// Admin is the rest config of that user, and Client its clientset.
	Admin  *rest.Config
	Client kubernetes.Interface
	// Kubelet is the fake kubelet's node.
	Kubelet *Kubelet
	// Options are those the control plane runs with, defaults filled in,
	// so that a test can model the HPA controller's flags without
	// repeating them.
	Options Options

	removeDir bool
	procs     []*Process // in start order
	stopCh    context.CancelFunc
}

// Start runs a control plane from bins. On error everything started so far
// is stopped.
func Start(ctx context.Context, bins Binaries, opts Options) (_ *ControlPlane, err error) {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.HPASyncPeriod == 0 {
		opts.HPASyncPeriod = time.Second
	}
	if opts.HPADownscaleStabilization == 0 {
		opts.HPADownscaleStabilization = 10 * time.Second
	}
	if opts.HPATolerance == 0 {
		opts.HPATolerance = 0.1
	}
	cp := &ControlPlane{Dir: opts.Dir, Options: opts}
	if cp.Dir == "" {
		if cp.Dir, err = os.MkdirTemp("", "rtcscale-e2e-"); err != nil {
			return nil, err
		}
		cp.removeDir = true
	}
	defer func() {
		if err != nil {
			cp.Stop()
		}
	}()
	pki, err := cp.writePKI()
	if err != nil {
		return nil, err
	}
	ports, err := FreePorts(4)
	if err != nil {
		return nil, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	apiPort, kcmPort := ports[2], ports[3]
	cp.URL = "https://127.0.0.1:" + strconv.Itoa(apiPort)

	fmt.Fprintf(opts.Log, "e2e: starting etcd on %s\n", etcdURL)
	etcd, err := cp.start("etcd", bins.Etcd,
		"--name=e2e",
		"--data-dir="+filepath.Join(cp.Dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=e2e="+peerURL,
		// The data is thrown away after the run: durability buys nothing.
		"--unsafe-no-fsync",
		"--log-level=warn",
	)
	if err != nil {
		return nil, err
	}
	if err := waitHealthy(ctx, etcd, http.DefaultClient, etcdURL+"/health"); err != nil {
		return nil, err
	}

	fmt.Fprintf(opts.Log, "e2e: starting kube-apiserver on %s\n", cp.URL)
	api, err := cp.start("kube-apiserver", bins.KubeAPIServer,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		// Endpoints may not hold loopback addresses, and nothing in the
		// cluster dials the kubernetes Service: do not publish its endpoints.
		"--endpoint-reconciler-type=none",
		"--secure-port="+strconv.Itoa(apiPort),
		"--cert-dir="+filepath.Join(cp.Dir, "apiserver-certs"),
		"--tls-cert-file="+pki.serving.cert, "--tls-private-key-file="+pki.serving.key,
		"--client-ca-file="+pki.caFile,
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=10.96.0.0/16",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+pki.saPublic,
		"--service-account-signing-key-file="+pki.saPrivate,
		// The aggregation layer: the apiserver proxies APIService groups as
		// front-proxy-client, which extension servers trust through the
		// requestheader CA published in kube-system/extension-apiserver-authentication.
		"--requestheader-client-ca-file="+pki.frontProxyCAFile,
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-uid-headers=X-Remote-Uid",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file="+pki.frontProxy.cert, "--proxy-client-key-file="+pki.frontProxy.key,
		// Route APIServices to their Service (ClusterIP or ExternalName), not
		// to endpoint IPs: see docs/e2e.md for how that reaches a process
		// outside the cluster.
		"--enable-aggregator-routing=false",
		"--profiling=false",
	)
	if err != nil {
		return nil, err
	}
	cp.AdminKubeconfig = filepath.Join(cp.Dir, "admin.kubeconfig")
	if err := writeKubeconfig(cp.AdminKubeconfig, cp.URL, pki.ca.CertPEM, pki.admin); err != nil {
		return nil, err
	}
	if cp.Admin, err = clientcmd.BuildConfigFromFlags("", cp.AdminKubeconfig); err != nil {
		return nil, err
	}
	if cp.Client, err = kubernetes.NewForConfig(cp.Admin); err != nil {
		return nil, err
	}
	apiHTTP, err := rest.HTTPClientFor(cp.Admin)
	if err != nil {
		return nil, err
	}
	if err := waitHealthy(ctx, api, apiHTTP, cp.URL+"/readyz"); err != nil {
		return nil, err
	}

	kcmKubeconfig := filepath.Join(cp.Dir, "kube-controller-manager.kubeconfig")
	if err := writeKubeconfig(kcmKubeconfig, cp.URL, pki.ca.CertPEM, pki.kcm); err != nil {
		return nil, err
	}
	fmt.Fprintf(opts.Log, "e2e: starting kube-controller-manager\n")
	kcm, err := cp.start("kube-controller-manager", bins.KubeControllerManager,
		"--kubeconfig="+kcmKubeconfig,
		"--authentication-kubeconfig="+kcmKubeconfig,
		"--authorization-kubeconfig="+kcmKubeconfig,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(kcmPort),
		"--tls-cert-file="+pki.kcmServing.cert, "--tls-private-key-file="+pki.kcmServing.key,
		"--controllers="+strings.Join([]string{
			"horizontal-pod-autoscaler-controller", "deployment-controller", "replicaset-controller",
			"serviceaccount-controller", "serviceaccount-token-controller", "namespace-controller",
			"garbage-collector-controller",
		}, ","),
		// Each controller acts as its own ServiceAccount, so the HPA
		// controller reaches the adapter as
		// system:serviceaccount:kube-system:horizontal-pod-autoscaler and is
		// authorized by its real bootstrap RBAC.
		"--use-service-account-credentials",
		"--service-account-private-key-file="+pki.saPrivate,
		"--root-ca-file="+pki.caFile,
		"--horizontal-pod-autoscaler-sync-period="+opts.HPASyncPeriod.String(),
		"--horizontal-pod-autoscaler-downscale-stabilization="+opts.HPADownscaleStabilization.String(),
		"--horizontal-pod-autoscaler-tolerance="+strconv.FormatFloat(opts.HPATolerance, 'g', -1, 64),
		"--leader-elect=false",
	)
	if err != nil {
		return nil, err
	}
	if err := waitHealthy(ctx, kcm, pki.ca.HTTPClient(), "https://127.0.0.1:"+strconv.Itoa(kcmPort)+"/healthz"); err != nil {
		return nil, err
	}

	runCtx, cancel := context.WithCancel(context.Background())
	cp.stopCh = cancel
	cp.Kubelet = NewKubelet(cp.Client, "e2e-node", opts.PodReadyAfter)
	if err := cp.Kubelet.Start(runCtx); err != nil {
		return nil, err
	}
	fmt.Fprintf(opts.Log, "e2e: control plane up; kubeconfig %s\n", cp.AdminKubeconfig)
	return cp, nil
}

func (cp *ControlPlane) start(name, bin string, args ...string) (*Process, error) {
	logs := filepath.Join(cp.Dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return nil, err
	}
	p, err := StartProcess(name, logs, bin, args...)
	if err != nil {
		return nil, err
	}
	cp.procs = append(cp.procs, p)
	return p, nil
}

// Check returns an error if any control-plane process has exited.
func (cp *ControlPlane) Check() error {
	for _, p := range cp.procs {
		if err := p.ExitError(); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops the fake kubelet and every process, newest first, and removes
// the working folder if Start created it and keep is false.
func (cp *ControlPlane) Stop() { cp.stop(false) }

func (cp *ControlPlane) stop(keep bool) {
	if cp.stopCh != nil {
		cp.stopCh()
	}
	if cp.Kubelet != nil {
		cp.Kubelet.Wait()
	}
	for i := len(cp.procs) - 1; i >= 0; i-- {
		cp.procs[i].Stop()
	}
	if cp.removeDir && !keep {
		os.RemoveAll(cp.Dir)
	}
}

type filePair struct{ cert, key string }

type pkiFiles struct {
	ca                  *CA
	caFile              string
	frontProxyCAFile    string
	serving, kcmServing filePair
	frontProxy          filePair
	admin, kcm          KeyPair
	saPrivate, saPublic string
}

// writePKI creates the cluster CA and the front-proxy CA with the
// certificates issued by them, and the service-account signing key.
func (cp *ControlPlane) writePKI() (*pkiFiles, error) {
	dir := filepath.Join(cp.Dir, "pki")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var p pkiFiles
	var err error
	if p.ca, err = NewCA("rtcscale-e2e-ca"); err != nil {
		return nil, err
	}
	cp.CA = p.ca
	p.caFile = filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(p.caFile, p.ca.CertPEM, 0o644); err != nil {
		return nil, err
	}
	frontCA, err := NewCA("rtcscale-e2e-front-proxy-ca")
	if err != nil {
		return nil, err
	}
	p.frontProxyCAFile = filepath.Join(dir, "front-proxy-ca.crt")
	if err := os.WriteFile(p.frontProxyCAFile, frontCA.CertPEM, 0o644); err != nil {
		return nil, err
	}
	loopback := []net.IP{net.ParseIP("127.0.0.1")}
	issue := func(ca *CA, name string, c Cert) (filePair, KeyPair, error) {
		kp, err := ca.Issue(c)
		if err != nil {
			return filePair{}, kp, err
		}
		cert, key, err := kp.Write(dir, name)
		return filePair{cert, key}, kp, err
	}
	steps := []struct {
		ca    *CA
		name  string
		cert  Cert
		files *filePair
		kp    *KeyPair
	}{
		{p.ca, "apiserver", Cert{CommonName: "kube-apiserver", Server: true, IPs: append(loopback, net.ParseIP("10.96.0.1")),
			DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"}}, &p.serving, nil},
		{p.ca, "kube-controller-manager-serving", Cert{CommonName: "kube-controller-manager", Server: true, IPs: loopback,
			DNSNames: []string{"localhost"}}, &p.kcmServing, nil},
		{p.ca, "admin", Cert{CommonName: "rtcscale-e2e-admin", Organization: []string{"system:masters"}}, nil, &p.admin},
		{p.ca, "kube-controller-manager", Cert{CommonName: "system:kube-controller-manager"}, nil, &p.kcm},
		{frontCA, "front-proxy-client", Cert{CommonName: "front-proxy-client"}, &p.frontProxy, nil},
	}
	for _, s := range steps {
		files, kp, err := issue(s.ca, s.name, s.cert)
		if err != nil {
			return nil, err
		}
		if s.files != nil {
			*s.files = files
		}
		if s.kp != nil {
			*s.kp = kp
		}
	}
	p.saPrivate, p.saPublic, err = writeServiceAccountKeys(dir)
	return &p, err
}

// writeKubeconfig writes a kubeconfig for server, trusting caPEM, that
// authenticates with a client certificate.
func writeKubeconfig(path, server string, caPEM []byte, user KeyPair) error {
	return clientcmd.WriteToFile(Kubeconfig(server, caPEM, &clientcmdapi.AuthInfo{
		ClientCertificateData: user.CertPEM,
		ClientKeyData:         user.KeyPEM,
	}), path)
}

// Kubeconfig is a one-context kubeconfig for server with the given user.
func Kubeconfig(server string, caPEM []byte, user *clientcmdapi.AuthInfo) clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["e2e"] = user
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "e2e"}
	cfg.CurrentContext = "e2e"
	return *cfg
}

// waitHealthy polls a health endpoint until it answers 200, the process
// exits, or ctx ends. A process has no readiness event to wait on: its
// health endpoint is the signal.
func waitHealthy(ctx context.Context, p *Process, client *http.Client, url string) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := p.ExitError(); err != nil {
			return false, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := client.Do(req)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		last = fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		if exit := p.ExitError(); exit != nil {
			return exit
		}
		return fmt.Errorf("%s not healthy at %s (last answer: %s): %w; last lines of %s:\n%s", p.Name, url, last, err, p.LogFile, tail(p.LogFile, 30))
	}
	return nil
}

// FreePorts returns n distinct TCP ports that were free on 127.0.0.1. They
// are held open until all n are chosen, so they differ from each other.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
