// Package startup gives back the executable's pages before most package
// initializers run, when the command is `rtcscale adapter`. Import it for
// that effect, from package main only.
//
// The initializers of everything linked touch pages all over the binary
// before main runs, and the kernel maps each touch with the 2 MiB piece
// of the file its page cache holds it in: 60-73 MiB of resident pages at
// 100 pods, the adapter's peak (docs/benchmarks.md, "The adapter's
// memory"). exepages.Release, run here, first drops those pieces and turns
// read-ahead off, so the initializers after this one read what they touch
// 4 KiB at a time: about 11 MiB, for 0.2 s more start-up on this machine
// (2,800 reads from the file; more on a slow disk). Go initializes a
// package as soon as its imports are, in import path order, so this one,
// which imports only the standard library and exepages, runs before the
// heavy ones (client-go's schemes, protobuf's registries, the API server's
// and cel-go's tables).
//
// Only the adapter does this: it runs for days, where its memory counts;
// the other commands run for seconds or minutes.
package startup

import (
	"os"

	"github.com/rtcscale/rtcscale/internal/exepages"
)

func init() {
	if len(os.Args) > 1 && os.Args[1] == "adapter" {
		// Nothing is lost if it fails: the adapter gives its pages back
		// again once main runs, and logs why it could not then.
		exepages.Release()
	}
}
