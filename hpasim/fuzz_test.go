package hpasim

import (
	"os"
	"strings"
	"testing"
	"time"
)

// FuzzReadHPA reads and compiles any manifest: an HPA spec within its
// bounds, or an error, never a panic.
func FuzzReadHPA(f *testing.F) {
	if b, err := os.ReadFile("../whatif/testdata/kamailio-hpa.yaml"); err == nil {
		f.Add(string(b))
	}
	f.Add("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nspec:\n  maxReplicas: 3\n  metrics:\n  - type: Pods\n    pods:\n      metric: {name: calls}\n      target: {type: AverageValue, averageValue: 100}\n")
	f.Add("kind: HorizontalPodAutoscaler\napiVersion: autoscaling/v1\n")
	f.Add("---\n---\nkind: Deployment\n")
	f.Fuzz(func(t *testing.T, manifest string) {
		hpa, err := ReadHPA(strings.NewReader(manifest))
		if err != nil {
			return
		}
		s, err := Compile(hpa, Config{SyncPeriod: 15 * time.Second, Tolerance: 0.1, DownscaleStabilization: 5 * time.Minute})
		if err != nil {
			return
		}
		if s.MaxReplicas < 1 || s.MinReplicas < 0 || s.MinReplicas > s.MaxReplicas {
			t.Fatalf("compiled replicas [%d, %d]", s.MinReplicas, s.MaxReplicas)
		}
	})
}
