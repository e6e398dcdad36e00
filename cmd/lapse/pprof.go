//go:build pprof

package main

// Built only with -tags pprof, for profiling under lapse-bench: the
// profiling endpoints listen on LAPSE_PPROF_ADDR (loopback), never on the
// service's own port, and are absent from every normal build.

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if addr := os.Getenv("LAPSE_PPROF_ADDR"); addr != "" {
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
}
