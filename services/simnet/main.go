// Command netmon-simnet runs a simulated Audius network (fake content nodes on loopback and a
// seeded discovery database) until it receives SIGINT or SIGTERM. See docs/simnet.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.LookupEnv)
	stop()
	switch {
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "netmon-simnet:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "netmon-simnet:", err)
		os.Exit(1)
	}
}
