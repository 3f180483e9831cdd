// Package drain makes scale-down drain-aware: it keeps the
// controller.kubernetes.io/pod-deletion-cost annotation of RTC pods in step
// with their load, so that when a ReplicaSet removes pods it removes the
// draining ones first, then those with the fewest calls, instead of the
// newest ones whatever calls they carry.
//
// Kubernetes asks that the annotation not follow a metric closely, since
// every change is a pod update. The cost is therefore a coarse bucket of
// the load (it changes when a pod's calls double or halve), it is only
// written when the bucket changes, and each pass writes a bounded number of
// pods.
package drain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/sample"
)

// Annotation is the pod annotation a ReplicaSet reads when it picks pods to
// delete: lower cost goes first.
const Annotation = "controller.kubernetes.io/pod-deletion-cost"

// Costs outside the load buckets.
const (
	// CostDraining is the cost of a pod whose server refuses new calls: it
	// is leaving anyway, so it goes before any serving pod.
	CostDraining int32 = -1
	// CostUnknown is the cost of a pod without a fresh value that has no
	// cost yet (a pod that has a cost keeps it while its load is unknown,
	// so that a restart of rtcscale rewrites nothing): its load is not
	// known, so it is kept as if it were the busiest rather than deleted
	// on a guess.
	CostUnknown int32 = math.MaxInt32
)

// Cost is the deletion cost of a serving pod with load v: the number of
// binary digits of v rounded up, so 0 for an idle pod, 1 for one call, 2
// for 2 or 3, 3 for 4 to 7, and so on. Pods with fewer calls go first,
// and a pod's cost changes only when its load doubles or halves.
func Cost(v float64) int32 {
	if !(v > 0) { // also NaN
		return 0
	}
	c := math.Ceil(math.Log2(v + 1))
	if c >= math.MaxInt32 {
		return CostUnknown - 1
	}
	return int32(c)
}

// Options configure a Controller. The zero value of a field means its
// default.
type Options struct {
	// Selector picks the pods whose deletion cost is managed. Required:
	// pods opt in, for example with a label rtcscale.io/deletion-cost.
	Selector labels.Selector
	// Namespace limits the controller to one namespace; "" means all.
	Namespace string
	// Gauge is the load that orders the pods. Default "calls".
	Gauge string
	// Interval between passes. Default 15s.
	Interval time.Duration
	// MaxPatches bounds the pods written in one pass. Default 50.
	MaxPatches int
}

func (o Options) withDefaults() Options {
	if o.Gauge == "" {
		o.Gauge = sample.GaugeCalls
	}
	if o.Interval <= 0 {
		o.Interval = 15 * time.Second
	}
	if o.MaxPatches <= 0 {
		o.MaxPatches = 50
	}
	return o
}

// Controller writes the deletion cost of the selected pods from the
// collector's latest samples.
type Controller struct {
	client   kubernetes.Interface
	store    Store
	opts     Options
	factory  informers.SharedInformerFactory
	pods     corelisters.PodLister
	synced   cache.InformerSynced
	draining labels.Selector
}

// New returns a Controller over the pods Options.Selector picks; Start or
// Run starts its pod informer.
func New(client kubernetes.Interface, store Store, o Options) (*Controller, error) {
	if o.Selector == nil || o.Selector.Empty() {
		return nil, errors.New("drain: a pod selector is required: pods opt in to a managed deletion cost")
	}
	o = o.withDefaults()
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithNamespace(o.Namespace),
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = o.Selector.String() }))
	podInformer := factory.Core().V1().Pods()
	return &Controller{
		client:   client,
		store:    store,
		opts:     o,
		factory:  factory,
		pods:     podInformer.Lister(),
		synced:   podInformer.Informer().HasSynced,
		draining: labels.SelectorFromSet(labels.Set{collector.LabelDraining: "true"}),
	}, nil
}

// Start starts the pod informer and waits until it has listed the pods;
// it returns false if stop closed first.
func (c *Controller) Start(stop <-chan struct{}) bool {
	c.factory.Start(stop)
	return cache.WaitForCacheSync(stop, c.synced)
}

// Run starts the controller and writes the selected pods' costs every
// interval until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	if !c.Start(ctx.Done()) {
		return ctx.Err()
	}
	defer c.factory.Shutdown()
	tick := time.NewTicker(c.opts.Interval)
	defer tick.Stop()
	for {
		if n, err := c.Sync(ctx); err != nil {
			klog.ErrorS(err, "Writing pod deletion costs", "written", n)
		} else if n > 0 {
			klog.V(2).InfoS("Wrote pod deletion costs", "pods", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Desired returns the deletion cost a pod should have now, and false when
// its load is not known (no fresh sample).
func (c *Controller) Desired(namespace, pod string) (int32, bool) {
	v, _, fresh := c.store.PodValue(namespace, pod, c.opts.Gauge, labels.Everything())
	if !fresh {
		return CostUnknown, false
	}
	if _, _, draining := c.store.PodValue(namespace, pod, c.opts.Gauge, c.draining); draining {
		return CostDraining, true
	}
	return Cost(v.Value), true
}

// Sync writes the cost of every selected running pod whose annotation
// differs from its desired cost, at most MaxPatches of them, and returns
// how many it wrote. Pods being deleted are left alone: their cost no
// longer matters.
func (c *Controller) Sync(ctx context.Context) (int, error) {
	pods, err := c.pods.List(labels.Everything())
	if err != nil {
		return 0, err
	}
	written := 0
	var errs []error
	for _, p := range pods {
		if written >= c.opts.MaxPatches {
			break
		}
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			continue
		}
		cost, known := c.Desired(p.Namespace, p.Name)
		have, annotated := p.Annotations[Annotation]
		want := strconv.FormatInt(int64(cost), 10)
		if have == want || (!known && annotated) {
			continue
		}
		patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, Annotation, want)
		if _, err := c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("pod %s/%s: %w", p.Namespace, p.Name, err))
			continue
		}
		written++
	}
	return written, errors.Join(errs...)
}
