package adapter

import (
	"strings"

	"k8s.io/kube-openapi/pkg/common"
)

// clusterTypes begins the OpenAPI model names of the Kubernetes resource
// types of k8s.io/api (io.k8s.api.core.v1.Pod, ...), which the
// custom-metrics-apiserver library's generated definitions carry in full,
// though the metrics APIs serve none of them and refer to one
// (ObjectReference).
const clusterTypes = "io.k8s.api."

// TrimOpenAPI keeps, of the OpenAPI definitions the API server is
// configured with, the ones the metrics APIs' own types need: every
// definition outside k8s.io/api and what they refer to, transitively. The
// served OpenAPI documents are the same, since they only hold the
// definitions the routes reach; what changes is that the API server no
// longer holds the other ~300 (all of core/v1, with their descriptions)
// for as long as it runs, which at 100 pods was a quarter of the adapter's
// heap (docs/benchmarks.md, "The adapter's memory"). Either config may be
// nil.
func TrimOpenAPI(v2 *common.Config, v3 *common.OpenAPIV3Config) {
	if v2 != nil && v2.GetDefinitions != nil {
		all := v2.GetDefinitions
		v2.GetDefinitions = func(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
			return needed(all(ref))
		}
	}
	if v3 != nil {
		if v3.Definitions != nil {
			v3.Definitions = needed(v3.Definitions)
		}
		if v3.GetDefinitions != nil {
			all := v3.GetDefinitions
			v3.GetDefinitions = func(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
				return needed(all(ref))
			}
		}
	}
}

// needed returns the definitions of defs outside clusterTypes and those
// they depend on.
func needed(defs map[string]common.OpenAPIDefinition) map[string]common.OpenAPIDefinition {
	out := make(map[string]common.OpenAPIDefinition)
	var todo []string
	for name := range defs {
		if !strings.HasPrefix(name, clusterTypes) {
			todo = append(todo, name)
		}
	}
	for len(todo) > 0 {
		name := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		def, ok := defs[name]
		if _, done := out[name]; done || !ok {
			continue
		}
		out[name] = def
		todo = append(todo, def.Dependencies...)
	}
	return out
}
