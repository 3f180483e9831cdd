package adapter

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/validation/spec"
	cmv1beta1 "k8s.io/metrics/pkg/apis/custom_metrics/v1beta1"
	cmv1beta2 "k8s.io/metrics/pkg/apis/custom_metrics/v1beta2"
	emv1beta1 "k8s.io/metrics/pkg/apis/external_metrics/v1beta1"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/generated/openapi/core"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/generated/openapi/custommetrics"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/generated/openapi/externalmetrics"
)

func ref(path string) spec.Ref { return spec.MustCreateRef("#/definitions/" + path) }

// TestTrimOpenAPI trims the library's own definitions: what is kept must
// be closed under dependencies (the builder fails on a missing one) and
// hold every metrics type, and the Kubernetes types no metrics type
// refers to must go.
func TestTrimOpenAPI(t *testing.T) {
	all := map[string]common.OpenAPIDefinition{}
	for _, get := range []common.GetOpenAPIDefinitions{core.GetOpenAPIDefinitions, custommetrics.GetOpenAPIDefinitions, externalmetrics.GetOpenAPIDefinitions} {
		for k, v := range get(ref) {
			all[k] = v
		}
	}
	v2 := &common.Config{GetDefinitions: func(common.ReferenceCallback) map[string]common.OpenAPIDefinition { return all }}
	v3 := &common.OpenAPIV3Config{Definitions: all, GetDefinitions: v2.GetDefinitions}
	TrimOpenAPI(v2, v3)
	for name, kept := range map[string]map[string]common.OpenAPIDefinition{"v2": v2.GetDefinitions(ref), "v3 Definitions": v3.Definitions, "v3": v3.GetDefinitions(ref)} {
		for k, def := range all {
			_, ok := kept[k]
			if !strings.HasPrefix(k, clusterTypes) && !ok {
				t.Errorf("%s: %s was dropped", name, k)
			}
			if !ok {
				continue
			}
			for _, dep := range def.Dependencies {
				// Some generated dependencies name a Go path, not a model
				// name; the builder's lookup is the same as here.
				if _, ok := all[dep]; !ok {
					continue
				}
				if _, ok := kept[dep]; !ok {
					t.Errorf("%s: %s kept but its dependency %s dropped", name, k, dep)
				}
			}
		}
		for _, k := range []string{cmv1beta2.MetricValueList{}.OpenAPIModelName(), cmv1beta1.MetricValueList{}.OpenAPIModelName(),
			emv1beta1.ExternalMetricValueList{}.OpenAPIModelName(), corev1.ObjectReference{}.OpenAPIModelName()} {
			if _, ok := kept[k]; !ok {
				t.Errorf("%s: %s missing", name, k)
			}
		}
		if _, ok := kept[corev1.PodSpec{}.OpenAPIModelName()]; ok {
			t.Errorf("%s: core/v1.PodSpec kept, though no metrics type refers to it", name)
		}
		if len(kept) >= len(all)/2 {
			t.Errorf("%s: kept %d of %d definitions", name, len(kept), len(all))
		}
		t.Logf("%s: kept %d of %d definitions", name, len(kept), len(all))
	}
}
