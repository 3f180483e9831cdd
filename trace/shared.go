package trace

import (
	"os"
	"path/filepath"
	"runtime"
)

// Dir is where the load traces the tests and benchmarks read live:
// $RTCSCALE_TRACES if set, else testdata/traces at the repository's root,
// which holds them with their sources and licences so that a lone clone
// runs every test.
func Dir() string {
	if d := os.Getenv("RTCSCALE_TRACES"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "traces")
}
