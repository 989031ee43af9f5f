// Command netmon-fetcher runs netmon's fetcher stage until it receives SIGINT or SIGTERM.
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
	err := stage.Serve(ctx, "fetcher", os.Environ(), os.Stderr, stage.RunFetcher)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "netmon-fetcher:", err)
		os.Exit(1)
	}
}
