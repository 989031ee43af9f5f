package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/audius-netmon/netmon/internal/config"
	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/report"
	"github.com/audius-netmon/netmon/internal/store"
)

const runsListHelp = `Lists the latest runs of the NM DB of both networks, newest first: the network (clocks or
storage), status, creation time, how long the run took, users, the key ratios, work items
(results loaded of those planned), the push of its metrics to the Pushgateway (pushed, pending
for how long, superseded by a newer run) and why a run failed or is incomplete. A clocks run's
ratios are the share of users fully synced, the user slots that got no answer and the share of
checked CIDs on no node of their replica set; a storage run's are the share of sampled keys
under-replicated (some expected holder did not answer present) and lost (none did). A column of
the other network is blank; a ratio is "-" for a run without it (failed, still loading, or
planned without CID checks).

Exit codes: 0 listed; 1 the NM DB failed; 2 usage or configuration.
`

// runsListCmd is `netmon runs list`: the newest runs with their headline ratios.
func runsListCmd(ctx context.Context, args []string, io IO) int {
	fs := newFlags("runs list", "runs list [--limit N] [--json]", runsListHelp, 0)
	limit := fs.Int("limit", 20, "at most this many runs")
	asJSON := fs.Bool("json", false, "print JSON (an array of runs with their ratios)")
	if _, code, ok := fs.parse(args, io); !ok {
		return code
	}
	ctx, cancel := withTimeout(ctx, time.Minute)
	defer cancel()
	st, code, ok := storeFor(ctx, io)
	if !ok {
		return code
	}
	defer st.Close()
	runs, err := report.Summaries(ctx, st, *limit)
	if err != nil {
		return fail(io, "runs list", err)
	}
	if *asJSON {
		if runs == nil {
			runs = []report.Summary{}
		}
		_ = writeJSON(io.Stdout, runs)
		return ExitOK
	}
	if len(runs) == 0 {
		fmt.Fprintln(io.Stdout, "no runs yet")
		return ExitOK
	}
	rows := [][]string{{"run", "network", "status", "created (UTC)", "took", "users", "fully synced", "missed slots", "unrepl. CIDs",
		"under-repl. keys", "lost keys", "work items", "push", "error"}}
	for _, r := range runs {
		took := "-"
		switch {
		case r.Seconds != nil:
			took = formatSeconds(*r.Seconds)
		case r.CompletedAt != nil:
			took = since(r.CreatedAt, r.CompletedAt)
		case !r.Status.Terminal():
			took = since(r.CreatedAt, nil) + " so far"
		}
		clocks := []string{formatInt(r.ExpectedUsers), percent(r.FullySynced), optValue(r.MissedSlots), percent(r.UnreplicatedCIDs), "", ""}
		if r.Network == lifecycle.Storage {
			clocks = []string{"", "", "", "", percent(r.UnderReplicatedKeys), percent(r.LostKeys)}
		}
		row := append([]string{fmt.Sprint(r.ID), string(r.Network), string(r.Status), formatTime(&r.CreatedAt), took}, clocks...)
		rows = append(rows, append(row, fmt.Sprintf("%d/%s", r.LoadedResults, formatInt(r.ExpectedItems)), pushShort(r.Run), shorten(r.Error, 60)))
	}
	tw := tabwriter.NewWriter(io.Stdout, 0, 4, 2, ' ', 0)
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	return ExitOK
}

// pushShort is the push state of a run in a word or two: "pushed", "pending 3m", "superseded",
// "-" for a run without metrics.
func pushShort(r store.Run) string {
	switch r.Push {
	case lifecycle.PushPending:
		if r.PushPendingSince != nil {
			return "pending " + since(*r.PushPendingSince, nil)
		}
		return "pending"
	case lifecycle.PushNone:
		return "-"
	}
	return string(r.Push)
}

// pushLine says in a sentence where a run's metrics are, for status and runs show; "" for a run
// without metrics.
func pushLine(r store.Run) string {
	switch r.Push {
	case lifecycle.PushPending:
		s := "pending"
		if r.PushPendingSince != nil {
			s += fmt.Sprintf(" since %s UTC (%s)", formatTime(r.PushPendingSince), since(*r.PushPendingSince, nil))
		}
		if r.PushAttempts > 0 {
			s += fmt.Sprintf(", %d failed attempts, last: %s", r.PushAttempts, shortenMiddle(r.PushError, 160))
		}
		return s + "; retried until the Pushgateway takes it"
	case lifecycle.Pushed:
		if r.PushedAt != nil {
			return fmt.Sprintf("pushed %s UTC", formatTime(r.PushedAt))
		}
		return "pushed"
	case lifecycle.PushSuperseded:
		return "superseded: a newer run's metrics were pushed instead"
	}
	return ""
}

