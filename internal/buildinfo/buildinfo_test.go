package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestFormat(t *testing.T) {
	const rev = "f1141b0c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a"
	vcs := func(modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	for name, c := range map[string]struct {
		info     *debug.BuildInfo
		override string
		want     string
	}{
		"tagged":          {&debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}, Settings: vcs("false")}, "", "v1.2.0 (revision " + rev + ")"},
		"dirty":           {&debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261202015844-f1141b0c2d3e+dirty"}, Settings: vcs("true")}, "", "v0.0.0-20261202015844-f1141b0c2d3e+dirty (revision " + rev + ", modified)"},
		"no vcs":          {&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "", "(devel)"},
		"ldflags win":     {&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "v1.3.0", "v1.3.0"},
		"ldflags and vcs": {&debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}, Settings: vcs("false")}, "v1.3.0-rc.1", "v1.3.0-rc.1 (revision " + rev + ")"},
		"no build info":   {nil, "", "(devel)"},
		"empty version":   {&debug.BuildInfo{}, "", "(devel)"},
	} {
		if got := format(c.info, c.override); got != c.want {
			t.Errorf("%s: format = %q, want %q", name, got, c.want)
		}
	}
}
