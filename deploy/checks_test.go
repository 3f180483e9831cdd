package deploy

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"sigs.k8s.io/yaml"
)

const (
	name       = "rtcscale-adapter"
	serviceDNS = name + "." + namespace + ".svc"
)

// install is what a rendering should install.
type install struct {
	external     bool // external.metrics.k8s.io registered and served
	deletionCost bool // the deletion-cost controller on, with patch on pods
	// deletionCostNamespaces are where that patch is granted (a Role in
	// each), and what the controller watches; empty: every namespace (a
	// ClusterRole).
	deletionCostNamespaces []string
	tls                    string // generate, certManager or secret
	// prometheus are the namespaces whose pods may reach the metrics port;
	// nil: the default, monitoring.
	prometheus []string
	// kedaScaler: the KEDA external scaler served on the Service's
	// keda-scaler port, reachable from KEDA's namespace keda only.
	kedaScaler bool
}

// checkInstall asserts everything an operator relies on in a rendering of
// the chart or of the kustomize base.
func checkInstall(t *testing.T, objs []object, want install) {
	t.Helper()
	d := get[*appsv1.Deployment](t, objs, "Deployment", namespace, name)
	pod := d.Spec.Template
	c := container(t, d)
	checkDeployment(t, d)
	checkProbesAndPorts(t, c)
	checkVolumes(t, &pod.Spec, c)

	args := flagArgs(c.Args)
	if got := args["enable-external-metrics"]; (got == "false") == want.external {
		t.Errorf("--enable-external-metrics=%q with the external API registered: %v", got, want.external)
	}
	if _, on := args["pod-deletion-cost"]; on != want.deletionCost {
		t.Errorf("--pod-deletion-cost given: %v, want %v", on, want.deletionCost)
	}
	// The controller must not reach for pods it may not patch: it watches
	// the namespaces of its Roles.
	if got, want := args["pod-deletion-cost-namespaces"], strings.Join(want.deletionCostNamespaces, ","); got != want {
		t.Errorf("--pod-deletion-cost-namespaces=%q, want %q", got, want)
	}
	if sa := pod.Spec.ServiceAccountName; sa != name || !has(objs, "ServiceAccount", namespace, sa) {
		t.Errorf("pods run as ServiceAccount %q, which the rendering must create as %q", sa, name)
	}

	pdb := get[*policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget", namespace, name)
	if !selects(t, pdb.Spec.Selector, pod.Labels) {
		t.Errorf("the PodDisruptionBudget's selector %v misses the adapter's pods %v", pdb.Spec.Selector, pod.Labels)
	}
	if mu := pdb.Spec.MaxUnavailable; mu == nil || mu.IntValue() < 1 || int32(mu.IntValue()) >= *d.Spec.Replicas {
		t.Errorf("PodDisruptionBudget maxUnavailable %v must let one of %d replicas go, never all", mu, *d.Spec.Replicas)
	}

	svc := get[*corev1.Service](t, objs, "Service", namespace, name)
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
		t.Errorf("the Service's selector %v misses the adapter's pods %v", svc.Spec.Selector, pod.Labels)
	}
	servicePort := map[string]corev1.ServicePort{}
	for _, p := range svc.Spec.Ports {
		servicePort[p.Name] = p
		if p.TargetPort.String() != p.Name || !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.Name }) {
			t.Errorf("Service port %s targets %q, not a container port of that name", p.Name, p.TargetPort.String())
		}
	}
	if servicePort["https"].Port != 443 || servicePort["metrics"].Port == 0 {
		t.Errorf("Service ports %v: want https on 443 and a metrics port", svc.Spec.Ports)
	}
	checkKEDAScaler(t, c, servicePort, want)

	checkAPIServices(t, objs, d, want)
	checkRBAC(t, objs, want)
	checkNetworkPolicy(t, objs, d, want)

	cm := get[*corev1.ConfigMap](t, objs, "ConfigMap", namespace, name+"-config")
	if !mountsConfigMap(&pod.Spec, c, cm.Name, filepath.Dir(args["config"])) {
		t.Errorf("--config=%s is not in a mount of ConfigMap %s (mounted as a folder, so that updates arrive)", args["config"], cm.Name)
	}
	checkAdapterAccepts(t, c.Args, cm.Data[filepath.Base(args["config"])])
}

