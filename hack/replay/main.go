// Command replay answers every HTTP request with one recorded reply (a file
// of sidecar/testdata), whatever its method and path: a stand-in for an RTC
// server's loopback interface when measuring the sidecar's own footprint
// (docs/benchmarks.md), where the server's cost must not count.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18080", "address to listen on")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: replay [--addr host:port] REPLY-FILE\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	reply, err := os.ReadFile(flag.Arg(0))
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: *addr, ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write(reply)
	})}
	log.Fatal(srv.ListenAndServe())
}