// percent formats a share (0..1) as a percentage with one decimal, "-" when missing.
func percent(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", *v*100)
}

// formatSeconds formats seconds as a short duration (1.6s, 2m5s).
func formatSeconds(s float64) string {
	start := time.Unix(0, 0)
	end := start.Add(time.Duration(s * float64(time.Second)))
	return since(start, &end)
}

// storeFor loads the configuration a command reading the NM DB needs and opens it. When ok is
// false the command is over with code (the problem is printed).
func storeFor(ctx context.Context, io IO) (st *store.Store, code int, ok bool) {
	cfg, ok := loadConfig(io, needs{nmDB: true})
	if !ok {
		return nil, ExitUsage, false
	}
	st, err := openStore(ctx, cfg, false)
	if err != nil {
		fmt.Fprintf(io.Stderr, "netmon: %v\n", err)
		return nil, ExitRunFailed, false
	}
	return st, ExitOK, true
}

// shortenMiddle keeps the start and the end of s (an error's cause is at its end).
func shortenMiddle(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n/3] + "…" + s[len(s)-(n-n/3-1):]
}

// shorten cuts s longer than n bytes to its first n-1 and "…".
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

const runsShowHelp = `Shows one run: its row (status, times, what the planner promised and what was loaded), its
network-wide metrics, and one line per content node with the node's metrics and its fetch
health from fetch_results: work items by outcome (ok, timeout, refused, http_error, ...) and
the mean time per item. A node without any result says "no result".

Exit codes: 0 shown; 1 no such run, or the NM DB failed; 2 usage or configuration.
`

// runsShowCmd is `netmon runs show`: one run, its nodes and its failures.
func runsShowCmd(ctx context.Context, args []string, io IO) int {
	fs := newFlags("runs show", "runs show [--json] RUN", runsShowHelp, 1)
	asJSON := fs.Bool("json", false, "print JSON: the run, its metrics and its nodes")
	pos, code, ok := fs.parse(args, io)
	if !ok {
		return code
	}
	run, err := parseRun(pos[0])
	if err != nil {
		return fs.usageError(io, err.Error())
	}
	ctx, cancel := withTimeout(ctx, time.Minute)
	defer cancel()
	st, code, ok := storeFor(ctx, io)
	if !ok {
		return code
	}
	defer st.Close()
	if *asJSON {
		v, err := report.Run(ctx, st, run)
		if err != nil {
			return fail(io, "runs show", err)
		}
		_ = writeJSON(io.Stdout, v)
		return ExitOK
	}
	if err := showRun(ctx, st, run, io.Stdout); err != nil {
		return fail(io, "runs show", err)
	}
	return ExitOK
}

// parseRun parses a run id argument (a positive integer).
func parseRun(s string) (int64, error) {
	run, err := strconv.ParseInt(s, 10, 64)
	if err != nil || run <= 0 {
		return 0, fmt.Errorf("run %q: want a run id (a positive number, see `netmon runs list`)", s)
	}
	return run, nil
}

// nodeSource says where the run's content-node list came from ("" when not recorded).
func nodeSource(r store.Run) string {
	if r.NodeSource == nil {
		return ""
	}
	block := func(format string) string {
		if r.NodeSourceBlock == nil {
			return ""
		}
		return fmt.Sprintf(format, *r.NodeSourceBlock)
	}
	switch *r.NodeSource {
	case config.SourceDiscovery:
		return "from discovery's ursm_content_nodes" + block(" at block %d")
	case config.SourceStatic:
		return "from the static list (NETMON_CONTENT_NODES)"
	case config.SourceEthereum:
		s := "from the Ethereum registry"
		if r.NodeRegistry != nil {
			s += " " + *r.NodeRegistry
		}
		return s + block(" at Ethereum block %d")
	}
	return "from " + *r.NodeSource + block(" at block %d")
}

