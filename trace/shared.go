package trace

import (
	"os"
	"path/filepath"
	"runtime"
)

// SharedDir is where the project's shared load traces live: $RTCSCALE_TRACES
// if set, else ../shared/traces beside the repository's root. Tests use it
// and skip when it holds nothing.
func SharedDir() string {
	if d := os.Getenv("RTCSCALE_TRACES"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "shared", "traces")
}
