package deploy

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/rtcscale/rtcscale/kedascaler"
)

// scalerAddress is the scaler's Service as the chart's defaults and the
// keda-scaler component install it.
const scalerAddress = serviceDNS + ":9443"

// TestExampleScaledObjects checks the example ScaledObjects against KEDA's
// own CRDs (from the module github.com/kedacore/keda/v2 go.mod pins), and
// their triggers against the scaler: metadata it accepts, the address the
// install serves it on, the TriggerAuthentication beside them, and a wake
// from zero that can work.
func TestExampleScaledObjects(t *testing.T) {
	schemas := kedaSchemas(t, "keda.sh_scaledobjects.yaml", "keda.sh_triggerauthentications.yaml")
	// The metadata checks need no values: GetMetricSpec reads the
	// metadata only.
	scaler := kedascaler.NewScaler(nil, time.Second, nil)
	forExamples(t, "examples/scaledobject-*.yaml", 2, func(t *testing.T, _ []byte, objs []object) {
		auths := map[string]bool{}
		var scaled []map[string]any
		for _, o := range objs {
			v, ok := schemas[o.Kind]
			if !ok {
				t.Errorf("%s: want only ScaledObjects and TriggerAuthentications", o.key())
				continue
			}
			m := *o.Obj.(*map[string]any)
			if errs := validation.ValidateCustomResource(field.NewPath(o.Kind), m, v.validator); len(errs) > 0 {
				t.Errorf("%s against KEDA's CRD: %v", o.key(), errs.ToAggregate())
			}
			// The apiserver drops fields the schema does not know:
			// a misspelt one would be lost without a word.
			if unknown := pruning.PruneWithOptions(runtimeCopy(t, m), v.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}); len(unknown) > 0 {
				t.Errorf("%s: fields KEDA's CRD does not have: %v", o.key(), unknown)
			}
			if o.Kind == "TriggerAuthentication" {
				auths[o.Namespace+"/"+o.Name] = true
			} else {
				scaled = append(scaled, m)
			}
		}
		if len(scaled) != 1 {
			t.Fatalf("want one ScaledObject, got %d", len(scaled))
		}
		checkScaledObject(t, scaler, scaled[0], auths)
	})
}

// scaledObject is what the checks read of one.
type scaledObject struct {
	Metadata struct{ Name, Namespace string }
	Spec     struct {
		ScaleTargetRef  struct{ APIVersion, Kind, Name string }
		MinReplicaCount *int32
		Advanced        struct {
			HorizontalPodAutoscalerConfig struct {
				Behavior struct {
					ScaleDown struct {
						StabilizationWindowSeconds *int32
					}
				}
			}
		}
		Triggers []struct {
			Type              string
			Metadata          map[string]string
			AuthenticationRef struct{ Name string }
		}
	}
}

func checkScaledObject(t *testing.T, scaler *kedascaler.Scaler, m map[string]any, auths map[string]bool) {
	t.Helper()
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var so scaledObject
	if err := json.Unmarshal(raw, &so); err != nil {
		t.Fatal(err)
	}
	target := so.Spec.ScaleTargetRef
	ownWorkload := strings.ToLower(target.Kind) + "s.apps/" + target.Name
	var wakes, forecast bool
	for i, tr := range so.Spec.Triggers {
		md := tr.Metadata
		if tr.Type != "external" && tr.Type != "external-push" {
			t.Errorf("trigger %d: type %s, want external or external-push", i, tr.Type)
			continue
		}
		if md["scalerAddress"] != scalerAddress {
			t.Errorf("trigger %d: scalerAddress %q, want the install's %q", i, md["scalerAddress"], scalerAddress)
		}
		if !auths[so.Metadata.Namespace+"/"+tr.AuthenticationRef.Name] {
			t.Errorf("trigger %d: authenticationRef %q is no TriggerAuthentication of namespace %s in the file", i, tr.AuthenticationRef.Name, so.Metadata.Namespace)
		}
		ref := &externalscaler.ScaledObjectRef{Name: so.Metadata.Name, Namespace: so.Metadata.Namespace, ScalerMetadata: md}
		spec, err := scaler.GetMetricSpec(context.Background(), ref)
		if err != nil {
			t.Errorf("trigger %d: the scaler refuses its metadata: %v", i, err)
			continue
		}
		if w, ok := md["workload"]; ok && w != ownWorkload {
			t.Errorf("trigger %d: workload %s, not the scaled %s", i, w, ownWorkload)
		}
		forecast = forecast || strings.HasSuffix(spec.GetMetricSpecs()[0].GetMetricName(), "_forecast")
		// A workload at zero has no pods, so only a label selector over
		// another workload's pods, pushed, wakes it.
		_, selector := md["labelSelector"]
		wakes = wakes || (tr.Type == "external-push" && selector)
	}
	if !forecast {
		t.Error("no forecast trigger: the examples scale ahead of the load")
	}
	if min := so.Spec.MinReplicaCount; min != nil && *min == 0 && !wakes {
		t.Error("minReplicaCount 0 without an external-push trigger over a labelSelector: nothing wakes the workload")
	}
	if w := so.Spec.Advanced.HorizontalPodAutoscalerConfig.Behavior.ScaleDown.StabilizationWindowSeconds; w == nil || *w < 300 {
		t.Errorf("scale-down stabilization %v: RTC pods hold calls; keep at least 300 s", w)
	}
}

// crdSchema is a CRD version's schema, to validate and to prune with.
type crdSchema struct {
	validator  validation.SchemaValidator
	structural *structuralschema.Structural
}

// runtimeCopy is m as JSON decodes it, which pruning walks (and changes).
func runtimeCopy(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// kedaSchemas returns the schema of the stored version of each KEDA CRD
// named, by kind, read from the module's config/crd/bases.
func kedaSchemas(t *testing.T, files ...string) map[string]crdSchema {
	t.Helper()
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/kedacore/keda/v2").Output()
	if err != nil {
		t.Fatalf("go list -m github.com/kedacore/keda/v2: %v", err)
	}
	out := map[string]crdSchema{}
	for _, f := range files {
		raw, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(dir)), "config", "crd", "bases", f))
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(raw, &crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, v := range crd.Spec.Versions {
			if !v.Storage {
				continue
			}
			var schema apiextensions.JSONSchemaProps
			if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, &schema, nil); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			validator, _, err := validation.NewSchemaValidator(&schema)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			structural, err := structuralschema.NewStructural(&schema)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out[crd.Spec.Names.Kind] = crdSchema{validator, structural}
		}
	}
	return out
}
