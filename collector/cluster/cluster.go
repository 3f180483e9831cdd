// Package cluster tells the collector's store what the cluster says about
// pods and their owners, through pod and ReplicaSet informers: which pods
// exist (only their samples are counted), their labels, workload and
// readiness.
package cluster

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/rtcscale/rtcscale/collector"
)

// Store is what the informers write to: collector.Store.
type Store interface {
	UpsertPod(collector.PodInfo)
	DeletePod(namespace, name string)
	SetReplicaSet(namespace, name, deployment string)
	DeleteReplicaSet(namespace, name string)
}

// Watch keeps a store's view of pods and their owners in step with the
// cluster.
type Watch struct {
	factory informers.SharedInformerFactory
	synced  []cache.InformerSynced
}

// Start starts the informers; they stop when stop is closed.
func (w *Watch) Start(stop <-chan struct{}) { w.factory.Start(stop) }

// Synced reports whether the informers have listed the cluster once. Serve
// only then: a pod the store does not know cannot match a label selector.
func (w *Watch) Synced() bool {
	for _, s := range w.synced {
		if !s() {
			return false
		}
	}
	return true
}

// WaitForSync blocks until the informers have synced or stop is closed.
func (w *Watch) WaitForSync(stop <-chan struct{}) bool {
	return cache.WaitForCacheSync(stop, w.synced...)
}

// NewWatch returns a Watch that feeds store. The informers keep only what
// the collector reads (labels, owner, readiness), so their cache costs
// little more than the pods' names (slim).
func NewWatch(client kubernetes.Interface, store Store) (*Watch, error) {
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(newLabelSets().slim))
	// No index: nothing lists this cache by namespace, and the factory's
	// default namespace index costs a set entry per pod.
	pods := factory.InformerFor(&corev1.Pod{}, func(c kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
		return coreinformers.NewPodInformer(c, metav1.NamespaceAll, resync, cache.Indexers{})
	})
	replicaSets := factory.Apps().V1().ReplicaSets().Informer()
	_, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { upsertPod(store, obj) },
		UpdateFunc: func(_, obj any) { upsertPod(store, obj) },
		DeleteFunc: func(obj any) {
			if m := objectMeta(obj); m != nil {
				store.DeletePod(m.Namespace, m.Name)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	_, err = replicaSets.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { setReplicaSet(store, obj) },
		UpdateFunc: func(_, obj any) { setReplicaSet(store, obj) },
		DeleteFunc: func(obj any) {
			if m := objectMeta(obj); m != nil {
				store.DeleteReplicaSet(m.Namespace, m.Name)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	return &Watch{factory: factory, synced: []cache.InformerSynced{pods.HasSynced, replicaSets.HasSynced}}, nil
}

func objectMeta(obj any) *metav1.ObjectMeta {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	switch o := obj.(type) {
	case *cachedPod:
		return &o.ObjectMeta
	case *metav1.PartialObjectMetadata:
		return &o.ObjectMeta
	}
	return nil
}

func upsertPod(store Store, obj any) {
	if p, ok := obj.(*cachedPod); ok {
		store.UpsertPod(p.info())
	}
}

func setReplicaSet(store Store, obj any) {
	rs, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return
	}
	deployment := ""
	if ref := metav1.GetControllerOf(rs); ref != nil && ref.Kind == "Deployment" {
		deployment = ref.Name
	}
	store.SetReplicaSet(rs.Namespace, rs.Name, deployment)
}

// slim replaces each object, before it enters the informer's cache, with
// what the collector reads of it: a pod with a cachedPod, a ReplicaSet
// with its metadata. Even emptied, a corev1.Pod is a 1,240-byte struct
// (its PodSpec alone 592 bytes) and a ReplicaSet 1,168: at 10,000 pods the
// emptied Pods were 40% of the adapter's heap (docs/benchmarks.md). Pods
// with the same labels share one map of them (labelSets).
func (t *labelSets) slim(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return newCachedPod(o, t.intern(o.Labels)), nil
	case *appsv1.ReplicaSet:
		m := cacheKeys(&o.ObjectMeta)
		if ref := metav1.GetControllerOf(o); ref != nil {
			m.OwnerReferences = []metav1.OwnerReference{*ref}
		}
		return &metav1.PartialObjectMetadata{ObjectMeta: m}, nil
	}
	return obj, nil
}

// cacheKeys is the metadata the informer's cache itself reads: the key
// (namespace/name), the UID and the resource version.
func cacheKeys(m *metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion}
}

// cachedPod is what the pod informer's cache holds of a pod, and what its
// event handlers receive: the cache's keys, the labels and the creation
// time in its ObjectMeta, and the rest of what the store is given. It is
// 288 bytes; with a collector.PodInfo beside the ObjectMeta it was 384.
type cachedPod struct {
	metav1.ObjectMeta
	owner      collector.Workload
	ready      bool
	readySince int64 // unix ms, as the store keeps it; 0 for not known
	// labels holds the set Labels is the map of, so that pods with the
	// same labels keep sharing it.
	labels *labelSet
}

// newCachedPod keeps what the collector reads of p, with labels (nil
// for none) for its labels.
func newCachedPod(p *corev1.Pod, labels *labelSet) *cachedPod {
	c := &cachedPod{ObjectMeta: cacheKeys(&p.ObjectMeta), labels: labels}
	c.CreationTimestamp = p.CreationTimestamp
	if labels != nil {
		c.Labels = labels.m
	}
	if ref := metav1.GetControllerOf(p); ref != nil {
		c.owner = collector.Workload{Kind: collector.ParseWorkloadKind(ref.Kind), Name: ref.Name}
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			c.ready = cond.Status == corev1.ConditionTrue && p.Status.Phase == corev1.PodRunning
			if !cond.LastTransitionTime.IsZero() {
				c.readySince = cond.LastTransitionTime.UnixMilli()
			}
		}
	}
	return c
}

// info is what the store is told of the pod.
func (p *cachedPod) info() collector.PodInfo {
	info := collector.PodInfo{
		Namespace: p.Namespace, Name: p.Name, Labels: p.Labels, Owner: p.owner,
		Ready: p.ready, Created: p.CreationTimestamp.Time,
	}
	if p.readySince != 0 {
		info.ReadySince = time.UnixMilli(p.readySince)
	}
	return info
}

// GetObjectKind is runtime.Object's: the cache never asks a pod's kind.
func (p *cachedPod) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject is runtime.Object's.
func (p *cachedPod) DeepCopyObject() runtime.Object {
	c := *p
	c.ObjectMeta = *p.ObjectMeta.DeepCopy() // its own labels, so no labelSet
	c.labels = nil
	return &c
}
