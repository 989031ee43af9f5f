package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/audius-netmon/netmon/internal/config"
	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/store"
)

const runsListHelp = `Lists the latest runs of the NM DB, newest first: status, creation time, how long the run
took, users, work items (results loaded of those planned), the push of its metrics to the
Pushgateway (pushed, pending since when, superseded by a newer run) and why it failed or is
incomplete.

Exit codes: 0 listed; 1 the NM DB failed; 2 usage or configuration.
`

func runsListCmd(ctx context.Context, args []string, io IO) int {
	fs := newFlags("runs list", "runs list [--limit N] [--json]", runsListHelp, 0)
	limit := fs.Int("limit", 20, "at most this many runs")
	asJSON := fs.Bool("json", false, "print JSON (an array of runs)")
	if _, code, ok := fs.parse(args, io); !ok {
		return code
	}
	cfg, ok := loadConfig(io, needs{nmDB: true})
	if !ok {
		return ExitUsage
	}
	ctx, cancel := withTimeout(ctx, time.Minute)
	defer cancel()
	st, err := openStore(ctx, cfg, false)
	if err != nil {
		return fail(io, "runs list", err)
	}
	defer st.Close()
	runs, err := st.ListRuns(ctx, *limit)
	if err != nil {
		return fail(io, "runs list", err)
	}
	if *asJSON {
		if runs == nil {
			runs = []store.Run{}
		}
		_ = writeJSON(io.Stdout, runs)
		return ExitOK
	}
	if len(runs) == 0 {
		fmt.Fprintln(io.Stdout, "no runs yet")
		return ExitOK
	}
	tw := tabwriter.NewWriter(io.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "run\tstatus\tcreated (UTC)\ttook\tusers\twork items\tpush\terror")
	for _, r := range runs {
		took := "-"
		if r.CompletedAt != nil {
			took = since(r.CreatedAt, r.CompletedAt)
		} else if !r.Status.Terminal() {
			took = since(r.CreatedAt, nil) + " so far"
		}
		items := fmt.Sprintf("%d/%s", r.LoadedResults, formatInt(r.ExpectedItems))
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Status, formatTime(&r.CreatedAt), took,
			formatInt(r.ExpectedUsers), items, pushShort(r), shorten(r.Error, 70))
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
			s += fmt.Sprintf(", %d failed attempts, last: %s", r.PushAttempts, shorten(r.PushError, 120))
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
	cfg, ok := loadConfig(io, needs{nmDB: true})
	if !ok {
		return ExitUsage
	}
	ctx, cancel := withTimeout(ctx, time.Minute)
	defer cancel()
	st, err := openStore(ctx, cfg, false)
	if err != nil {
		return fail(io, "runs show", err)
	}
	defer st.Close()
	if *asJSON {
		v, err := runDetails(ctx, st, run)
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

func parseRun(s string) (int64, error) {
	run, err := strconv.ParseInt(s, 10, 64)
	if err != nil || run <= 0 {
		return 0, fmt.Errorf("run %q: want a run id (a positive number, see `netmon runs list`)", s)
	}
	return run, nil
}

// runView is a run with its metrics and nodes, as `runs show --json` prints it.
type runView struct {
	Run     store.Run      `json:"run"`
	Metrics []store.Sample `json:"metrics"`
	Nodes   []nodeView     `json:"nodes"`
}

// nodeView is a content node of a run: its fetch health and its per-node metrics by name.
type nodeView struct {
	store.NodeHealth
	Metrics map[string]float64 `json:"metrics"`
}

func runDetails(ctx context.Context, st *store.Store, run int64) (runView, error) {
	r, err := st.GetRun(ctx, run)
	if err != nil {
		return runView{}, err
	}
	samples, err := st.Samples(ctx, run)
	if err != nil {
		return runView{}, err
	}
	health, err := st.NodeHealth(ctx, run)
	if err != nil {
		return runView{}, err
	}
	v := runView{Run: r, Metrics: []store.Sample{}, Nodes: []nodeView{}}
	byNode := map[string]map[string]float64{}
	for _, s := range samples {
		if s.Labels == nil {
			v.Metrics = append(v.Metrics, s)
			continue
		}
		sp := s.Labels["sp_id"]
		if byNode[sp] == nil {
			byNode[sp] = map[string]float64{}
		}
		byNode[sp][s.Name] = s.Value
	}
	for _, h := range health {
		m := byNode[strconv.FormatInt(h.SPID, 10)]
		if m == nil {
			m = map[string]float64{}
		}
		v.Nodes = append(v.Nodes, nodeView{NodeHealth: h, Metrics: m})
	}
	return v, nil
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

// nodeColumns are the per-node metrics `runs show` prints, with their column titles.
var nodeColumns = []struct{ name, title string }{
	{"audius_nm_all_user_count", "users"},
	{"audius_nm_primary_user_count", "primary"},
	{"audius_nm_fully_synced_user_by_replica_count", "fully"},
	{"audius_nm_partially_synced_user_by_replica_count", "partially"},
	{"audius_nm_unsynced_user_by_replica_count", "unsynced"},
	{"audius_nm_missed_users_count", "missed"},
}

// showRun prints the run's row, its network-wide metrics, and a line per node.
func showRun(ctx context.Context, st *store.Store, run int64, out io.Writer) error {
	v, err := runDetails(ctx, st, run)
	if err != nil {
		return err
	}
	r := v.Run
	fmt.Fprintf(out, "run %d  %s%s\n", r.ID, r.Status, reasonSuffix(r.Error))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  created\t%s UTC\n", formatTime(&r.CreatedAt))
	if r.BlockNumber != nil {
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
	if r.ExpectedItems != nil {
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
	for _, c := range nodeColumns {
		fmt.Fprintf(tw, "\t%s", c.title)
	}
	fmt.Fprintln(tw, "\titems\tfetch health\ts/item")
	for _, n := range v.Nodes {
		fmt.Fprintf(tw, "%d\t%s", n.SPID, shownEndpoint(n.Endpoint))
		for _, c := range nodeColumns {
			val, ok := n.Metrics[c.name]
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
		fmt.Fprintf(tw, "\t%d\t%s\t%s\n", n.Items, outcomes(n.NodeHealth), secs)
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

func shownEndpoint(ep string) string {
	if ep == "" {
		return `""`
	}
	return ep
}

// outcomes formats a node's items by outcome: "ok 3", "ok 2, timeout 1", "no result".
func outcomes(h store.NodeHealth) string {
	if h.Items == 0 {
		return "no result"
	}
	var parts []string
	for _, o := range sortedKeys(h.Outcomes) {
		parts = append(parts, fmt.Sprintf("%s %d", o, h.Outcomes[o]))
	}
	return strings.Join(parts, ", ")
}

const runsDiffHelp = `Compares two runs: every metric series whose value changed (per-node series matched by SP
id), and every content node whose fetch health changed, that joined or that left. Timing
series (durations, the run id) always change and are left out unless --all is given.

Exit codes: 0 compared (whether or not anything changed); 1 no such run, or the NM DB failed;
2 usage or configuration.
`

// timingSeries change from run to run by nature; diff leaves them out unless asked.
var timingSeries = map[string]bool{
	"audius_nm_generating_metrics_duration": true,
	"audius_nm_total_job_duration":          true,
	"audius_nm_indexing_content_duration":   true,
	"audius_nm_indexing_discovery_duration": true,
	"audius_nm_user_batch_duration":         true,
	"audius_nm_last_run_id":                 true,
}

// metricChange is one series that differs; A or B is nil where the run has no such series.
type metricChange struct {
	Name  string   `json:"name"`
	SPID  string   `json:"sp_id,omitempty"`
	A     *float64 `json:"a"`
	B     *float64 `json:"b"`
	Delta *float64 `json:"delta,omitempty"`
}

// nodeChange is a node whose presence, endpoint or fetch health differs.
type nodeChange struct {
	SPID      int64  `json:"sp_id"`
	Change    string `json:"change"` // joined, left, endpoint, health
	EndpointA string `json:"endpoint_a,omitempty"`
	EndpointB string `json:"endpoint_b,omitempty"`
	HealthA   string `json:"health_a,omitempty"`
	HealthB   string `json:"health_b,omitempty"`
}

type runDiff struct {
	A       store.Run      `json:"a"`
	B       store.Run      `json:"b"`
	Metrics []metricChange `json:"metrics"`
	Nodes   []nodeChange   `json:"nodes"`
}

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
	cfg, ok := loadConfig(io, needs{nmDB: true})
	if !ok {
		return ExitUsage
	}
	ctx, cancel := withTimeout(ctx, time.Minute)
	defer cancel()
	st, err := openStore(ctx, cfg, false)
	if err != nil {
		return fail(io, "runs diff", err)
	}
	defer st.Close()
	d, err := diffRuns(ctx, st, runs[0], runs[1], *all)
	if err != nil {
		return fail(io, "runs diff", err)
	}
	if *asJSON {
		_ = writeJSON(io.Stdout, d)
		return ExitOK
	}
	printDiff(io.Stdout, d)
	return ExitOK
}

func diffRuns(ctx context.Context, st *store.Store, a, b int64, all bool) (runDiff, error) {
	var views [2]runView
	for i, run := range []int64{a, b} {
		v, err := runDetails(ctx, st, run)
		if err != nil {
			return runDiff{}, err
		}
		views[i] = v
	}
	d := runDiff{A: views[0].Run, B: views[1].Run, Metrics: []metricChange{}, Nodes: []nodeChange{}}

	type key struct{ name, sp string }
	vals := [2]map[key]float64{{}, {}}
	for i, v := range views {
		for _, s := range v.Metrics {
			vals[i][key{s.Name, ""}] = s.Value
		}
		for _, n := range v.Nodes {
			for name, val := range n.Metrics {
				vals[i][key{name, strconv.FormatInt(n.SPID, 10)}] = val
			}
		}
	}
	keys := map[key]bool{}
	for i := range vals {
		for k := range vals[i] {
			keys[k] = true
		}
	}
	for k := range keys {
		if timingSeries[k.name] && !all {
			continue
		}
		va, okA := vals[0][k]
		vb, okB := vals[1][k]
		if okA && okB && va == vb {
			continue
		}
		c := metricChange{Name: k.name, SPID: k.sp}
		if okA {
			c.A = &va
		}
		if okB {
			c.B = &vb
		}
		if okA && okB {
			delta := vb - va
			c.Delta = &delta
		}
		d.Metrics = append(d.Metrics, c)
	}
	sort.Slice(d.Metrics, func(i, j int) bool {
		x, y := d.Metrics[i], d.Metrics[j]
		if x.Name != y.Name {
			return x.Name < y.Name
		}
		return spLess(x.SPID, y.SPID)
	})

	nodes := [2]map[int64]store.NodeHealth{{}, {}}
	for i, v := range views {
		for _, n := range v.Nodes {
			nodes[i][n.SPID] = n.NodeHealth
		}
	}
	ids := map[int64]bool{}
	for i := range nodes {
		for id := range nodes[i] {
			ids[id] = true
		}
	}
	for id := range ids {
		na, okA := nodes[0][id]
		nb, okB := nodes[1][id]
		c := nodeChange{SPID: id, EndpointA: na.Endpoint, EndpointB: nb.Endpoint}
		if okA {
			c.HealthA = outcomes(na)
		}
		if okB {
			c.HealthB = outcomes(nb)
		}
		switch {
		case !okA:
			c.Change = "joined"
		case !okB:
			c.Change = "left"
		case na.Endpoint != nb.Endpoint:
			c.Change = "endpoint"
		case c.HealthA != c.HealthB:
			c.Change = "health"
		default:
			continue
		}
		d.Nodes = append(d.Nodes, c)
	}
	sort.Slice(d.Nodes, func(i, j int) bool { return d.Nodes[i].SPID < d.Nodes[j].SPID })
	return d, nil
}

func spLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

func printDiff(out io.Writer, d runDiff) {
	head := func(r store.Run) string {
		return fmt.Sprintf("run %d (%s, %s UTC)", r.ID, r.Status, formatTime(&r.CreatedAt))
	}
	fmt.Fprintf(out, "%s → %s\n\n", head(d.A), head(d.B))
	if len(d.Metrics) == 0 {
		fmt.Fprintln(out, "no metric changed")
	} else {
		opt := func(v *float64) string {
			if v == nil {
				return "-"
			}
			return formatValue(*v)
		}
		rows := [][]string{{"metric", "sp_id", fmt.Sprintf("run %d", d.A.ID), fmt.Sprintf("run %d", d.B.ID), "change"}}
		for _, c := range d.Metrics {
			change := "-"
			if c.Delta != nil {
				change = formatValue(*c.Delta)
				if *c.Delta > 0 {
					change = "+" + change
				}
			}
			rows = append(rows, []string{strings.TrimPrefix(c.Name, "audius_nm_"), c.SPID, opt(c.A), opt(c.B), change})
		}
		printAligned(out, rows)
	}
	fmt.Fprintln(out)
	if len(d.Nodes) == 0 {
		fmt.Fprintln(out, "no node changed")
		return
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "sp_id\tchange\tendpoint\trun %d\trun %d\n", d.A.ID, d.B.ID)
	for _, n := range d.Nodes {
		ep := n.EndpointB
		if n.Change == "left" {
			ep = n.EndpointA
		} else if n.Change == "endpoint" {
			ep = shownEndpoint(n.EndpointA) + " → " + shownEndpoint(n.EndpointB)
		}
		dash := func(s string) string {
			if s == "" {
				return "-"
			}
			return s
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", n.SPID, n.Change, shownEndpointOrArrow(ep), dash(n.HealthA), dash(n.HealthB))
	}
	tw.Flush()
}

// printAligned prints rows as columns: the first left-aligned, the others right-aligned.
func printAligned(out io.Writer, rows [][]string) {
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
			if i == 0 {
				b.WriteString(c + pad)
			} else {
				b.WriteString("  " + pad + c)
			}
		}
		fmt.Fprintln(out, b.String())
	}
}

func shownEndpointOrArrow(ep string) string {
	if strings.Contains(ep, " → ") {
		return ep
	}
	return shownEndpoint(ep)
}