// checkKEDAScaler asserts that the scaler is on exactly when wanted, on a
// container port the Service exposes, with KEDA owning external metrics.
func checkKEDAScaler(t *testing.T, c *corev1.Container, servicePort map[string]corev1.ServicePort, want install) {
	t.Helper()
	args := flagArgs(c.Args)
	addr, on := args["keda-scaler-bind-address"]
	if on != want.kedaScaler {
		t.Errorf("--keda-scaler-bind-address given: %v, want %v", on, want.kedaScaler)
	}
	_, sp := servicePort["keda-scaler"]
	if sp != want.kedaScaler {
		t.Errorf("Service port keda-scaler: %v, want %v", sp, want.kedaScaler)
	}
	if !want.kedaScaler {
		return
	}
	if want.external {
		t.Error("the KEDA scaler with rtcscale's own external metrics: KEDA owns external.metrics.k8s.io")
	}
	var containerPort int32
	for _, p := range c.Ports {
		if p.Name == "keda-scaler" {
			containerPort = p.ContainerPort
		}
	}
	if _, port, _ := strings.Cut(addr, ":"); port != strconv.Itoa(int(containerPort)) || servicePort["keda-scaler"].Port != containerPort {
		t.Errorf("--keda-scaler-bind-address=%s, container port keda-scaler %d, Service port %d: want one port", addr, containerPort, servicePort["keda-scaler"].Port)
	}
	if _, plain := args["keda-scaler-insecure-plaintext"]; !plain && (args["keda-scaler-tls-cert-file"] == "" || args["keda-scaler-tls-private-key-file"] == "") {
		t.Errorf("the scaler serves without a certificate and without --keda-scaler-insecure-plaintext: %q", c.Args)
	}
}

func container(t *testing.T, d *appsv1.Deployment) *corev1.Container {
	t.Helper()
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("the adapter's pod has %d containers, want 1", n)
	}
	return &d.Spec.Template.Spec.Containers[0]
}

func checkDeployment(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	spec := d.Spec.Template.Spec
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", d.Spec.Replicas)
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("rolling update %+v: want maxUnavailable 0, so that a rollout never lowers the ready replicas", ru)
	}
	if !selects(t, d.Spec.Selector, d.Spec.Template.Labels) {
		t.Errorf("the Deployment's selector %v does not match its pods' labels %v", d.Spec.Selector, d.Spec.Template.Labels)
	}
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and a non-zero runAsUser", psc)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext: want seccompProfile RuntimeDefault")
	}
	c := container(t, d)
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Errorf("the adapter container has no securityContext")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Errorf("allowPrivilegeEscalation %v, want false", sc.AllowPrivilegeEscalation)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Errorf("readOnlyRootFilesystem %v, want true", sc.ReadOnlyRootFilesystem)
	case sc.Privileged != nil && *sc.Privileged:
		t.Errorf("the adapter runs privileged")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("capabilities %+v, want drop [ALL] and none added", sc.Capabilities)
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := c.Resources.Requests[r]; !ok || q.IsZero() {
			t.Errorf("no %s request", r)
		}
	}
	if len(c.Args) == 0 || c.Args[0] != "adapter" {
		t.Errorf("args %q must start with the adapter subcommand", c.Args)
	}

	// One replica per node, preferably or strictly: a node's loss must not
	// take both.
	aa := spec.Affinity
	if aa == nil || aa.PodAntiAffinity == nil {
		t.Fatalf("no pod anti-affinity")
	}
	var terms []corev1.PodAffinityTerm
	terms = append(terms, aa.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution...)
	for _, w := range aa.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		terms = append(terms, w.PodAffinityTerm)
	}
	if !slices.ContainsFunc(terms, func(term corev1.PodAffinityTerm) bool {
		return term.TopologyKey == "kubernetes.io/hostname" && selects(t, term.LabelSelector, d.Spec.Template.Labels)
	}) {
		t.Errorf("no anti-affinity term on kubernetes.io/hostname that selects the adapter's pods: %+v", aa.PodAntiAffinity)
	}
}

