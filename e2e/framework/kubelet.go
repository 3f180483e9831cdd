package framework

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
)

// Kubelet stands in for a node's kubelet (there is no scheduler and no
// container runtime): it registers a Ready Node, binds every unscheduled pod
// to it, reports the pod Running, then Ready after readyAfter, and confirms
// the deletion of terminating pods. Everything goes through the API, so the
// controllers see the same transitions as on a real node.
type Kubelet struct {
	client     kubernetes.Interface
	node       string
	readyAfter time.Duration

	queue  workqueue.TypedRateLimitingInterface[cache.ObjectName]
	pods   corelisters.PodLister
	wg     sync.WaitGroup
	mu     sync.Mutex
	nextIP netip.Addr
	// started holds when each pod not yet Ready started: its status
	// StartTime is truncated to the second, too coarse for readyAfter.
	started map[types.UID]time.Time
}

// NewKubelet returns a fake kubelet for the node named node.
func NewKubelet(client kubernetes.Interface, node string, readyAfter time.Duration) *Kubelet {
	return &Kubelet{
		client:     client,
		node:       node,
		readyAfter: readyAfter,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[cache.ObjectName](),
			workqueue.TypedRateLimitingQueueConfig[cache.ObjectName]{Name: "fake-kubelet"}),
		nextIP:  netip.MustParseAddr("10.244.0.1"),
		started: map[types.UID]time.Time{},
	}
}

// Start registers the node and runs the pod loop until ctx ends.
func (k *Kubelet) Start(ctx context.Context) error {
	if err := k.registerNode(ctx); err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(k.client, 0)
	informer := factory.Core().V1().Pods()
	k.pods = informer.Lister()
	if _, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    k.enqueue,
		UpdateFunc: func(_, obj any) { k.enqueue(obj) },
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("fake kubelet: %v informer did not sync", typ)
		}
	}
	k.wg.Go(func() {
		<-ctx.Done()
		k.queue.ShutDown()
		factory.Shutdown()
	})
	for range 2 {
		k.wg.Go(func() {
			for k.processNext(ctx) {
			}
		})
	}
	return nil
}

// Wait returns when the kubelet has stopped (after its context ended).
func (k *Kubelet) Wait() { k.wg.Wait() }

func (k *Kubelet) enqueue(obj any) {
	if pod, ok := obj.(*corev1.Pod); ok && (pod.Spec.NodeName == "" || pod.Spec.NodeName == k.node) {
		k.queue.Add(cache.MetaObjectToName(pod))
	}
}

func (k *Kubelet) registerNode(ctx context.Context) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:   k.node,
		Labels: map[string]string{corev1.LabelHostname: k.node},
	}}
	node, err := k.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("fake kubelet: registering node: %w", err)
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("64"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("1000"),
	}
	now := metav1.Now()
	node.Status = corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity,
		Phase:       corev1.NodeRunning,
		Addresses:   []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}, {Type: corev1.NodeHostName, Address: k.node}},
		Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			Message: "fake kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now,
		}},
	}
	if _, err := k.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("fake kubelet: node status: %w", err)
	}
	return nil
}

func (k *Kubelet) processNext(ctx context.Context) bool {
	key, quit := k.queue.Get()
	if quit {
		return false
	}
	defer k.queue.Done(key)
	requeueAfter, err := k.sync(ctx, key)
	switch {
	case err != nil:
		k.queue.AddRateLimited(key)
	case requeueAfter > 0:
		k.queue.Forget(key)
		k.queue.AddAfter(key, requeueAfter)
	default:
		k.queue.Forget(key)
	}
	return true
}

// sync moves one pod a step along its life: bind, start, become ready, or
// finish terminating. It returns how long to wait before looking again when
// the next step is due later.
func (k *Kubelet) sync(ctx context.Context, key cache.ObjectName) (time.Duration, error) {
	pod, err := k.pods.Pods(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	pods := k.client.CoreV1().Pods(pod.Namespace)
	switch {
	case pod.DeletionTimestamp != nil:
		// The containers "stopped" at once: confirm the deletion as the
		// kubelet does once they have.
		k.mu.Lock()
		delete(k.started, pod.UID)
		k.mu.Unlock()
		err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: ptr.To[int64](0),
			Preconditions:      metav1.NewUIDPreconditions(string(pod.UID)),
		})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return 0, nil
		}
		return 0, err
	case pod.Spec.NodeName == "":
		return 0, pods.Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: k.node},
		}, metav1.CreateOptions{})
	case pod.Status.Phase == corev1.PodPending || pod.Status.Phase == "":
		pod = pod.DeepCopy()
		k.start(pod, k.readyAfter == 0)
		if _, err := pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			return 0, err
		}
		return k.readyAfter, nil
	case pod.Status.Phase == corev1.PodRunning && !podReady(pod):
		if wait := time.Until(k.startedAt(pod).Add(k.readyAfter)); wait > 0 {
			return wait, nil
		}
		pod = pod.DeepCopy()
		setReady(pod, true, metav1.Now())
		if _, err := pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			return 0, err
		}
		k.mu.Lock()
		delete(k.started, pod.UID)
		k.mu.Unlock()
	}
	return 0, nil
}

// start fills in the status of a pod whose containers have just started.
func (k *Kubelet) start(pod *corev1.Pod, ready bool) {
	now := metav1.Now()
	ip := k.allocateIP()
	if !ready {
		k.mu.Lock()
		k.started[pod.UID] = now.Time
		k.mu.Unlock()
	}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.HostIP, pod.Status.HostIPs = "127.0.0.1", []corev1.HostIP{{IP: "127.0.0.1"}}
	pod.Status.PodIP, pod.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	pod.Status.StartTime = &now
	for _, t := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.PodScheduled} {
		setCondition(pod, t, corev1.ConditionTrue, now)
	}
	pod.Status.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
			Name:        c.Name,
			Image:       c.Image,
			ImageID:     "fake://" + c.Image,
			ContainerID: "fake://" + string(pod.UID) + "/" + c.Name,
			Started:     ptr.To(true),
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	setReady(pod, ready, now)
}

// startedAt is when the pod started, as precisely as this kubelet knows.
func (k *Kubelet) startedAt(pod *corev1.Pod) time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	if t, ok := k.started[pod.UID]; ok {
		return t
	}
	return pod.Status.StartTime.Time
}

func (k *Kubelet) allocateIP() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	ip := k.nextIP
	k.nextIP = ip.Next()
	return ip.String()
}

func setReady(pod *corev1.Pod, ready bool, now metav1.Time) {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	setCondition(pod, corev1.ContainersReady, status, now)
	setCondition(pod, corev1.PodReady, status, now)
	for i := range pod.Status.ContainerStatuses {
		pod.Status.ContainerStatuses[i].Ready = ready
	}
}

func setCondition(pod *corev1.Pod, t corev1.PodConditionType, status corev1.ConditionStatus, now metav1.Time) {
	for i, c := range pod.Status.Conditions {
		if c.Type == t {
			if c.Status != status {
				pod.Status.Conditions[i].Status = status
				pod.Status.Conditions[i].LastTransitionTime = now
			}
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{Type: t, Status: status, LastTransitionTime: now})
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
