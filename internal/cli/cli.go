// Package cli is the operator's `netmon` command: start a run and follow it, watch the active
// run from any machine, list, show and compare runs, replay a run from stream history, prune,
// migrate and check, run the whole pipeline embedded, and the demo over a simulated network. It
// consumes the environment and the command line and produces text (or JSON with --json) on
// stdout, diagnostics on stderr, and an exit code (see Exit*).
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/audius-netmon/netmon/internal/config"
	"github.com/audius-netmon/netmon/internal/store"
)

// Exit codes.
const (
	ExitOK        = 0
	ExitRunFailed = 1 // the run failed or ended incomplete, or the operation failed
	ExitUsage     = 2 // bad command line or configuration
	ExitActive    = 3 // refused: another run is active
)

// IO is where the command reads its environment (os.Environ's form) and writes its output.
type IO struct {
	Environ []string
	Stdout  io.Writer
	Stderr  io.Writer
}

// isSet reports whether the environment sets name.
func (io IO) isSet(name string) bool {
	for _, kv := range io.Environ {
		if strings.HasPrefix(kv, name+"=") {
			return true
		}
	}
	return false
}

const usage = `netmon: network monitoring for the Audius network

Usage: netmon COMMAND [flags] [arguments]

Runs:
  run [--wait] [--embedded]      start a run now; with --wait, follow it to its end
  status [--watch]               the active run's progress, from any machine
  runs list                      the latest runs with their key ratios
  runs show RUN                  a run's metrics and per-node fetch health
  runs diff RUN_A RUN_B          the metrics and nodes that changed between two runs of one network
  runs trend [--metric M] [--network N] [--sp N]
                                 a metric over the last runs of its network
  replay RUN [--push]            rebuild a run's rows and metrics from stream history

Questions:
  user USER_ID|WALLET [--run N]  a user's replica set, each node's answer, its category and why
  cid CID [--run N]              a CID's expected holders, what each answered, its replication
  serve [--addr HOST:PORT]       the read-only web view and JSON API over the NM DB

Maintenance:
  prune [--keep N] [--older-than AGE] [--dry-run]
                                 delete old runs
  migrate                        apply the NM DB schema migrations
  check [--offline]              validate the configuration and reach every dependency

Other:
  demo                           a full run over a simulated network on a local Postgres
  help [COMMAND]                 this text, or a command's

Every command takes --help; status, runs, user, cid, replay, prune, migrate and check take
--json.
Configuration comes from the environment (docs/configuration.md); operating netmon is
described in docs/operations.md.

Exit codes:
  0  success
  1  the run failed or ended incomplete, or the operation failed (a dependency not
     reachable, no such run)
  2  usage or configuration error
  3  refused: another run is active (runs never overlap)
`

// commands maps a command line's first words to its handler.
var commands = map[string]func(ctx context.Context, args []string, io IO) int{
	"run":        runCmd,
	"status":     statusCmd,
	"runs list":  runsListCmd,
	"runs show":  runsShowCmd,
	"runs diff":  runsDiffCmd,
	"runs trend": runsTrendCmd,
	"user":       userCmd,
	"cid":        cidCmd,
	"serve":      serveCmd,
	"replay":     replayCmd,
	"prune":      pruneCmd,
	"migrate":    migrateCmd,
	"check":      checkCmd,
	"demo":       demoCmd,
}

// Main runs the command line args and returns the exit code.
func Main(ctx context.Context, args []string, io IO) int {
	if len(args) == 0 {
		fmt.Fprint(io.Stderr, usage)
		return ExitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			return Main(ctx, append(args[1:], "--help"), io)
		}
		fmt.Fprint(io.Stdout, usage)
		return ExitOK
	case "runs":
		if len(args) < 2 || strings.HasPrefix(args[1], "-") {
			if len(args) > 1 && isHelp(args[1]) {
				fmt.Fprint(io.Stdout, runsUsage)
				return ExitOK
			}
			fmt.Fprint(io.Stderr, runsUsage)
			return ExitUsage
		}
		if cmd, ok := commands["runs "+args[1]]; ok {
			return cmd(ctx, args[2:], io)
		}
		fmt.Fprintf(io.Stderr, "netmon: unknown command \"runs %s\"\n\n%s", args[1], runsUsage)
		return ExitUsage
	}
	if cmd, ok := commands[args[0]]; ok {
		return cmd(ctx, args[1:], io)
	}
	fmt.Fprintf(io.Stderr, "netmon: unknown command %q\n\n%s", args[0], usage)
	return ExitUsage
}

const runsUsage = `Usage: netmon runs list|show|diff|trend [flags] [arguments]

  runs list [--limit N]          the latest runs with their key ratios, newest first
  runs show RUN                  a run's metrics and per-node fetch health
  runs diff RUN_A RUN_B          the metrics and nodes that changed between two runs of one network
  runs trend [--metric M] [--network N] [--sp N]
                                 a metric over the last runs of its network

Each takes --json and --help.
`