// checkProbesAndPorts asserts that the probes hit the adapter's health and
// readiness endpoints on the port it serves them, and that the named ports
// are the ones the flags open.
func checkProbesAndPorts(t *testing.T, c *corev1.Container) {
	t.Helper()
	args := flagArgs(c.Args)
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	_, metricsPort, _ := strings.Cut(args["metrics-bind-address"], ":")
	if strconv.Itoa(int(ports["metrics"])) != metricsPort {
		t.Errorf("container port metrics %d, but --metrics-bind-address=%s", ports["metrics"], args["metrics-bind-address"])
	}
	if strconv.Itoa(int(ports["https"])) != args["secure-port"] {
		t.Errorf("container port https %d, but --secure-port=%s", ports["https"], args["secure-port"])
	}
	for _, p := range []struct {
		what  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", p.what)
			continue
		}
		if g := p.probe.HTTPGet; g.Path != p.path || g.Port.String() != "metrics" {
			t.Errorf("%s probe GET %s on port %s, want %s on port metrics", p.what, g.Path, g.Port.String(), p.path)
		}
	}
}

// checkVolumes asserts that every mount has its volume and that every file
// the flags name lies in a mount.
func checkVolumes(t *testing.T, spec *corev1.PodSpec, c *corev1.Container) {
	t.Helper()
	volumes := map[string]bool{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = true
	}
	for _, m := range c.VolumeMounts {
		if !volumes[m.Name] {
			t.Errorf("mount %s has no volume", m.Name)
		}
		if !m.ReadOnly {
			t.Errorf("mount %s is writable", m.Name)
		}
	}
	for flag, value := range flagArgs(c.Args) {
		if !strings.HasPrefix(value, "/") {
			continue
		}
		if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return strings.HasPrefix(value, m.MountPath+"/") }) {
			t.Errorf("--%s=%s is in no volume mount", flag, value)
		}
	}
}

func mountsConfigMap(spec *corev1.PodSpec, c *corev1.Container, cm, dir string) bool {
	for _, m := range c.VolumeMounts {
		if m.MountPath != dir || m.SubPath != "" {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.ConfigMap != nil && v.ConfigMap.Name == cm {
				return true
			}
		}
	}
	return false
}

// flagArgs maps --name=value arguments to their values ("" for a bare
// --name); later ones win, as in pflag.
func flagArgs(args []string) map[string]string {
	m := map[string]string{}
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		k, v, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		m[k] = v
	}
	return m
}

func selects(t *testing.T, sel *metav1.LabelSelector, podLabels map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Errorf("selector %v: %v", sel, err)
		return false
	}
	return !s.Empty() && s.Matches(labels.Set(podLabels))
}

