// Package klogflags gives every rtcscale command klog's flags (-v,
// --vmodule, ...) as Kubernetes components have them.
package klogflags

import (
	goflag "flag"

	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
)

// Add adds klog's flags to fs.
func Add(fs *pflag.FlagSet) {
	gfs := goflag.NewFlagSet("klog", goflag.ContinueOnError)
	klog.InitFlags(gfs)
	fs.AddGoFlagSet(gfs)
}