// showRun prints the run's row, its network-wide metrics, and a line per node.
func showRun(ctx context.Context, st *store.Store, run int64, out io.Writer) error {
	v, err := report.Run(ctx, st, run)
	if err != nil {
		return err
	}
	r := v.Run
	fmt.Fprintf(out, "run %d  %s%s\n", r.ID, r.Status, reasonSuffix(r.Error))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if r.Network != lifecycle.Clocks {
		fmt.Fprintf(tw, "  network\t%s\n", r.Network)
	}
	fmt.Fprintf(tw, "  created\t%s UTC\n", formatTime(&r.CreatedAt))
	if r.BlockNumber != nil && r.Network == lifecycle.Clocks {
		fmt.Fprintf(tw, "  block\t%d (discovery's chain head at the snapshot)\n", *r.BlockNumber)
	}
	if src := nodeSource(r); src != "" {
		fmt.Fprintf(tw, "  nodes\t%s\n", src)
	}
	if r.Deadline != nil {
		fmt.Fprintf(tw, "  deadline\t%s UTC\n", formatTime(r.Deadline))
	}
	if r.LoadedAt != nil {
		fmt.Fprintf(tw, "  loaded\t%s UTC, after %s\n", formatTime(r.LoadedAt), since(r.CreatedAt, r.LoadedAt))
	}
	if r.CompletedAt != nil {
		fmt.Fprintf(tw, "  ended\t%s UTC, after %s\n", formatTime(r.CompletedAt), since(r.CreatedAt, r.CompletedAt))
	}
	if r.ExpectedItems != nil && r.Network == lifecycle.Storage {
		fmt.Fprintf(tw, "  planned\t%s nodes, %s work items\n", formatInt(r.ExpectedNodes), formatInt(r.ExpectedItems))
	} else if r.ExpectedItems != nil {
		fmt.Fprintf(tw, "  planned\t%s users in %s batches, %s content nodes, %s work items (%s wallet checks)\n",
			formatInt(r.ExpectedUsers), formatInt(r.ExpectedUserBatches), formatInt(r.ExpectedNodes),
			formatInt(r.ExpectedItems), formatInt(r.ExpectedChecks))
	}
	fmt.Fprintf(tw, "  written\t%d/%s results, %d/%s user batches\n", r.LoadedResults, formatInt(r.ExpectedItems),
		r.LoadedUserBatches, formatInt(r.ExpectedUserBatches))
	if p := pushLine(r); p != "" {
		fmt.Fprintf(tw, "  push\t%s\n", p)
	}
	tw.Flush()

	if len(v.Metrics) > 0 {
		fmt.Fprintln(out)
		printMetrics(out, v.Metrics)
	}
	if len(v.Nodes) == 0 {
		return nil
	}
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "sp_id\tendpoint")
	for _, c := range report.NodeColumnsOf(r.Network) {
		fmt.Fprintf(tw, "\t%s", c.Title)
	}
	fmt.Fprintln(tw, "\titems\tfetch health\ts/item")
	for _, n := range v.Nodes {
		fmt.Fprintf(tw, "%d\t%s", n.SPID, shownEndpoint(n.Endpoint))
		for _, c := range report.NodeColumnsOf(r.Network) {
			val, ok := n.Metrics[c.Name]
			if ok {
				fmt.Fprintf(tw, "\t%s", formatValue(val))
			} else {
				fmt.Fprint(tw, "\t-")
			}
		}
		secs := "-"
		if n.Items > 0 {
			secs = fmt.Sprintf("%.3f", n.MeanSeconds)
		}
		fmt.Fprintf(tw, "\t%d\t%s\t%s\n", n.Items, report.Outcomes(n.NodeHealth), secs)
	}
	return tw.Flush()
}

// printMetrics prints network-wide series as name (left) and value (right aligned).
func printMetrics(out io.Writer, samples []store.Sample) {
	width, vw := len("metric"), len("value")
	for _, s := range samples {
		width = max(width, len(strings.TrimPrefix(s.Name, "audius_nm_")))
		vw = max(vw, len(formatValue(s.Value)))
	}
	fmt.Fprintf(out, "%-*s  %*s\n", width, "metric", vw, "value")
	for _, s := range samples {
		fmt.Fprintf(out, "%-*s  %*s\n", width, strings.TrimPrefix(s.Name, "audius_nm_"), vw, formatValue(s.Value))
	}
}

