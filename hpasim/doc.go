// Package hpasim simulates the decision logic of the Kubernetes
// HorizontalPodAutoscaler controller as of Kubernetes 1.37
// (k8s.io/kubernetes/pkg/controller/podautoscaler): the replica proposal of
// each Pods, Object and External metric with its missing- and unready-pod
// rules, the global and per-direction tolerance, the downscale
// stabilization and the scale-up limit of an HPA without behavior, the
// stabilization windows and rate policies of an HPA with behavior, scaling
// to and from zero, and the min/max clamp.
//
// A Controller is built from a real autoscaling/v2 HorizontalPodAutoscaler
// (defaulted and validated as the API server would) and is driven by its
// caller: at each sync the caller hands it what the real controller would
// read (the scale subresource, the pods behind the selector, one observation
// per metric) and applies the replica count it returns. The package does no
// I/O and keeps no clock of its own, so a replay can run it over months of
// load in seconds and a differential test can feed the same sequence to it
// and to a real kube-controller-manager.
//
// Resource (CPU, memory) metrics are not simulated: rtcscale scales
// real-time-communication workloads on calls and participants, which reach
// the HPA as custom or external metrics.
package hpasim
