package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/report"
	"github.com/audius-netmon/netmon/internal/store"
)

const userHelp = `Answers "why is this user unsynced?" for one user of a run (by default the newest run with
data): its replica set, what each node answered (its clock; -1 the node does not know the
wallet; -2 no answer, with the outcome and error of the work item that asked), the sync
category the user fell in and why, the other counts it is in, and the same user over the last
runs. A wallet (0x...) is matched as the run matches answers (any case).

Exit codes: 0 shown; 1 no such run or user, or the NM DB failed; 2 usage or configuration.
`

// userCmd is `netmon user`: why one user of a run is (un)synced: its replica set and each
// node's answer.
func userCmd(ctx context.Context, args []string, io IO) int {
	fs := newFlags("user", "user [--run N] [--json] USER_ID|WALLET", userHelp, 1)
	run := fs.Int64("run", 0, "the run to look in (default: the newest run with data)")
	asJSON := fs.Bool("json", false, "print JSON: the run, the user's slots with their answers and work items, its category and history")
	pos, code, ok := fs.parse(args, io)
	if !ok {
		return code
	}
	return lookup(ctx, io, fs, "user", func(ctx context.Context, st *store.Store) (any, textFunc, error) {
		v, err := report.User(ctx, st, pos[0], *run)
		return v, func(w writer) { printUser(w, v) }, err
	}, *asJSON)
}

const cidHelp = `Shows one CID in a run (by default the newest run with data): every row of the run's CID
snapshot that carries it (a CID can belong to several users or tracks), its expected holders
(the owner's replica set), what each node answered (holds it, does not, or no answer with the
outcome and error of the work item that asked), and how many hold it. A run that sampled its
CIDs (NETMON_CID_CHECKS=sample) knows only the CIDs of its sample.

With --network storage it shows a blob key in a storage run (by default the newest one with
data): every node of the run in the key's sha256 ranking, the R the plan gave each, which should
hold it (rank below its R, or named in the upload's placement_hosts), and what each node asked
said (present, absent, unknown: a 500, no answer, or not asked). A run that sampled its keys
knows only the keys of its sample.

Exit codes: 0 shown; 1 no such run, the CID is not in it, or the NM DB failed; 2 usage or
configuration.
`

// cidCmd is `netmon cid`: one CID of a run, its expected holders and each node's answer.
func cidCmd(ctx context.Context, args []string, io IO) int {
	fs := newFlags("cid", "cid [--network clocks|storage] [--run N] [--json] CID", cidHelp, 1)
	networkName := fs.String("network", string(lifecycle.Clocks), "clocks: the CID in a clocks run's CID checks; storage: the key in a storage run's sample")
	run := fs.Int64("run", 0, "the run to look in (default: the newest run of the network with data)")
	asJSON := fs.Bool("json", false, "print JSON: the run and the CID's rows with their holders' answers")
	pos, code, ok := fs.parse(args, io)
	if !ok {
		return code
	}
	network, err := lifecycle.ParseNetwork(*networkName)
	if err != nil {
		fmt.Fprintf(io.Stderr, "netmon cid: --network: %v\n", err)
		return ExitUsage
	}
	if network == lifecycle.Storage {
		return lookup(ctx, io, fs, "cid", func(ctx context.Context, st *store.Store) (any, textFunc, error) {
			v, err := report.StorageKey(ctx, st, pos[0], *run)
			return v, func(w writer) { printStorageKey(w, v) }, err
		}, *asJSON)
	}
	return lookup(ctx, io, fs, "cid", func(ctx context.Context, st *store.Store) (any, textFunc, error) {
		v, err := report.CID(ctx, st, pos[0], *run)
		return v, func(w writer) { printCID(w, v) }, err
	}, *asJSON)
}

const runsTrendHelp = `Shows a metric over the last runs of one network, oldest first: one line per series
(restricted to one content node with --sp), its value in each run, and a sparkline. Series that
are 0 in every run are left out (and counted). The metric is any stored series name, with or
without its audius_nm_ prefix (default fully_synced_user_count). The runs are those of the
metric's network: storage runs for the storage_ metrics, clocks runs for the others; --network
says it explicitly, and a metric of the other network is a usage error.

Exit codes: 0 shown; 1 the NM DB failed; 2 usage, configuration, or an unknown metric.
`

