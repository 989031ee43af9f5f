// Command netmon-loader runs netmon's loader stage until it receives SIGINT or SIGTERM.
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
	err := stage.Serve(ctx, "loader", os.Environ(), os.Stderr, stage.RunLoader)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "netmon-loader:", err)
		os.Exit(1)
	}
}
