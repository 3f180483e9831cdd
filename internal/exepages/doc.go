// Package exepages gives back the pages of the running executable that the
// process touched while it started and does not need any more.
//
// rtcscale is one large binary (client-go, k8s.io/api, the generic API
// server, cel-go, the predictor, whatif's plots, the demo's NATS server).
// Before main runs, the package initializers of all of it read their code
// and data, and the kernel maps each page they touch into the process
// together with its neighbours already in the page cache: at start-up the
// adapter holds 60 MiB of its binary's pages, most of which it never reads
// again (docs/benchmarks.md, "The adapter's memory"). Those pages are clean
// copies of the file, so unmapping them is safe, and so is dropping them
// from the page cache: a page the process reads again is mapped back by a
// fault, the same as after the kernel reclaimed it under memory pressure,
// but alone rather than with the 2 MiB piece of the file it was cached in.
package exepages
