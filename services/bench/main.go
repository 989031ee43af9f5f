// Command netmon-bench runs netmon's network-scale benchmarks (issue 7; docs/benchmarks.md):
// complete runs over simnet through the four stage binaries against a nats-server process, with
// ceilings, profiles, fetcher scale-out and tuning knobs. `netmon-bench stage NAME` runs one stage
// with CPU and heap profiles; the benchmark uses it for its profiled runs.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "netmon-bench:", err)
		os.Exit(1)
	}
}
