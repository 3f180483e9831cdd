package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"

	"github.com/rtcscale/rtcscale/sample"
)

// sidecarGauges are the gauges rtcscale's sidecars publish.
var sidecarGauges = []string{
	sample.GaugeCalls, sample.GaugeChannels, sample.GaugeParticipants, sample.GaugeConferences,
	sample.GaugeLargestConference, sample.GaugeBitrateIn, sample.GaugeBitrateOut,
	sample.GaugePacketrateIn, sample.GaugePacketrateOut, sample.GaugeStress,
}

// TestExampleHPAs checks the example HPAs: each scales on a reactive
// per-pod metric and on the forecast of its own workload, with metric
// names the adapter serves, and each metric's comment shows the exact
// request the HPA controller will make.
func TestExampleHPAs(t *testing.T) {
	forExamples(t, "examples/hpa-*.yaml", 4, func(t *testing.T, raw []byte, objs []object) {
		if len(objs) != 1 || objs[0].Kind != "HorizontalPodAutoscaler" {
			t.Fatalf("want one HorizontalPodAutoscaler, got %v", keys(objs))
		}
		hpa := objs[0].Obj.(*autoscalingv2.HorizontalPodAutoscaler)
		checkExampleHPA(t, hpa, string(raw))
	})
}

// forExamples runs check on each example file that matches pattern, of
// which there must be at least n, decoded strictly.
func forExamples(t *testing.T, pattern string, n int, check func(t *testing.T, raw []byte, objs []object)) {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) < n {
		t.Fatalf("examples %s: %v, %v; want at least %d", pattern, files, err, n)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := decodeAll(raw)
			if err != nil {
				t.Fatal(err)
			}
			check(t, raw, objs)
		})
	}
}

func checkExampleHPA(t *testing.T, hpa *autoscalingv2.HorizontalPodAutoscaler, text string) {
	target := hpa.Spec.ScaleTargetRef
	if target.APIVersion != "apps/v1" || (target.Kind != "Deployment" && target.Kind != "StatefulSet") {
		t.Errorf("scaleTargetRef %+v: an HPA scales a Deployment or a StatefulSet", target)
	}
	base := "GET /apis/custom.metrics.k8s.io/v1beta2/namespaces/" + hpa.Namespace + "/"
	var reactive, forecast bool
	for _, m := range hpa.Spec.Metrics {
		switch m.Type {
		case autoscalingv2.PodsMetricSourceType:
			name := m.Pods.Metric.Name
			if !slices.Contains(sidecarGauges, name) {
				t.Errorf("Pods metric %q is not a gauge the sidecars publish (a pod has no _avg, _max or _forecast)", name)
			}
			if m.Pods.Target.Type != autoscalingv2.AverageValueMetricType || m.Pods.Target.AverageValue == nil || m.Pods.Target.AverageValue.Sign() <= 0 {
				t.Errorf("Pods metric %s: target %+v, want a positive AverageValue", name, m.Pods.Target)
			}
			wantComment(t, text, base+"pods/*/"+name+"?labelSelector=")
			reactive = true
		case autoscalingv2.ObjectMetricSourceType:
			name := m.Object.Metric.Name
			obj := m.Object.DescribedObject
			if obj.APIVersion != target.APIVersion || obj.Kind != target.Kind || obj.Name != target.Name {
				t.Errorf("Object metric %s describes %+v, not the scaled workload %+v", name, obj, target)
			}
			gauge := name
			for _, suffix := range []string{"_avg", "_max", "_forecast"} {
				if g, ok := strings.CutSuffix(name, suffix); ok {
					gauge = g
					forecast = forecast || suffix == "_forecast"
				}
			}
			if !slices.Contains(sidecarGauges, gauge) {
				t.Errorf("Object metric %q is not a sidecar gauge with an optional _avg, _max or _forecast suffix", name)
			}
			if m.Object.Target.Type != autoscalingv2.AverageValueMetricType && m.Object.Target.Type != autoscalingv2.ValueMetricType {
				t.Errorf("Object metric %s: target type %s", name, m.Object.Target.Type)
			}
			wantComment(t, text, base+strings.ToLower(obj.Kind)+"s.apps/"+obj.Name+"/"+name)
		default:
			t.Errorf("metric type %s: the examples use custom metrics only, which work next to KEDA", m.Type)
		}
	}
	if !reactive || !forecast {
		t.Errorf("want a reactive Pods metric and a _forecast Object metric; reactive %v, forecast %v", reactive, forecast)
	}
	b := hpa.Spec.Behavior
	if b == nil || b.ScaleDown == nil || b.ScaleDown.StabilizationWindowSeconds == nil || *b.ScaleDown.StabilizationWindowSeconds < 300 {
		t.Errorf("scale-down behavior %+v: RTC pods hold calls; keep a stabilization window of at least the default 300 s", b)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 {
		t.Errorf("minReplicas %v: keep two pods so that one can fail or drain", hpa.Spec.MinReplicas)
	}
}

func wantComment(t *testing.T, text, request string) {
	t.Helper()
	if !strings.Contains(text, "# "+request) {
		t.Errorf("no comment showing the request %q", request)
	}
}
