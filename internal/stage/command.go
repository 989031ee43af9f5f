package stage

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/audius-netmon/netmon/internal/config"
)

// Exit codes of the stage binaries, as the netmon command's: 0 stopped by a signal, 1 the stage
// failed (a dependency lost, ...), 2 usage or configuration.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// errConfig marks a configuration that fails its checks: Serve returns it before anything is
// started.
type errConfig struct{ err error }

func (e errConfig) Error() string { return "configuration is invalid:\n" + e.err.Error() }
func (e errConfig) Unwrap() error { return e.err }

// usages are the stage binaries' --help texts.
var usages = map[config.Stage]string{
	config.Planner: `starts monitoring runs: on NETMON_SCHEDULE (default @daily) and whenever
asked (netmon run), one run of a network at a time. It reads the discovery database (FDB_* or
NETMON_DISCOVERY_DB_URL) in one consistent read and publishes the run's snapshot, its work items
and its manifest to NATS (NETMON_NATS_URL).`,
	config.Fetcher: `takes work items from NATS (NETMON_NATS_URL), asks the content nodes for their
clocks and CIDs (signed when SIGNATURE_* is set), and publishes one result per item. Run as many
as you like, on any machines.`,
	config.Loader: `writes the runs' snapshots and results from NATS (NETMON_NATS_URL) into the NM DB
(DB_* or NETMON_DB_URL), exactly once each, and announces a run loaded once everything its
manifest promised is written.`,
	config.Aggregator: `computes a loaded run's metrics with SQL in the NM DB (DB_* or NETMON_DB_URL),
pushes them to the Pushgateway (PUSH_GATEWAY_URL), posts the Slack summary (SLACK_URL), marks the
run complete and prunes old runs; a run still loading at its deadline ends incomplete.`,
}

// Command is a stage binary's whole main: with -h, --help or help it prints the stage's usage on
// stdout and returns 0 without reading the configuration or connecting to anything; any other
// argument is a usage error; otherwise it Serves. It returns the exit code: 0 stopped by a
// signal, 1 the stage failed, 2 usage or configuration.
func Command(ctx context.Context, stage config.Stage, args, environ []string, stdout, stderr io.Writer,
	run func(context.Context, Deps) error) int {
	name := "netmon-" + string(stage)
	if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help", "help":
			fmt.Fprintf(stdout, "Usage: %s\n\n%s %s\n\n%s", name, name, usages[stage], commonUsage(stage))
			return exitOK
		}
		fmt.Fprintf(stderr, "%s: unexpected argument %q: the stage takes no arguments, only environment variables\n"+
			"Run '%s --help' for details.\n", name, args[0], name)
		return exitUsage
	}
	err := Serve(ctx, stage, environ, stderr, run)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	if errors.As(err, new(errConfig)) {
		return exitUsage
	}
	return exitFailed
}

func commonUsage(stage config.Stage) string {
	return fmt.Sprintf(`It takes no arguments: the configuration is the environment (docs/configuration.md; `+"`netmon check`"+`
validates it and prints it with secrets masked). It serves /metrics, /healthz, /readyz and /status
on NETMON_HTTP_ADDR (default %s) and logs JSON lines on stderr (NETMON_LOG_FORMAT,
NETMON_LOG_LEVEL). It runs until SIGINT or SIGTERM, then finishes what it holds.

Exit codes: 0 stopped by a signal; 1 the stage failed; 2 usage or configuration.
`, DefaultHTTPAddr[stage])
}
