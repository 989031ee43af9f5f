// Command netmon-aggregator runs netmon's aggregator stage until it receives SIGINT or SIGTERM.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/audius-netmon/netmon/internal/stage"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := stage.Serve(ctx, "aggregator", os.Environ(), os.Stderr, stage.RunAggregator)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "netmon-aggregator:", err)
		os.Exit(1)
	}
}
