package cli

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"
)

const pruneHelp = `Deletes old runs from the NM DB: every run but the newest --keep ones with metrics (a failed
run holds no data and does not count; it goes once it is older than every kept run) and, with
--older-than, every run created longer ago than that. The newest run and an active run are
always kept. Each run's
partitions are detached concurrently before they are dropped, so pruning never blocks the
loading of the current run. The aggregator prunes the same way after every run, with
NETMON_RETENTION_RUNS and NETMON_RETENTION_AGE, which are the defaults here. Stream history
(for replay) is not touched: it expires after NETMON_STREAM_MAX_AGE.

Exit codes: 0 pruned (or, with --dry-run, listed); 1 the NM DB failed; 2 usage or configuration.
`

// pruneCmd is `netmon prune`: deletes the runs the retention settings (or its flags) no longer
// keep, or lists them with --dry-run; it returns the exit code.
func pruneCmd(ctx context.Context, args []string, io IO) int {
	fs := newFlags("prune", "prune [--keep N] [--older-than AGE] [--dry-run] [--json]", pruneHelp, 0)
	keep := fs.Int("keep", 0, "keep the newest N runs with metrics (default NETMON_RETENTION_RUNS)")
	olderThan := fs.Duration("older-than", 0, "also delete runs created longer ago than this, e.g. 720h; 0 is off (default NETMON_RETENTION_AGE)")
	dryRun := fs.Bool("dry-run", false, "only list the runs that would be deleted")
	asJSON := fs.Bool("json", false, `print JSON: {"runs": [...], "dry_run": bool}`)
	if _, code, ok := fs.parse(args, io); !ok {
		return code
	}
	cfg, ok := loadConfig(io, needs{nmDB: true})
	if !ok {
		return ExitUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["keep"] {
		*keep = cfg.RetentionRuns
	}
	if *keep < 1 {
		return fs.usageError(io, "--keep must be at least 1")
	}
	if !set["older-than"] {
		*olderThan = cfg.RetentionAge
	}
	ctx, cancel := withTimeout(ctx, 10*time.Minute)
	defer cancel()
	st, err := openStore(ctx, cfg, false)
	if err != nil {
		return fail(io, "prune", err)
	}
	defer st.Close()
	var runs []int64
	if *dryRun {
		runs, err = st.PruneCandidates(ctx, *keep, *olderThan)
	} else {
		runs, err = st.Prune(ctx, *keep, *olderThan)
	}
	if err != nil {
		return fail(io, "prune", err)
	}
	if runs == nil {
		runs = []int64{}
	}
	if *asJSON {
		_ = writeJSON(io.Stdout, map[string]any{"runs": runs, "dry_run": *dryRun})
		return ExitOK
	}
	rule := fmt.Sprintf("keeping the newest %d", *keep)
	if *olderThan > 0 {
		rule += fmt.Sprintf(" and none older than %s", *olderThan)
	}
	switch {
	case len(runs) == 0:
		fmt.Fprintf(io.Stdout, "nothing to prune (%s)\n", rule)
	case *dryRun:
		fmt.Fprintf(io.Stdout, "would delete %d runs (%s): %v\n", len(runs), rule, runs)
	default:
		fmt.Fprintf(io.Stdout, "deleted %d runs (%s): %v\n", len(runs), rule, runs)
	}
	return ExitOK
}

const migrateHelp = `Applies the NM DB schema migrations that are not applied yet, in order, each in its own
transaction, and lists every migration with the time it was applied. Every stage migrates at
start too; this is for preparing a database before, or checking one. Safe to run while
stages run (migrators take an advisory lock).

Exit codes: 0 the schema is up to date; 1 the NM DB failed or a migration failed; 2 usage or
configuration.
`

// migrateCmd is `netmon migrate`: applies the NM DB's pending migrations and lists them all.
func migrateCmd(ctx context.Context, args []string, io IO) int {
	fs := newFlags("migrate", "migrate [--json]", migrateHelp, 0)
	asJSON := fs.Bool("json", false, "print JSON: the migrations with applied_at")
	if _, code, ok := fs.parse(args, io); !ok {
		return code
	}
	cfg, ok := loadConfig(io, needs{nmDB: true})
	if !ok {
		return ExitUsage
	}
	ctx, cancel := withTimeout(ctx, 10*time.Minute)
	defer cancel()
	st, err := openStore(ctx, cfg, false)
	if err != nil {
		return fail(io, "migrate", err)
	}
	defer st.Close()
	before, err := st.Migrations(ctx)
	if err != nil {
		return fail(io, "migrate", err)
	}
	if err := st.Migrate(ctx); err != nil {
		return fail(io, "migrate", err)
	}
	after, err := st.Migrations(ctx)
	if err != nil {
		return fail(io, "migrate", err)
	}
	if *asJSON {
		_ = writeJSON(io.Stdout, after)
		return ExitOK
	}
	applied := 0
	tw := tabwriter.NewWriter(io.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "migration\tapplied (UTC)\t")
	for i, m := range after {
		note := ""
		if before[i].AppliedAt == nil {
			note = "now"
			applied++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", m.Name, formatTime(m.AppliedAt), note)
	}
	tw.Flush()
	fmt.Fprintf(io.Stdout, "schema up to date: %d migrations, %d applied now\n", len(after), applied)
	return ExitOK
}
