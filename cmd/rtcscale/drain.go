package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/rtcscale/rtcscale/drain"
	"github.com/rtcscale/rtcscale/internal/server"
	"github.com/rtcscale/rtcscale/sample"
)

// drainFlags configure the pod-deletion-cost controller (package drain).
// It is off by default: it is the adapter's only write to the cluster and
// needs patch on pods, which deploy/ grants only with it on.
type drainFlags struct {
	on         bool
	selector   string
	namespaces []string
	opts       drain.Options
}

func (d *drainFlags) add(fs *pflag.FlagSet) {
	fs.BoolVar(&d.on, "pod-deletion-cost", false, "keep controller.kubernetes.io/pod-deletion-cost of the pods --pod-deletion-cost-selector picks in step with their load, so that a scale-down removes draining and idle pods first (needs patch on pods)")
	fs.StringVar(&d.selector, "pod-deletion-cost-selector", "rtcscale.io/deletion-cost=calls", "label selector of the pods whose deletion cost is managed: pods opt in")
	fs.StringSliceVar(&d.namespaces, "pod-deletion-cost-namespaces", nil, "the namespaces whose pods' deletion cost is managed, each watched on its own, so that patch on pods can be granted by a Role in each (the chart's deletionCost.namespaces); empty: every namespace, which needs a ClusterRole")
	fs.StringVar(&d.opts.Gauge, "pod-deletion-cost-gauge", sample.GaugeCalls, "the gauge whose value orders the pods")
	fs.DurationVar(&d.opts.Interval, "pod-deletion-cost-interval", 15*time.Second, "how often the deletion costs are brought up to date")
	fs.IntVar(&d.opts.MaxPatches, "pod-deletion-cost-max-patches", 50, "most pods written per interval")
}

// validate checks the flags, on or off, so that turning the controller on
// later does not reveal a mistake made now, and parses the selector.
func (d *drainFlags) validate() error {
	sel, err := labels.Parse(d.selector)
	if err != nil {
		return fmt.Errorf("--pod-deletion-cost-selector=%s: %w", d.selector, err)
	}
	d.opts.Selector = sel
	for i, ns := range d.namespaces {
		switch {
		case !sample.IsDNSLabel(ns):
			return fmt.Errorf("--pod-deletion-cost-namespaces: %q is not a namespace name", ns)
		case slices.Contains(d.namespaces[:i], ns):
			return fmt.Errorf("--pod-deletion-cost-namespaces: %s is listed twice", ns)
		}
	}
	return checkFlags(
		check{"pod-deletion-cost-selector", d.selector, !d.on || !sel.Empty(), "a selector that picks some pods: pods opt in"},
		check{"pod-deletion-cost-gauge", d.opts.Gauge, sample.ValidGaugeName(d.opts.Gauge), "a gauge name"},
		check{"pod-deletion-cost-interval", d.opts.Interval, d.opts.Interval > 0, "a duration above 0"},
		check{"pod-deletion-cost-max-patches", d.opts.MaxPatches, d.opts.MaxPatches >= 1, "at least 1"},
	)
}

// config returns the controllers' configuration, or nil when off. Call
// validate first.
func (d *drainFlags) config() *server.DeletionCost {
	if !d.on {
		return nil
	}
	return &server.DeletionCost{Options: d.opts, Namespaces: d.namespaces}
}