// isHelp reports whether a is one of the ways to ask for help.
func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// flags is a command's flag set with its help text.
type flags struct {
	*flag.FlagSet
	synopsis string // after "netmon "
	help     string
	nargs    int // positional arguments required; -1 for any number
}

// newFlags is a command's flag set: its synopsis and help text for --help, and how many
// positional arguments it takes (parse checks).
func newFlags(name, synopsis, help string, nargs int) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {}
	return &flags{FlagSet: fs, synopsis: synopsis, help: help, nargs: nargs}
}

// parse parses args, flags and positional arguments in any order. When it returns ok false, the
// command is over with the returned code: help was printed (0) or the command line is wrong (2).
func (f *flags) parse(args []string, io IO) (pos []string, code int, ok bool) {
	f.SetOutput(io.Stderr)
	for {
		err := f.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(io.Stdout, "Usage: netmon %s\n\n%s", f.synopsis, f.help)
			if hasFlags(f.FlagSet) {
				fmt.Fprint(io.Stdout, "\nFlags:\n")
				f.SetOutput(io.Stdout)
				f.PrintDefaults()
			}
			return nil, ExitOK, false
		}
		if err != nil {
			return nil, f.usageError(io, ""), false
		}
		if f.NArg() == 0 {
			break
		}
		pos = append(pos, f.Arg(0))
		args = f.Args()[1:]
	}
	if f.nargs >= 0 && len(pos) != f.nargs {
		msg := fmt.Sprintf("want %d arguments, got %d", f.nargs, len(pos))
		if f.nargs == 1 {
			msg = fmt.Sprintf("want 1 argument, got %d", len(pos))
		}
		if f.nargs == 0 {
			msg = fmt.Sprintf("unexpected argument %q", pos[0])
		}
		return nil, f.usageError(io, msg), false
	}
	return pos, ExitOK, true
}

// usageError prints msg (if any), the synopsis and the hint to --help on stderr and returns
// ExitUsage.
func (f *flags) usageError(io IO, msg string) int {
	if msg != "" {
		fmt.Fprintf(io.Stderr, "netmon %s: %s\n", f.Name(), msg)
	}
	fmt.Fprintf(io.Stderr, "Usage: netmon %s\nRun 'netmon %s --help' for details.\n", f.synopsis, f.Name())
	return ExitUsage
}

// hasFlags reports whether fs defines any flag (its help then lists them).
func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// needs says which settings a command cannot do without.
type needs struct {
	nmDB, discovery bool
}

// loadConfig reads the configuration; on error it prints every problem and the command exits 2.
func loadConfig(io IO, n needs) (config.Config, bool) {
	cfg, err := config.LoadEnviron(io.Environ, os.ReadFile)
	var problems []string
	if err != nil {
		problems = append(problems, err.Error())
	}
	if n.nmDB {
		for _, name := range cfg.NMDB.Unset("DB_") {
			problems = append(problems, "  "+name+" is empty: the netmon database is not configured; set DB_HOST and DB_NAME (and DB_USERNAME, DB_PASSWORD), or NETMON_DB_URL")
		}
	}
	if n.discovery {
		for _, name := range cfg.DiscoveryDB.Unset("FDB_") {
			problems = append(problems, "  "+name+" is empty: the discovery database is not configured; set FDB_HOST and FDB_NAME, or NETMON_DISCOVERY_DB_URL")
		}
	}
	if len(problems) > 0 {
		fmt.Fprintf(io.Stderr, "configuration is invalid:\n%s\n", strings.Join(problems, "\n"))
		return cfg, false
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(io.Stderr, "warning: %s\n", w)
	}
	return cfg, true
}

// openStore opens the NM DB; migrate also applies pending migrations.
func openStore(ctx context.Context, cfg config.Config, migrate bool) (*store.Store, error) {
	st, err := store.Open(ctx, cfg.NMDB.ConnString(), 4)
	if err != nil {
		return nil, err
	}
	if err := st.Ping(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("nm db %s: %w", cfg.NMDB, err)
	}
	if migrate {
		if err := st.Migrate(ctx); err != nil {
			st.Close()
			return nil, err
		}
	}
	return st, nil
}

// fail prints err as the command's error and returns ExitRunFailed.
func fail(io IO, cmd string, err error) int {
	fmt.Fprintf(io.Stderr, "netmon %s: %v\n", cmd, err)
	return ExitRunFailed
}

// writeJSON writes v as indented JSON, the form of every --json output.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// timeout bounds a one-shot command.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}

// formatValue prints a metric value: an integer as one, anything else with 3 decimals.
func formatValue(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.3f", v)
}

// formatTime prints a time in UTC to the second, "-" for none.
func formatTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// formatInt prints an optional count, "-" while unknown.
func formatInt(p *int64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

// since formats the time from a to b (b nil: now) as a short duration.
func since(a time.Time, b *time.Time) string {
	end := time.Now()
	if b != nil {
		end = *b
	}
	d := end.Sub(a)
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