// runsTrendCmd is `netmon runs trend`: one stored metric's series across the last runs.
func runsTrendCmd(ctx context.Context, args []string, io IO) int {
	fs := newFlags("runs trend", "runs trend [--metric M] [--network clocks|storage] [--sp N] [--limit N] [--json]", runsTrendHelp, 0)
	metric := fs.String("metric", "fully_synced_user_count", "the metric")
	networkFlag := fs.String("network", "", "the runs' network, clocks or storage (default: the metric's)")
	sp := fs.Int64("sp", 0, "only the series of this content node (SP id)")
	limit := fs.Int("limit", 10, "this many runs")
	asJSON := fs.Bool("json", false, "print JSON: the runs and the series' values")
	if _, code, ok := fs.parse(args, io); !ok {
		return code
	}
	var network lifecycle.Network
	if *networkFlag != "" {
		n, err := lifecycle.ParseNetwork(*networkFlag)
		if err != nil {
			return fs.usageError(io, err.Error())
		}
		network = n
	}
	spText := ""
	if *sp > 0 {
		spText = fmt.Sprint(*sp)
	}
	return lookup(ctx, io, fs, "runs trend", func(ctx context.Context, st *store.Store) (any, textFunc, error) {
		v, err := report.TrendOf(ctx, st, network, *metric, spText, *limit)
		return v, func(w writer) { printTrend(w, v) }, err
	}, *asJSON)
}

// textFunc prints a view as text.
type textFunc func(writer)

// writer is io.Writer, for functions whose IO parameter hides package io.
type writer = io.Writer

// lookup runs a read-only view against the NM DB and prints it as text or JSON. A bad argument
// (report.ErrUsage) exits 2, anything not found or failing 1.
func lookup(ctx context.Context, io IO, fs *flags, name string,
	view func(context.Context, *store.Store) (any, textFunc, error), asJSON bool) int {
	ctx, cancel := withTimeout(ctx, time.Minute)
	defer cancel()
	st, code, ok := storeFor(ctx, io)
	if !ok {
		return code
	}
	defer st.Close()
	v, text, err := view(ctx, st)
	if errors.Is(err, report.ErrUsage) {
		return fs.usageError(io, err.Error())
	}
	if err != nil {
		return fail(io, name, err)
	}
	if asJSON {
		_ = writeJSON(io.Stdout, v)
	} else {
		text(io.Stdout)
	}
	return ExitOK
}

// runHead names a run in the lookups: its id, status and creation time (UTC).
func runHead(r store.Run) string {
	return fmt.Sprintf("run %d (%s, %s UTC)", r.ID, r.Status, formatTime(&r.CreatedAt))
}

// printUser prints a user view as text.
func printUser(out io.Writer, v report.UserView) {
	wallet := "none"
	if v.Wallet != nil {
		wallet = *v.Wallet
	}
	fmt.Fprintf(out, "user %d in %s\n", v.UserID, runHead(v.Run))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  wallet\t%s\n", wallet)
	if v.SameWallet > 1 {
		fmt.Fprintf(tw, "  \t(%d users of the run hold this wallet; this is the lowest id)\n", v.SameWallet)
	}
	if v.ReplicaSet != nil {
		fmt.Fprintf(tw, "  replica set\t%s\n", *v.ReplicaSet)
	}
	fmt.Fprintf(tw, "  category\t%s\n", report.CategoryName(v.Category, v.Built))
	fmt.Fprintf(tw, "  why\t%s\n", v.Why)
	for _, n := range v.Notes {
		fmt.Fprintf(tw, "  \t%s\n", n)
	}
	tw.Flush()
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "slot\tsp_id\tendpoint\tanswer")
	for i, s := range v.Slots {
		sp, ep := "-", "-"
		if s.SPID != nil {
			sp, ep = fmt.Sprint(*s.SPID), shownEndpoint(s.Endpoint)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Role, sp, ep, v.Answers[i])
	}
	tw.Flush()
	if len(v.History) == 0 {
		return
	}
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "run\tstatus\tcreated (UTC)\treplica set (sp ids)\tclocks\tcategory")
	for _, h := range v.History {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", h.Run, h.Status, formatTime(&h.CreatedAt), joinOpt(h.SPIDs), joinOpt(h.Clocks),
			report.CategoryName(h.Category, true))
	}
	tw.Flush()
}