// shownEndpoint is an endpoint as the tables show it: "" quoted, so an empty one is visible.
func shownEndpoint(ep string) string {
	if ep == "" {
		return `""`
	}
	return ep
}

const runsDiffHelp = `Compares two runs: every metric series whose value changed, matched by its name and every
label (per node by SP id, and lag, replicas, nodes, stage, kind and outcome), and every content
node whose fetch health changed, that joined or that left. Both runs must be of one network
(clocks or storage): their metrics are different series. Two runs of the same network state give
an empty diff: timing series (durations, timestamps, the run id) change by nature and are left
out unless --all is given.

Exit codes: 0 compared (whether or not anything changed); 1 no such run, or the NM DB failed;
2 usage or configuration, or runs of two networks.
`

// runsDiffCmd is `netmon runs diff`: what changed between two runs' metrics and nodes.
func runsDiffCmd(ctx context.Context, args []string, io IO) int {
	fs := newFlags("runs diff", "runs diff [--all] [--json] RUN_A RUN_B", runsDiffHelp, 2)
	all := fs.Bool("all", false, "include timing series and the run id")
	asJSON := fs.Bool("json", false, "print JSON: both runs, the changed metrics and nodes")
	pos, code, ok := fs.parse(args, io)
	if !ok {
		return code
	}
	var runs [2]int64
	for i, p := range pos {
		r, err := parseRun(p)
		if err != nil {
			return fs.usageError(io, err.Error())
		}
		runs[i] = r
	}
	return lookup(ctx, io, fs, "runs diff", func(ctx context.Context, st *store.Store) (any, textFunc, error) {
		d, err := report.DiffRuns(ctx, st, runs[0], runs[1], *all)
		return d, func(w writer) { printDiff(w, d) }, err
	}, *asJSON)
}

// printDiff prints a diff as text.
func printDiff(out io.Writer, d report.Diff) {
	head := func(r store.Run) string {
		return fmt.Sprintf("run %d (%s, %s UTC)", r.ID, r.Status, formatTime(&r.CreatedAt))
	}
	fmt.Fprintf(out, "%s runs: %s → %s\n\n", d.A.Network, head(d.A), head(d.B))
	if len(d.Metrics) == 0 {
		fmt.Fprintln(out, "no metric changed")
	} else {
		rows := [][]string{{"metric", "labels", fmt.Sprintf("run %d", d.A.ID), fmt.Sprintf("run %d", d.B.ID), "change"}}
		for _, c := range d.Metrics {
			change := "-"
			if c.Delta != nil {
				change = formatValue(*c.Delta)
				if *c.Delta > 0 {
					change = "+" + change
				}
			}
			rows = append(rows, []string{report.ShortName(c.Name), report.LabelText(c.Labels), optValue(c.A), optValue(c.B), change})
		}
		printAligned(out, rows, 2)
	}
	fmt.Fprintln(out)
	if len(d.Nodes) == 0 {
		fmt.Fprintln(out, "no node changed")
		return
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "sp_id\tchange\tendpoint\trun %d\trun %d\n", d.A.ID, d.B.ID)
	for _, n := range d.Nodes {
		ep := shownEndpoint(n.EndpointB)
		switch n.Change {
		case "left":
			ep = shownEndpoint(n.EndpointA)
		case "endpoint":
			ep = shownEndpoint(n.EndpointA) + " → " + shownEndpoint(n.EndpointB)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", n.SPID, n.Change, ep, dash(n.HealthA), dash(n.HealthB))
	}
	tw.Flush()
}

// dash is s, or "-" when s is empty.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// optValue formats a value that may be missing as "-".
func optValue(v *float64) string {
	if v == nil {
		return "-"
	}
	return formatValue(*v)
}

// printAligned prints rows as columns: the first left columns left-aligned, the others
// right-aligned.
func printAligned(out io.Writer, rows [][]string, left int) {
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-len([]rune(c)))
			switch {
			case i == 0:
				b.WriteString(c + pad)
			case i < left:
				b.WriteString("  " + c + pad)
			default:
				b.WriteString("  " + pad + c)
			}
		}
		fmt.Fprintln(out, strings.TrimRight(b.String(), " "))
	}
}
