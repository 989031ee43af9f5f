// Command netmon-aggregator runs netmon's aggregator stage until it receives SIGINT or SIGTERM; --help
// describes it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/audius-netmon/netmon/internal/stage"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := stage.Command(ctx, "aggregator", os.Args[1:], os.Environ(), os.Stdout, os.Stderr, stage.RunAggregator)
	stop()
	os.Exit(code)
}