// checkAPIServices asserts the registrations: the right group-versions,
// v1beta2 preferred, routed to the adapter's Service, and a caBundle that
// verifies the adapter's serving certificate (or cert-manager's injection
// from the Certificate the adapter mounts).
func checkAPIServices(t *testing.T, objs []object, d *appsv1.Deployment, want install) {
	t.Helper()
	wantNames := []string{"v1beta1.custom.metrics.k8s.io", "v1beta2.custom.metrics.k8s.io"}
	if want.external {
		wantNames = append(wantNames, "v1beta1.external.metrics.k8s.io")
	}
	sort.Strings(wantNames)
	apis := ofKind[*apiregistrationv1.APIService](objs, "APIService")
	var names []string
	byName := map[string]*apiregistrationv1.APIService{}
	for _, a := range apis {
		names = append(names, a.Name)
		byName[a.Name] = a
	}
	sort.Strings(names)
	if !slices.Equal(names, wantNames) {
		t.Fatalf("APIServices %v, want %v", names, wantNames)
	}
	if v2, v1 := byName["v1beta2.custom.metrics.k8s.io"], byName["v1beta1.custom.metrics.k8s.io"]; v2.Spec.VersionPriority <= v1.Spec.VersionPriority {
		t.Errorf("custom.metrics.k8s.io v1beta2 versionPriority %d must exceed v1beta1's %d: the HPA uses the preferred version",
			v2.Spec.VersionPriority, v1.Spec.VersionPriority)
	}

	servingSecret := ""
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "serving-cert" && v.Secret != nil {
			servingSecret = v.Secret.SecretName
		}
	}
	if servingSecret == "" {
		t.Fatalf("no serving-cert volume from a Secret")
	}
	for _, a := range apis {
		s := a.Spec
		if a.Name != s.Version+"."+s.Group {
			t.Errorf("APIService %s serves %s/%s", a.Name, s.Group, s.Version)
		}
		if s.Service == nil || s.Service.Name != name || s.Service.Namespace != namespace || s.Service.Port == nil || *s.Service.Port != 443 {
			t.Errorf("APIService %s routes to %+v, want the Service %s/%s port 443", a.Name, s.Service, namespace, name)
		}
		if s.InsecureSkipTLSVerify {
			t.Errorf("APIService %s skips TLS verification", a.Name)
		}
		if s.GroupPriorityMinimum <= 0 || s.VersionPriority <= 0 {
			t.Errorf("APIService %s priorities %d/%d must be positive", a.Name, s.GroupPriorityMinimum, s.VersionPriority)
		}
		switch want.tls {
		case "certManager":
			from := a.Annotations["cert-manager.io/inject-ca-from"]
			ns, certName, _ := strings.Cut(from, "/")
			if ns != namespace || len(s.CABundle) > 0 {
				t.Errorf("APIService %s: inject-ca-from %q, caBundle %d bytes: want cainjector to fill caBundle from a Certificate in %s", a.Name, from, len(s.CABundle), namespace)
				continue
			}
			cert := get[*map[string]any](t, objs, "Certificate", namespace, certName)
			spec, _ := (*cert)["spec"].(map[string]any)
			if spec["secretName"] != servingSecret {
				t.Errorf("Certificate %s writes Secret %v, but the adapter mounts %s", certName, spec["secretName"], servingSecret)
			}
			if dns, _ := spec["dnsNames"].([]any); !slices.Contains(dns, any(serviceDNS)) {
				t.Errorf("Certificate %s has dnsNames %v, without %s that the aggregator verifies", certName, dns, serviceDNS)
			}
		case "generate":
			secret := get[*corev1.Secret](t, objs, "Secret", namespace, servingSecret)
			if string(secret.Data["ca.crt"]) != string(s.CABundle) {
				t.Errorf("APIService %s caBundle differs from Secret %s's ca.crt", a.Name, servingSecret)
			}
			verifyServing(t, s.CABundle, secret.Data["tls.crt"], secret.Data["tls.key"])
		case "secret":
			if len(s.CABundle) == 0 {
				t.Errorf("APIService %s has no caBundle", a.Name)
			}
		default:
			t.Fatalf("unknown TLS mode %q", want.tls)
		}
	}
}

// verifyServing asserts that certPEM and keyPEM are a pair, and that caPEM
// verifies certPEM for the Service's DNS name as the aggregator does.
func verifyServing(t *testing.T, caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Errorf("serving certificate and key: %v", err)
		return
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Errorf("caBundle holds no PEM certificate")
		return
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: serviceDNS}); err != nil {
		t.Errorf("the aggregator would refuse the adapter's certificate: %v", err)
	}
	if b, _ := pem.Decode(caPEM); b == nil || b.Type != "CERTIFICATE" {
		t.Errorf("caBundle is not a PEM certificate")
	}
}

// rule is one permission: a verb on a resource of a group.
type rule struct{ group, resource, verb string }

