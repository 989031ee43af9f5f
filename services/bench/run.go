package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/audius-netmon/netmon/internal/bench"
	"github.com/audius-netmon/netmon/internal/config"
)

func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "stage" {
		fs := flag.NewFlagSet("netmon-bench stage", flag.ContinueOnError)
		fs.SetOutput(stderr)
		profile := fs.String("profile", "", "write PREFIX.cpu.pprof and PREFIX.heap.pprof")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return fmt.Errorf("usage: netmon-bench stage [-profile PREFIX] planner|fetcher|loader|aggregator")
		}
		return bench.ServeStage(ctx, fs.Arg(0), *profile, environ, stderr)
	}

	fs := flag.NewFlagSet("netmon-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	binDir := fs.String("bin", "bin", "directory of the stage binaries (make build)")
	natsBin := fs.String("nats-server", "", "nats-server binary, 2.10 or newer (default: $GOPATH/bin/nats-server, then PATH)")
	pushBin := fs.String("pushgateway", "", "Pushgateway binary (default: prometheus-pushgateway or pushgateway on PATH)")
	postgres := fs.String("postgres", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"admin URL of the Postgres server; netmon_bench_discovery and netmon_bench_nm are recreated there")
	out := fs.String("out", "bench-results", "directory for results.md, results.json and profiles/")
	groups := fs.String("groups", strings.Join(bench.Groups, ","), "measurements to make: "+strings.Join(bench.Groups, ","))
	sizes := fs.String("sizes", "10000,100000,1000000", "users per size run")
	nodes := fs.Int("nodes", 50, "content nodes")
	scaleUsers := fs.Int("scale-users", 200000, "users of the fetcher scale-out runs")
	knobUsers := fs.Int("knob-users", 1000000, "users of the tuning-knob runs")
	hungUsers := fs.String("hung-users", "20000,200000", "users of the hung-node runs (comma-separated)")
	prodSizes := fs.String("prod-sizes", "20000,100000,300000,1000000", "users of the production-shaped runs (comma-separated)")
	latency := fs.Duration("latency", 20*time.Millisecond, "content-node latency of the scale-out runs")
	storageKeys := fs.Int("storage-keys", 10_000_000, "keys in the storage run's discovery database (about)")
	storageSample := fs.Int("storage-sample", 100_000, "keys the storage run samples")
	storageNodes := fs.Int("storage-nodes", 100, "nodes of the storage run's network")
	repeat := fs.Int("repeat", 2, "runs per measurement (best and range are reported)")
	timeout := fs.Duration("run-timeout", 20*time.Minute, "give up on one run after this long")
	only := fs.String("only", "", "measure only the runs whose name matches this regular expression")
	source := fs.String("source", config.SourceDiscovery, "where runs read the content-node list: discovery, or ethereum (simnet's fake registry)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	users, err := positiveInts("-sizes", *sizes)
	if err != nil {
		return err
	}
	if *source != config.SourceDiscovery && *source != config.SourceEthereum {
		return fmt.Errorf("-source %q: want discovery or ethereum", *source)
	}
	o := bench.Options{BinDir: *binDir, Postgres: *postgres, OutDir: *out, Repeat: *repeat, RunTimeout: *timeout, Source: *source}
	if o.Self, err = os.Executable(); err != nil {
		return err
	}
	gopath := ""
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "GOPATH="); ok {
			gopath = v
		}
		if v, ok := strings.CutPrefix(kv, "HOME="); ok && gopath == "" {
			gopath = filepath.Join(v, "go")
		}
	}
	if o.NATSServer = *natsBin; o.NATSServer == "" {
		if o.NATSServer, err = bench.FindBinary(filepath.Join(gopath, "bin"), "nats-server"); err != nil {
			return err
		}
	}
	if o.Pushgate = *pushBin; o.Pushgate == "" {
		if o.Pushgate, err = bench.FindBinary("", "prometheus-pushgateway"); err != nil {
			if o.Pushgate, err = bench.FindBinary("", "pushgateway"); err != nil {
				return err
			}
		}
	}
	hung, err := positiveInts("-hung-users", *hungUsers)
	if err != nil {
		return err
	}
	prod, err := positiveInts("-prod-sizes", *prodSizes)
	if err != nil {
		return err
	}
	o.Plan = bench.DefaultPlan(bench.PlanOptions{Groups: strings.Split(*groups, ","), Sizes: users, Nodes: *nodes,
		ScaleUsers: *scaleUsers, KnobUsers: *knobUsers, HungUsers: hung, ProdSizes: prod, Latency: *latency,
		StorageKeys: *storageKeys, StorageSample: *storageSample, StorageNodes: *storageNodes})
	if *only != "" {
		re, err := regexp.Compile(*only)
		if err != nil {
			return fmt.Errorf("-only: %w", err)
		}
		var keep []bench.Spec
		for _, s := range o.Plan {
			if re.MatchString(s.Name) {
				keep = append(keep, s)
			}
		}
		o.Plan = keep
	}
	if len(o.Plan) == 0 {
		return fmt.Errorf("-groups %q: nothing to measure", *groups)
	}
	log := zerolog.New(stderr).With().Timestamp().Str("stage", "bench").Logger()
	return bench.Run(ctx, o, stdout, log)
}

// positiveInts parses a comma-separated list of positive numbers (flag's values).
func positiveInts(flag, list string) ([]int, error) {
	var out []int
	for _, s := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%s: %q is not a positive number", flag, s)
		}
		out = append(out, n)
	}
	return out, nil
}
