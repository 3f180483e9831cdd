package hpasim_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/rtcscale/rtcscale/hpasim"
)

// Example feeds a sequence of values of an External metric to a simulated
// HPA, one per sync, and reads back the replica count after each: the shape
// of a differential test against a real kube-controller-manager.
func Example() {
	h, err := hpasim.ReadHPA(strings.NewReader(`
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: asterisk}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: asterisk}
  minReplicas: 1
  maxReplicas: 10
  metrics:
  - type: External
    external:
      metric: {name: calls}
      target: {type: AverageValue, averageValue: "100"}
`))
	if err != nil {
		panic(err)
	}
	cfg := hpasim.DefaultConfig()
	spec, err := hpasim.Compile(h, cfg)
	if err != nil {
		panic(err)
	}
	c := hpasim.New(spec)
	now := time.Date(2025, 1, 6, 8, 0, 0, 0, time.UTC)
	replicas := int32(1)
	obs := make([]hpasim.Observation, 1)
	for _, calls := range []float64{90, 350, 900, 900, 400, 400} {
		obs[0] = hpasim.Observation{Milli: hpasim.Milli(calls)}
		// Every pod the HPA asked for exists and is ready.
		d, err := c.Sync(now, hpasim.Target{SpecReplicas: replicas, StatusReplicas: replicas, Pods: replicas, ReadyPods: replicas}, obs)
		if err != nil {
			panic(err)
		}
		replicas = d.Replicas
		fmt.Print(replicas, " ")
		now = now.Add(cfg.SyncPeriod)
	}
	// Output: 1 4 8 9 9 9
}