// checkRBAC asserts least privilege: delegated authentication and
// authorization, reading pods and ReplicaSets, and patching pods only with
// the deletion-cost controller on. Nothing else is granted.
func checkRBAC(t *testing.T, objs []object, want install) {
	t.Helper()
	isAdapter := func(subjects []rbacv1.Subject) bool {
		return slices.ContainsFunc(subjects, func(s rbacv1.Subject) bool {
			return s.Kind == "ServiceAccount" && s.Name == name && s.Namespace == namespace
		})
	}
	roles := map[string]*rbacv1.ClusterRole{}
	for _, r := range ofKind[*rbacv1.ClusterRole](objs, "ClusterRole") {
		roles[r.Name] = r
	}
	granted := map[rule]bool{}
	delegator := false
	for _, b := range ofKind[*rbacv1.ClusterRoleBinding](objs, "ClusterRoleBinding") {
		if !isAdapter(b.Subjects) {
			continue
		}
		if b.RoleRef.Name == "system:auth-delegator" {
			delegator = true
			continue
		}
		r, ok := roles[b.RoleRef.Name]
		if !ok {
			t.Errorf("ClusterRoleBinding %s grants ClusterRole %s, which neither the rendering nor Kubernetes provides", b.Name, b.RoleRef.Name)
			continue
		}
		for _, pr := range r.Rules {
			if len(pr.ResourceNames) > 0 || len(pr.NonResourceURLs) > 0 {
				t.Errorf("ClusterRole %s: unexpected rule %+v", r.Name, pr)
			}
			for _, g := range pr.APIGroups {
				for _, res := range pr.Resources {
					for _, v := range pr.Verbs {
						granted[rule{g, res, v}] = true
					}
				}
			}
		}
	}
	if !delegator {
		t.Errorf("no ClusterRoleBinding of system:auth-delegator to the adapter: it cannot review its callers' tokens")
	}
	// What Roles grant the adapter, by namespace: a RoleBinding may also
	// name a ClusterRole, whose rules then hold in its namespace only.
	nsRoles := map[string]*rbacv1.Role{}
	for _, r := range ofKind[*rbacv1.Role](objs, "Role") {
		nsRoles[r.Namespace+"/"+r.Name] = r
	}
	grantedIn := map[string]map[rule]bool{}
	reader := false
	for _, b := range ofKind[*rbacv1.RoleBinding](objs, "RoleBinding") {
		if !isAdapter(b.Subjects) {
			t.Errorf("RoleBinding %s/%s binds someone else than the adapter: %+v", b.Namespace, b.Name, b.Subjects)
			continue
		}
		if b.Namespace == "kube-system" && b.RoleRef.Kind == "Role" && b.RoleRef.Name == "extension-apiserver-authentication-reader" {
			reader = true
			continue
		}
		var rules []rbacv1.PolicyRule
		switch b.RoleRef.Kind {
		case "Role":
			r, ok := nsRoles[b.Namespace+"/"+b.RoleRef.Name]
			if !ok {
				t.Errorf("RoleBinding %s/%s grants Role %s, which the rendering does not provide there", b.Namespace, b.Name, b.RoleRef.Name)
				continue
			}
			rules = r.Rules
		case "ClusterRole":
			r, ok := roles[b.RoleRef.Name]
			if !ok {
				t.Errorf("RoleBinding %s/%s grants ClusterRole %s, which the rendering does not provide", b.Namespace, b.Name, b.RoleRef.Name)
				continue
			}
			rules = r.Rules
		}
		if grantedIn[b.Namespace] == nil {
			grantedIn[b.Namespace] = map[rule]bool{}
		}
		for _, pr := range rules {
			if len(pr.ResourceNames) > 0 || len(pr.NonResourceURLs) > 0 {
				t.Errorf("RoleBinding %s/%s: unexpected rule %+v", b.Namespace, b.Name, pr)
			}
			for _, g := range pr.APIGroups {
				for _, res := range pr.Resources {
					for _, v := range pr.Verbs {
						grantedIn[b.Namespace][rule{g, res, v}] = true
					}
				}
			}
		}
	}
	if !reader {
		t.Errorf("no RoleBinding of kube-system's extension-apiserver-authentication-reader: the adapter cannot trust the aggregator")
	}
	wantRules := map[rule]bool{}
	for _, v := range []string{"get", "list", "watch"} {
		wantRules[rule{"", "pods", v}] = true
		wantRules[rule{"apps", "replicasets", v}] = true
	}
	patchPods := rule{"", "pods", "patch"}
	wantIn := map[string]map[rule]bool{}
	if want.deletionCost {
		if len(want.deletionCostNamespaces) == 0 {
			wantRules[patchPods] = true
		}
		for _, ns := range want.deletionCostNamespaces {
			wantIn[ns] = map[rule]bool{patchPods: true}
		}
	}
	compare := func(where string, granted, want map[rule]bool) {
		for r := range granted {
			if !want[r] {
				t.Errorf("the adapter is granted %s on %s.%s %s, more than it needs", r.verb, r.resource, r.group, where)
			}
		}
		for r := range want {
			if !granted[r] {
				t.Errorf("the adapter lacks %s on %s.%s %s", r.verb, r.resource, r.group, where)
			}
		}
	}
	compare("cluster-wide", granted, wantRules)
	for ns := range grantedIn {
		if _, ok := wantIn[ns]; !ok {
			compare("in namespace "+ns, grantedIn[ns], nil)
		}
	}
	for ns, w := range wantIn {
		compare("in namespace "+ns, grantedIn[ns], w)
	}
}

