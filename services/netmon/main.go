// Command netmon is the operator's command; see `netmon help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/audius-netmon/netmon/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.IO{Environ: os.Environ(), Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
