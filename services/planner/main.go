// Command netmon-planner runs netmon's planner stage until it receives SIGINT or SIGTERM; --help
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
	code := stage.Command(ctx, "planner", os.Args[1:], os.Environ(), os.Stdout, os.Stderr, stage.RunPlanner)
	stop()
	os.Exit(code)
}