var (
	adapterBinOnce sync.Once
	adapterBin     string
	adapterBinErr  error
)

// checkAdapterAccepts runs the real rtcscale binary with the rendered
// arguments, then every setting of the rendered config file as the flag of
// that name (the adapter parses the file's settings with its own flags),
// then --help: pflag parses left to right, so an unknown flag or a bad
// value fails before --help ends the run.
func checkAdapterAccepts(t *testing.T, args []string, configYAML string) {
	t.Helper()
	adapterBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rtcscale-deploy-test-")
		if err != nil {
			adapterBinErr = err
			return
		}
		adapterBin = filepath.Join(dir, "rtcscale")
		out, err := exec.Command("go", "build", "-o", adapterBin, "github.com/rtcscale/rtcscale/cmd/rtcscale").CombinedOutput()
		if err != nil {
			adapterBinErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if adapterBinErr != nil {
		t.Fatal(adapterBinErr)
	}
	var settings map[string]json.RawMessage
	if err := yaml.UnmarshalStrict([]byte(configYAML), &settings); err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	if len(settings) == 0 {
		t.Fatalf("config.yaml holds no settings")
	}
	argv := slices.Clone(args)
	for k, raw := range settings {
		v := string(raw) // a number or a boolean as written
		if raw[0] == '"' {
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Fatalf("config.yaml %s: %v", k, err)
			}
		}
		argv = append(argv, fmt.Sprintf("--%s=%s", k, v))
	}
	argv = append(argv, "--help")
	if out, err := exec.Command(adapterBin, argv...).CombinedOutput(); err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		t.Errorf("rtcscale %s: %v: %s", strings.Join(argv, " "), err, lines[0])
	}
}

// TestMain removes the adapter binary built by checkAdapterAccepts.
func TestMain(m *testing.M) {
	code := m.Run()
	if adapterBin != "" {
		os.RemoveAll(filepath.Dir(adapterBin))
	}
	os.Exit(code)
}

// peer is where a connection to the adapter's pods comes from: a pod in a
// namespace, or an address outside the cluster's pods (the apiserver's, as
// a NetworkPolicy sees it on most clusters).
type peer struct {
	namespace string
	nsLabels  map[string]string // besides kubernetes.io/metadata.name
	podLabels map[string]string
	ip        string
}