// joinOpt joins values that may be missing: "3/7/-".
func joinOpt(vs []*int64) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = "-"
		if v != nil {
			parts[i] = fmt.Sprint(*v)
		}
	}
	return strings.Join(parts, "/")
}

// printCID prints a CID view as text.
func printCID(out io.Writer, v report.CIDView) {
	fmt.Fprintf(out, "cid %s in %s: %d row(s) of the CID snapshot\n", v.CID, runHead(v.Run), len(v.Rows))
	for i, r := range v.Rows {
		fmt.Fprintf(out, "\n%s of user %d (batch %d, row %d; checked on the %s route): %s\n", r.Type, r.UserID, r.Batch, r.Index,
			r.Route, v.Replication[i])
		if len(r.Holders) == 0 {
			continue
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  sp_id\tendpoint\tanswer")
		for j, h := range r.Holders {
			fmt.Fprintf(tw, "  %d\t%s\t%s\n", h.SPID, shownEndpoint(h.Endpoint), v.Answers[i][j])
		}
		tw.Flush()
	}
}

// printStorageKey prints a key of a storage run: its expected holders and every other node by
// rank, with what each said.
func printStorageKey(out io.Writer, v report.StorageKeyView) {
	how := "its top holders by rank"
	if v.Placed {
		how = "its upload's placement_hosts"
	}
	fmt.Fprintf(out, "key %s in %s (expected holders: %s): %s\n\n", v.Key, runHead(v.Run), how, v.Holds)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  rank\tsp_id\tendpoint\tR\tshould hold\tanswer")
	for _, n := range v.Nodes {
		should := "no"
		if n.Expected {
			should = "yes"
		}
		fmt.Fprintf(tw, "  %d\t%d\t%s\t%d\t%s\t%s\n", n.Rank, n.SPID, shownEndpoint(n.Endpoint), n.ReplicationFactor, should, n.Answer)
	}
	tw.Flush()
}

// printTrend prints a trend as a table: one row a series, one column a run.
func printTrend(out io.Writer, t report.Trend) {
	fmt.Fprintf(out, "%s over the last %d %s runs (oldest first)\n\n", report.ShortName(t.Metric), len(t.Runs), t.Network)
	head := []string{"series"}
	for _, r := range t.Runs {
		head = append(head, fmt.Sprintf("run %d", r.ID))
	}
	rows := [][]string{append(head, "")}
	for _, s := range t.Series {
		label := report.LabelText(s.Labels)
		if label == "" {
			label = report.ShortName(t.Metric)
		}
		row := []string{label}
		for _, v := range s.Values {
			row = append(row, optValue(v))
		}
		rows = append(rows, append(row, sparkline(s.Values)))
	}
	if len(t.Series) == 0 {
		fmt.Fprintln(out, "no run has this series")
	} else {
		printAligned(out, rows, 1)
	}
	if t.Zero > 0 {
		fmt.Fprintf(out, "(%d series 0 in every run not shown)\n", t.Zero)
	}
}

// sparkline draws values as ▁▂▃▄▅▆▇█ between their minimum and maximum; a missing value is a space.
func sparkline(vs []*float64) string {
	const bars = "▁▂▃▄▅▆▇█"
	lo, hi, any := 0.0, 0.0, false
	for _, v := range vs {
		if v == nil {
			continue
		}
		if !any || *v < lo {
			lo = *v
		}
		if !any || *v > hi {
			hi = *v
		}
		any = true
	}
	r := []rune(bars)
	var b strings.Builder
	for _, v := range vs {
		switch {
		case v == nil:
			b.WriteRune(' ')
		case hi == lo:
			b.WriteRune(r[len(r)/2])
		default:
			b.WriteRune(r[int((*v-lo)/(hi-lo)*float64(len(r)-1)+0.5)])
		}
	}
	return b.String()
}
