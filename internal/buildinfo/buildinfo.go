// Package buildinfo says which build of rtcscale is running, from what
// `go build` records in the binary (runtime/debug.ReadBuildInfo): the main
// module's version, which Go derives from the VCS tag or a pseudo-version,
// and the commit it was built from. A plain `go build` in a checkout
// stamps all of it, so no -ldflags are needed.
package buildinfo

import (
	"fmt"
	"runtime/debug"
)

// Version returns the version of the running binary. override, if not empty,
// is a version given at link time (-ldflags "-X main.version=..."): a
// build whose source has no .git (a Docker build context) has no VCS
// information to stamp.
func Version(override string) string {
	info, _ := debug.ReadBuildInfo()
	return format(info, override)
}

// format returns info as "VERSION (revision REV[, modified])": the
// revision too, because a pseudo-version abbreviates it and a build of a
// dirty tree says no more than +dirty.
func format(info *debug.BuildInfo, override string) string {
	v := override
	if v == "" && info != nil {
		v = info.Main.Version
	}
	if v == "" {
		v = "(devel)"
	}
	if info == nil {
		return v
	}
	var rev string
	var modified bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	switch {
	case rev == "":
		return v
	case modified:
		return fmt.Sprintf("%s (revision %s, modified)", v, rev)
	}
	return fmt.Sprintf("%s (revision %s)", v, rev)
}
