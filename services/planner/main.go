// Command netmon-planner runs netmon's planner stage until it receives SIGINT or SIGTERM.
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
	err := stage.Serve(ctx, "planner", os.Environ(), os.Stderr, stage.RunPlanner)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "netmon-planner:", err)
		os.Exit(1)
	}
}
