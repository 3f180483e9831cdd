package framework

import (
	"context"
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// ListWatcher is what a typed client for one resource offers (for instance
// clientset.AppsV1().Deployments(ns)).
type ListWatcher[L runtime.Object] interface {
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// Until watches the object called name until cond accepts it, cond fails,
// the object is deleted, or ctx ends, and returns the last version seen.
// cond sees every version the watch delivers, so it can also assert that
// something never happens on the way (by returning an error).
func Until[T runtime.Object, L runtime.Object](ctx context.Context, c ListWatcher[L], name string, cond func(T) (bool, error)) (T, error) {
	var last T
	_, err := watchtools.UntilWithSync(ctx, listWatch(c, name), example[T](), nil, func(ev watch.Event) (bool, error) {
		obj, ok := ev.Object.(T)
		if !ok {
			return false, fmt.Errorf("watch of %s: unexpected %T", name, ev.Object)
		}
		last = obj
		if ev.Type == watch.Deleted {
			return false, fmt.Errorf("%s was deleted", name)
		}
		return cond(obj)
	})
	if err != nil {
		return last, fmt.Errorf("waiting for %s: %w", name, err)
	}
	return last, nil
}

// UntilDeleted waits until the object called name no longer exists.
func UntilDeleted[T runtime.Object, L runtime.Object](ctx context.Context, c ListWatcher[L], name string) error {
	gone := func(store cache.Store) (bool, error) { return len(store.List()) == 0, nil }
	_, err := watchtools.UntilWithSync(ctx, listWatch(c, name), example[T](), gone, func(ev watch.Event) (bool, error) {
		return ev.Type == watch.Deleted, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for %s to be deleted: %w", name, err)
	}
	return nil
}

// listWatch lists and watches the one object called name.
func listWatch[L runtime.Object](c ListWatcher[L], name string) cache.ListerWatcher {
	selector := fields.OneTermEqualSelector("metadata.name", name).String()
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = selector
			return c.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = selector
			return c.Watch(ctx, o)
		},
	}
}

// example returns an empty T for an informer to describe its type with; it
// must not be a nil pointer (an Unstructured's kind is read from it).
func example[T runtime.Object]() T {
	return reflect.New(reflect.TypeFor[T]().Elem()).Interface().(T)
}

// CreateNamespace creates a namespace and waits until its default
// ServiceAccount exists, so that pods can be admitted in it.
func CreateNamespace(ctx context.Context, client kubernetes.Interface, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return err
	}
	_, err := Until(ctx, client.CoreV1().ServiceAccounts(name), "default", func(*corev1.ServiceAccount) (bool, error) {
		return true, nil
	})
	return err
}