// admits evaluates the NetworkPolicies of the rendering as a network plugin
// would for a TCP connection from src to the adapter's pod (its labels
// podLabels, in namespace) on its container port cp: allowed when no policy
// isolates the pod for ingress, or when a rule of one that does admits it.
func admits(t *testing.T, policies []*networkingv1.NetworkPolicy, podLabels map[string]string, cp corev1.ContainerPort, src peer) bool {
	t.Helper()
	matches := func(sel *metav1.LabelSelector, l map[string]string) bool {
		if sel == nil {
			return true
		}
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			t.Fatalf("selector %v: %v", sel, err)
		}
		return s.Matches(labels.Set(l))
	}
	isolated := false
	for _, np := range policies {
		if np.Namespace != namespace || !matches(&np.Spec.PodSelector, podLabels) {
			continue
		}
		if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) && (len(np.Spec.PolicyTypes) > 0 || len(np.Spec.Ingress) == 0) {
			continue
		}
		isolated = true
		for _, r := range np.Spec.Ingress {
			portOK := len(r.Ports) == 0 || slices.ContainsFunc(r.Ports, func(p networkingv1.NetworkPolicyPort) bool {
				if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
					return false
				}
				return p.Port == nil || p.Port.String() == cp.Name || p.Port.IntValue() == int(cp.ContainerPort)
			})
			fromOK := len(r.From) == 0 || slices.ContainsFunc(r.From, func(f networkingv1.NetworkPolicyPeer) bool {
				if f.IPBlock != nil {
					if src.ip == "" {
						return false
					}
					prefix, err := netip.ParsePrefix(f.IPBlock.CIDR)
					if err != nil {
						t.Fatalf("ipBlock %s: %v", f.IPBlock.CIDR, err)
					}
					addr := netip.MustParseAddr(src.ip)
					return prefix.Contains(addr) && !slices.ContainsFunc(f.IPBlock.Except, func(e string) bool {
						p, err := netip.ParsePrefix(e)
						return err == nil && p.Contains(addr)
					})
				}
				if src.ip != "" || f.PodSelector == nil && f.NamespaceSelector == nil {
					return false
				}
				if f.NamespaceSelector == nil && src.namespace != np.Namespace {
					return false // a podSelector alone: the policy's namespace
				}
				nsLabels := map[string]string{"kubernetes.io/metadata.name": src.namespace}
				for k, v := range src.nsLabels {
					nsLabels[k] = v
				}
				return matches(f.NamespaceSelector, nsLabels) && matches(f.PodSelector, src.podLabels)
			})
			if portOK && fromOK {
				return true
			}
		}
	}
	return !isolated
}

// checkNetworkPolicy asserts that the adapter's pods are isolated for
// ingress, that anything reaches the serving port (the aggregator, from
// wherever the apiserver runs), and that only pods of the Prometheus
// namespaces reach the metrics port, which shows every workload's load.
func checkNetworkPolicy(t *testing.T, objs []object, d *appsv1.Deployment, want install) {
	t.Helper()
	policies := ofKind[*networkingv1.NetworkPolicy](objs, "NetworkPolicy")
	if len(policies) == 0 {
		t.Errorf("no NetworkPolicy: anyone in the cluster reads the metrics port")
		return
	}
	ports := map[string]corev1.ContainerPort{}
	for _, p := range container(t, d).Ports {
		ports[p.Name] = p
	}
	podLabels := d.Spec.Template.Labels
	prometheus := want.prometheus
	if prometheus == nil {
		prometheus = []string{"monitoring"}
	}
	apiserver := peer{ip: "192.0.2.10"}
	stranger := peer{namespace: "default", podLabels: map[string]string{"app": "prometheus"}}
	for _, src := range []peer{apiserver, stranger} {
		if !admits(t, policies, podLabels, ports["https"], src) {
			t.Errorf("the NetworkPolicy refuses %+v on the serving port: the metrics APIs must stay reachable from the apiserver", src)
		}
	}
	for _, src := range []peer{apiserver, stranger, {namespace: "kube-system"}, {namespace: namespace, podLabels: map[string]string{"app": "other"}}} {
		if admits(t, policies, podLabels, ports["metrics"], src) {
			t.Errorf("the NetworkPolicy admits %+v on the metrics port, which shows every workload's load", src)
		}
	}
	for _, ns := range prometheus {
		if !admits(t, policies, podLabels, ports["metrics"], peer{namespace: ns, podLabels: map[string]string{"app.kubernetes.io/name": "prometheus"}}) {
			t.Errorf("the NetworkPolicy refuses Prometheus in namespace %s on the metrics port", ns)
		}
	}
	if want.kedaScaler {
		if !admits(t, policies, podLabels, ports["keda-scaler"], peer{namespace: "keda", podLabels: map[string]string{"app": "keda-operator"}}) {
			t.Error("the NetworkPolicy refuses KEDA's operator on the scaler's port")
		}
		for _, src := range []peer{apiserver, stranger, {namespace: "monitoring"}} {
			if admits(t, policies, podLabels, ports["keda-scaler"], src) {
				t.Errorf("the NetworkPolicy admits %+v on the scaler's port, which shows every workload's load", src)
			}
		}
	}
}
