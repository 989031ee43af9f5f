// Package bench measures netmon at network scale (issue 7). It consumes a plan of runs (network
// sizes, content-node latency, fetcher processes, NETMON_* knobs) and produces, for each, a
// complete monitoring run over simnet through the four stage binaries as separate processes
// against a separate nats-server process, measured from the run request to the "complete" event
// (metrics pushed): per-stage windows and throughput, each stage process's peak RSS (VmHWM) and
// CPU time, the NM DB's size, and a check of every pushed value against simnet's ground truth.
// Next to each run it measures the machine's ceilings for the same work (pgx COPY into the same
// tables, JetStream publish/consume of messages of the same size, the simulated content nodes'
// requests/s) and, when asked, CPU and heap profiles of every stage.
//
// The simulated content nodes run inside the bench process; discovery seeding happens before a
// run starts and is reported separately. The package talks to Postgres with pgx directly, outside
// package store, on purpose: a ceiling must be the driver's, not netmon's code.
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/rs/zerolog"

	"github.com/audius-netmon/netmon/internal/config"
	"github.com/audius-netmon/netmon/internal/stage"
)

// Options configure a bench invocation.
type Options struct {
	BinDir     string // the stage binaries (netmon-planner, ...), as `make build` leaves them
	Self       string // this executable, re-run as `stage` for profiled runs
	NATSServer string // nats-server ≥ 2.10 binary
	Pushgate   string // Pushgateway binary
	Postgres   string // admin URL; the bench (re)creates netmon_bench_* databases there
	OutDir     string // results.md, results.json and profiles/
	Repeat     int    // runs per measurement (best and spread are reported)
	RunTimeout time.Duration
	Plan       []Spec
	// Source is where the runs read the content-node list: config.SourceDiscovery (or empty) or
	// config.SourceEthereum, simnet's fake registry of the same nodes.
	Source string
}

// Run measures every spec of the plan in order and writes the report to out and to OutDir.
func Run(ctx context.Context, o Options, out io.Writer, log zerolog.Logger) error {
	if o.Repeat < 1 {
		o.Repeat = 1
	}
	if o.RunTimeout <= 0 {
		o.RunTimeout = 20 * time.Minute
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return err
	}
	version, err := natsVersion(o.NATSServer)
	if err != nil {
		return err
	}
	pg, err := startPushgateway(ctx, o.Pushgate)
	if err != nil {
		return err
	}
	defer pg.Stop(5 * time.Second)
	r := &runner{opts: o, log: log, pushgateway: pg.url}
	defer r.closeNetwork()

	rep := &Report{Machine: machine(), NATS: version, Started: time.Now().UTC()}
	for _, spec := range o.Plan {
		reps := o.Repeat
		if spec.Profile {
			reps = 1
		}
		for i := range reps {
			fmt.Fprintf(out, "%s: run %d/%d ...\n", spec.Name, i+1, reps)
			res, err := r.run(ctx, spec)
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("%s: %w", spec.Name, err)
				}
				// A run that fails is a finding (a knob value that breaks a run); record it and go on.
				fmt.Fprintf(out, "%s: FAILED: %v\n", spec.Name, err)
				rep.Failed = append(rep.Failed, Failure{Name: spec.Name, Env: spec.Env, Error: err.Error()})
				break
			}
			fmt.Fprintf(out, "%s: %s\n", spec.Name, res.Line())
			rep.Results = append(rep.Results, res)
		}
		if err := rep.Write(o.OutDir); err != nil {
			return err
		}
	}
	rep.Finished = time.Now().UTC()
	if err := rep.Profiles(o.OutDir); err != nil {
		return err
	}
	if err := rep.Write(o.OutDir); err != nil {
		return err
	}
	return rep.Markdown(out)
}

// ServeStage runs one stage exactly as its binary does (stage.Serve), with a CPU profile written
// to prefix.cpu.pprof while it runs and a heap profile to prefix.heap.pprof when it stops.
func ServeStage(ctx context.Context, name, prefix string, environ []string, stderr io.Writer) error {
	runs := map[string]func(context.Context, stage.Deps) error{
		"planner": stage.RunPlanner, "fetcher": stage.RunFetcher,
		"loader": stage.RunLoader, "aggregator": stage.RunAggregator,
	}
	run, ok := runs[name]
	if !ok {
		return fmt.Errorf("unknown stage %q", name)
	}
	if prefix != "" {
		if err := os.MkdirAll(filepath.Dir(prefix), 0o755); err != nil {
			return err
		}
		f, err := os.Create(prefix + ".cpu.pprof")
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			if h, err := os.Create(prefix + ".heap.pprof"); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(h, 0)
				h.Close()
			}
		}()
	}
	return stage.Serve(ctx, config.Stage(name), environ, stderr, run)
}
