package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"sigs.k8s.io/yaml"
)

const (
	chartDir     = "helm/rtcscale"
	kustomizeDir = "kustomize"
	// The namespace the kustomize base installs into; the chart is rendered
	// into the same one so that both can be compared.
	namespace = "rtcscale"
)

// object is one rendered manifest, decoded into its Go type: a pointer to a
// k8s.io/api (or kube-aggregator) struct, or a map for custom resources
// whose types rtcscale does not import (cert-manager, Prometheus Operator).
type object struct {
	APIVersion, Kind, Namespace, Name string
	Obj                               any
}

func (o object) key() string { return o.Kind + " " + o.Namespace + "/" + o.Name }

// typed returns an empty value of the Go type of apiVersion/kind, nil for a
// custom resource.
func typed(apiVersion, kind string) any {
	switch apiVersion + " " + kind {
	case "v1 Namespace":
		return &corev1.Namespace{}
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}
	case "v1 Service":
		return &corev1.Service{}
	case "v1 Secret":
		return &corev1.Secret{}
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "rbac.authorization.k8s.io/v1 ClusterRole":
		return &rbacv1.ClusterRole{}
	case "rbac.authorization.k8s.io/v1 ClusterRoleBinding":
		return &rbacv1.ClusterRoleBinding{}
	case "rbac.authorization.k8s.io/v1 Role":
		return &rbacv1.Role{}
	case "rbac.authorization.k8s.io/v1 RoleBinding":
		return &rbacv1.RoleBinding{}
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	case "apiregistration.k8s.io/v1 APIService":
		return &apiregistrationv1.APIService{}
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}
	}
	return nil
}

// customResources are the kinds decoded as maps.
var customResources = map[string]bool{
	"cert-manager.io/v1 Issuer":               true,
	"cert-manager.io/v1 Certificate":          true,
	"monitoring.coreos.com/v1 ServiceMonitor": true,
	"keda.sh/v1alpha1 ScaledObject":           true,
	"keda.sh/v1alpha1 TriggerAuthentication":  true,
}

// decodeAll splits a multi-document YAML stream and decodes each document
// strictly: an unknown or misplaced field is an error, as it would be for
// `kubectl apply --validate=strict`.
func decodeAll(stream []byte) ([]object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	var objs []object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return nil, err
		}
		if meta.Kind == "" {
			if len(bytes.TrimSpace(stripComments(doc))) == 0 {
				continue // an empty document
			}
			return nil, fmt.Errorf("a document without kind:\n%s", doc)
		}
		o := object{APIVersion: meta.APIVersion, Kind: meta.Kind, Namespace: meta.Metadata.Namespace, Name: meta.Metadata.Name}
		if o.Obj = typed(o.APIVersion, o.Kind); o.Obj == nil {
			if !customResources[o.APIVersion+" "+o.Kind] {
				return nil, fmt.Errorf("%s %s: unexpected kind (add it to typed or customResources)", o.APIVersion, o.Kind)
			}
			o.Obj = &map[string]any{}
		}
		if err := yaml.UnmarshalStrict(doc, o.Obj); err != nil {
			return nil, fmt.Errorf("%s: %w", o.key(), err)
		}
		objs = append(objs, o)
	}
}

func stripComments(doc []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' && !bytes.Equal(t, []byte("---")) {
			out = append(out, line...)
		}
	}
	return out
}

// renderChart renders the chart into the namespace of the kustomize base.
func renderChart(valuesYAML string) ([]object, error) {
	stream, err := RenderChart(chartDir, "rtcscale", namespace, valuesYAML)
	if err != nil {
		return nil, err
	}
	return decodeAll(stream)
}

// buildKustomize builds dir, a folder under deploy/kustomize, with extra
// files added.
func buildKustomize(dir string, extra map[string]string) ([]object, error) {
	stream, err := BuildKustomize(kustomizeDir, dir, extra)
	if err != nil {
		return nil, err
	}
	return decodeAll(stream)
}

func mustRender(t *testing.T, valuesYAML string) []object {
	t.Helper()
	objs, err := renderChart(valuesYAML)
	if err != nil {
		t.Fatalf("rendering the chart: %v", err)
	}
	return objs
}

func mustBuild(t *testing.T, dir string, extra map[string]string) []object {
	t.Helper()
	objs, err := buildKustomize(dir, extra)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	return objs
}

// get returns the object of kind, namespace and name, typed as T.
func get[T any](t *testing.T, objs []object, kind, ns, name string) T {
	t.Helper()
	for _, o := range objs {
		if o.Kind == kind && o.Namespace == ns && o.Name == name {
			v, ok := o.Obj.(T)
			if !ok {
				t.Fatalf("%s is a %T", o.key(), o.Obj)
			}
			return v
		}
	}
	var zero T
	t.Fatalf("no %s %s/%s among %s", kind, ns, name, keys(objs))
	return zero
}

func has(objs []object, kind, ns, name string) bool {
	for _, o := range objs {
		if o.Kind == kind && o.Namespace == ns && o.Name == name {
			return true
		}
	}
	return false
}

func keys(objs []object) []string {
	ks := make([]string, len(objs))
	for i, o := range objs {
		ks[i] = o.key()
	}
	sort.Strings(ks)
	return ks
}

// ofKind returns the objects of kind, typed as T.
func ofKind[T any](objs []object, kind string) []T {
	var out []T
	for _, o := range objs {
		if o.Kind == kind {
			out = append(out, o.Obj.(T))
		}
	}
	return out
}
