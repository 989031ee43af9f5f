package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Report is everything a bench invocation measured.
type Report struct {
	Machine  string    `json:"machine"`
	NATS     string    `json:"nats_server"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Results  []*Result `json:"results"`
	Failed   []Failure `json:"failed,omitempty"`
	// Tops are `go tool pprof -top` of each profiled stage: CPU, then allocated bytes.
	Tops map[string]string `json:"profile_tops,omitempty"`
}

// Failure is a run that did not complete.
type Failure struct {
	Name  string   `json:"name"`
	Env   []string `json:"env"`
	Error string   `json:"error"`
}

func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := int64(0)
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		mem = statusKiB(b, "MemTotal:") >> 20
	}
	return fmt.Sprintf("%d CPUs (%s), %d GiB, %s; load average at start %s", runtime.NumCPU(), model, mem, runtime.Version(), loadAvg())
}

// loadAvg is the machine's load average over 1, 5 and 15 minutes.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// Write stores the report as results.json and results.md in dir.
func (rep *Report) Write(dir string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), b, 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "results.md"))
	if err != nil {
		return err
	}
	defer f.Close()
	return rep.Markdown(f)
}

// Profiles summarises every stage profile with `go tool pprof -top` (text next to the profile).
func (rep *Report) Profiles(dir string) error {
	for _, res := range rep.Results {
		for _, s := range res.Stages {
			if s.Profile == "" {
				continue
			}
			cpu, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", s.Profile).CombinedOutput()
			if err != nil {
				return fmt.Errorf("pprof %s: %v: %s", s.Profile, err, cpu)
			}
			heap := strings.TrimSuffix(s.Profile, ".cpu.pprof") + ".heap.pprof"
			alloc, _ := exec.Command("go", "tool", "pprof", "-top", "-nodecount=15", "-sample_index=alloc_space", heap).CombinedOutput()
			text := string(cpu) + "\n--- allocated bytes ---\n" + string(alloc)
			if err := os.WriteFile(strings.TrimSuffix(s.Profile, ".cpu.pprof")+".top.txt", []byte(text), 0o644); err != nil {
				return err
			}
			if rep.Tops == nil {
				rep.Tops = map[string]string{}
			}
			rep.Tops[res.Spec.Name+"/"+s.Name] = text
		}
	}
	return nil
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }

func per(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func mib(b int64) string { return fmt.Sprintf("%.0f", float64(b)/(1<<20)) }

// Stage windows, each from when its first input can exist to its last output (see
// docs/benchmarks.md): planner [request, manifest stored]; fetchers [first snapshot message,
// last result stored], or [fetchers ready, last result stored] when they start after the plan;
// loader [first snapshot message, "loaded"], or [loader ready, "loaded"] when it starts after the
// fetch; aggregator ["loaded", "complete"].
func (r *Result) planWin() time.Duration { return r.PlanDone }
func (r *Result) fetchWin() time.Duration {
	if r.FetchStart > 0 {
		return r.LastResult - r.FetchStart
	}
	return r.LastResult - r.FirstData
}
func (r *Result) loadWin() time.Duration {
	if r.LoadStart > 0 {
		return r.Loaded - r.LoadStart
	}
	return r.Loaded - r.FirstData
}
func (r *Result) aggWin() time.Duration { return r.Complete - r.Loaded }

// loadRows are the rows the loader COPYs: users and clocks.
func (r *Result) loadRows() int64 { return r.Users + r.ClockRows }
func (r *Result) planMsgs() int64 { return r.UserBatches + r.WorkItems + 3 }
func (r *Result) loadMsgs() int64 { return r.UserBatches + r.WorkItems + 3 }

// Line is a one-line summary of a run.
func (r *Result) Line() string {
	var rss []string
	for _, s := range r.Stages {
		rss = append(rss, fmt.Sprintf("%s %s MiB/%.1fs", s.Name, mib(s.PeakRSS), s.CPU.Seconds()))
	}
	if f := r.Storage; f != nil {
		return fmt.Sprintf("e2e %ss (plan %s, last result %s, loaded %s, complete %s); seed %ss; %d keys, %d sampled, %d items; requests a node %s, probes %s; %s; truth %d/%d ok",
			secs(r.EndToEnd), secs(r.PlanDone), secs(r.LastResult), secs(r.Loaded), secs(r.Complete), secs(r.Seed),
			f.Population, f.Sampled, f.WorkItems, spreadOf(f.Requests), spreadOf(f.Probes), strings.Join(rss, ", "), r.TruthSeries-r.TruthMismatch, r.TruthSeries)
	}
	return fmt.Sprintf("e2e %ss (plan %s, last result %s, written %s, loaded %s, complete %s); seed %ss; %s; truth %d/%d ok",
		secs(r.EndToEnd), secs(r.PlanDone), secs(r.LastResult), secs(r.Written), secs(r.Loaded), secs(r.Complete), secs(r.Seed),
		strings.Join(rss, ", "), r.TruthSeries-r.TruthMismatch, r.TruthSeries)
}

// groups are the results by spec name, in plan order, each with its best (lowest end-to-end)
// result first.
func (rep *Report) groups() [][]*Result {
	var order []string
	by := map[string][]*Result{}
	for _, r := range rep.Results {
		if _, ok := by[r.Spec.Name]; !ok {
			order = append(order, r.Spec.Name)
		}
		by[r.Spec.Name] = append(by[r.Spec.Name], r)
	}
	out := make([][]*Result, 0, len(order))
	for _, n := range order {
		g := by[n]
		sort.SliceStable(g, func(i, j int) bool { return g[i].EndToEnd < g[j].EndToEnd })
		out = append(out, g)
	}
	return out
}

func spread(g []*Result, f func(*Result) time.Duration) string {
	if len(g) < 2 {
		return secs(f(g[0]))
	}
	lo, hi := f(g[0]), f(g[0])
	for _, r := range g[1:] {
		lo, hi = min(lo, f(r)), max(hi, f(r))
	}
	return fmt.Sprintf("%s (%s–%s)", secs(f(g[0])), secs(lo), secs(hi))
}

// Markdown writes the report's tables.
func (rep *Report) Markdown(w io.Writer) error {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("Machine: %s. nats-server: %s. Started %s, finished %s.\n\n", rep.Machine, rep.NATS,
		rep.Started.Format(time.RFC3339), rep.Finished.Format(time.RFC3339))
	var groups, storage [][]*Result
	for _, g := range rep.groups() {
		if g[0].Storage != nil {
			storage = append(storage, g)
		} else {
			groups = append(groups, g)
		}
	}

	if len(groups) > 0 {
		p("### Runs (best of n by end-to-end; range over the n runs)\n\n")
		p("| run | n | users | wallet checks (+ CIDs) | end to end s | planner done s · users/s · msgs/s | fetchers done s · checks/s · items/s | loader done s · rows/s · msgs/s | of which status build s | aggregator s · users/s | truth |\n")
		p("|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, g := range groups {
			r := g[0]
			checks := fmt.Sprint(r.WalletChecks)
			if r.CIDs > 0 {
				checks += fmt.Sprintf(" (+ %d CIDs in %d items)", r.CIDs, r.CIDItems)
			}
			build := "–"
			if r.Written > 0 {
				// Writes are sampled every 200 ms.
				build = "< 0.2"
				if d := r.Loaded - r.Written; d > 200*time.Millisecond {
					build = secs(d)
				}
			}
			p("| %s | %d | %d | %s | %s | %s · %s · %s | %s · %s · %s | %s · %s · %s | %s | %s · %s | %d/%d |\n",
				r.Spec.Name, len(g), r.Users, checks, spread(g, func(r *Result) time.Duration { return r.EndToEnd }),
				secs(r.PlanDone), human(per(r.Users, r.planWin())), human(per(r.planMsgs(), r.planWin())),
				secs(r.LastResult), human(per(r.WalletChecks, r.fetchWin())), human(per(r.WorkItems, r.fetchWin())),
				secs(r.Loaded), human(per(r.loadRows(), r.loadWin())), human(per(r.loadMsgs(), r.loadWin())), build,
				secs(r.aggWin()), human(per(r.Users, r.aggWin())),
				r.TruthSeries-r.TruthMismatch, r.TruthSeries)
		}

		p("\n### Resources of the best run\n\n")
		p("| run | peak RSS MiB (planner / fetchers / loader / aggregator) | CPU s (planner / fetchers / loader / aggregator / simnet+driver / nats-server / postgres) | machine CPU s: all · not ours (of 2 × e2e) | load before | NM DB MiB | run's tables MiB | seed s (not in the run) |\n")
		p("|---|---|---|---|---|---|---|---|\n")
		for _, g := range groups {
			r := g[0]
			var rss, cpu [4][]string
			for _, s := range r.Stages {
				i := map[string]int{"planner": 0, "fetcher": 1, "loader": 2, "aggregator": 3}[strings.TrimRight(s.Name, "0123456789")]
				rss[i] = append(rss[i], mib(s.PeakRSS))
				cpu[i] = append(cpu[i], fmt.Sprintf("%.1f", s.CPU.Seconds()))
			}
			j := func(a [4][]string) string {
				parts := make([]string, 4)
				for i, v := range a {
					parts[i] = strings.Join(v, "+")
				}
				return strings.Join(parts, " / ")
			}
			ours := r.SimnetCPU + r.NATSCPU + r.PostgresCPU
			for _, s := range r.Stages {
				ours += s.CPU
			}
			p("| %s | %s | %s / %.1f / %.1f / %.1f | %.0f · %.0f (of %.0f) | %s | %s | %s | %s |\n", r.Spec.Name, j(rss), j(cpu), r.SimnetCPU.Seconds(),
				r.NATSCPU.Seconds(), r.PostgresCPU.Seconds(), r.MachineCPU.Seconds(), max(r.MachineCPU-ours, 0).Seconds(),
				2*r.EndToEnd.Seconds(), r.Load, mib(r.NMDBSize), mib(r.RunSize), secs(r.Seed))
		}

		p("\n### After the last result (issue 15: under 20 %% of the run; best run)\n\n")
		p("| run | last result s | loader's last write s | loaded s | complete s | after the last result s | share of end to end |\n")
		p("|---|---|---|---|---|---|---|\n")
		for _, g := range groups {
			r := g[0]
			after := r.Complete - r.LastResult
			p("| %s | %s | %s | %s | %s | %s | %.0f %% |\n", r.Spec.Name, secs(r.LastResult), secs(r.Written), secs(r.Loaded),
				secs(r.Complete), secs(after), 100*after.Seconds()/max(r.EndToEnd.Seconds(), 1e-9))
		}
	}
	if growth := growthRows(groups); len(growth) > 0 {
		p("\n### Growth (end to end between consecutive sizes of one scenario; exponent 1 is linear)\n\n")
		p("| from | to | users × | end to end × | exponent |\n|---|---|---|---|---|\n")
		for _, row := range growth {
			p("%s\n", row)
		}
	}

	var prod [][]*Result
	for _, g := range groups {
		if _, ok := originalSeconds[g[0].Spec.Users]; ok && g[0].Spec.Shape == ShapeProduction {
			prod = append(prod, g)
		}
	}
	if len(prod) > 0 {
		p("\n### Against the original (its recorded times on a network of this shape, same kind of machine; best of n)\n\n")
		p("| run | users | original s | netmon s | original ÷ netmon |\n|---|---|---|---|---|\n")
		for _, g := range prod {
			r, orig := g[0], originalSeconds[g[0].Spec.Users]
			p("| %s | %d | %.0f | %s | %.1f× |\n", r.Spec.Name, r.Users, orig, secs(r.EndToEnd), orig/max(r.EndToEnd.Seconds(), 1e-9))
		}
	}

	var slow [][]*Result
	for _, g := range groups {
		if g[0].Spec.Latency > 0 {
			slow = append(slow, g)
		}
	}
	if len(slow) > 0 {
		p("\n### Fetcher scale-out (content nodes answer after %s; fetchers start once the plan is queued; best of n by fetch window)\n\n", slow[0][0].Spec.Latency)
		p("| run | fetchers | settings | fetch window s (range) | items/s | wallet checks/s | × one fetcher | fetcher CPU s |\n")
		p("|---|---|---|---|---|---|---|---|\n")
		base := map[bool]float64{} // one fetcher's rate, with the loader running or started after
		for _, g := range slow {
			sort.SliceStable(g, func(i, j int) bool { return g[i].fetchWin() < g[j].fetchWin() })
			r := g[0]
			rate := per(r.WorkItems, r.fetchWin())
			if base[r.Spec.LoaderAfterFetch] == 0 && r.Spec.Fetchers == 1 {
				base[r.Spec.LoaderAfterFetch] = rate
			}
			var cpu float64
			for _, s := range r.Stages {
				if strings.HasPrefix(s.Name, "fetcher") {
					cpu += s.CPU.Seconds()
				}
			}
			settings := strings.Join(r.Spec.Env, " ")
			p("| %s | %d | %s | %s | %.0f | %s | %.2f | %.1f |\n", r.Spec.Name, r.Spec.Fetchers, settings,
				spread(g, (*Result).fetchWin), rate, human(per(r.WalletChecks, r.fetchWin())), rate/max(base[r.Spec.LoaderAfterFetch], 1e-9), cpu)
		}
	}

	var hung [][2]*Result // (without, with) a hung node, by size
	for _, g := range groups {
		if len(g[0].Spec.Hung) == 0 || !strings.HasPrefix(g[0].Spec.Name, "hung/") {
			continue
		}
		for _, h := range groups {
			if len(h[0].Spec.Hung) == 0 && strings.HasPrefix(h[0].Spec.Name, "hung/") && h[0].Spec.Users == g[0].Spec.Users {
				hung = append(hung, [2]*Result{h[0], g[0]})
			}
		}
	}
	if len(hung) > 0 {
		p("\n### A hung node (default settings; node %d accepts connections and never answers; best of n)\n\n", hungNodes)
		p("| users | end to end s, no hung node | end to end s, 1 of %d hung | ratio (target ≤ 1.5) | the hung node's items | requests it got |\n", hungNodes)
		p("|---|---|---|---|---|---|\n")
		for _, pair := range hung {
			a, b := pair[0], pair[1]
			p("| %d | %s | %s | %.2f | %s | %d |\n", a.Users, secs(a.EndToEnd), secs(b.EndToEnd),
				b.EndToEnd.Seconds()/max(a.EndToEnd.Seconds(), 1e-9), b.HungOutcomes, b.HungRequests)
		}
	}

	var withCeil [][]*Result
	for _, g := range groups {
		if g[0].Ceilings != nil {
			withCeil = append(withCeil, g)
		}
	}
	if len(withCeil) > 0 {
		p("\n### Ceilings, measured right after each run on the same servers (best of n)\n\n")
		p("| run | discovery read rows/s | JetStream pub/cons msgs/s (MB/s), result-size msgs | same, user-batch-size msgs | fake CN req/s (wallets/s), 16 in flight | COPY users / user status rows/s | COPY clock results answers/s (a row per work item): 4 conns / 1 conn / 4 unlogged / 4 sync off | scan user counts rows/s | scan users + answers rows/s |\n")
		p("|---|---|---|---|---|---|---|---|---|\n")
		for _, g := range withCeil {
			c := bestCeilings(g)
			p("| %s | %s | %s / %s (%.0f / %.0f), %d B | %s / %s (%.0f / %.0f), %d B | %s (%s) | %s / %s | %s / %s / %s / %s | %s | %s |\n",
				g[0].Spec.Name, human(c.DiscoveryRead.PerSec()),
				human(c.PubData.PerSec()), human(c.ConsData.PerSec()), c.PubData.MBPerSec(), c.ConsData.MBPerSec(), c.PubData.Bytes/max(c.PubData.N, 1),
				human(c.PubUsers.PerSec()), human(c.ConsUsers.PerSec()), c.PubUsers.MBPerSec(), c.ConsUsers.MBPerSec(), c.PubUsers.Bytes/max(c.PubUsers.N, 1),
				human(c.CNRequests.PerSec()), human(per(c.CNRequests.Bytes, c.CNRequests.Took)),
				human(c.CopyUsers.PerSec()), human(c.CopyStatus.PerSec()), human(c.CopyClocks.PerSec()), human(c.CopyClocks1.PerSec()),
				human(c.CopyClocksUnl.PerSec()), human(c.CopyClocksAsy.PerSec()), human(c.ScanFamilies.PerSec()), human(c.ScanBuild.PerSec()))
		}
		p("\n### Each stage against its ceiling (stage time ÷ time the ceiling needs for the same work; ≤ 2 is the target)\n\n")
		p("| run | planner vs discovery read + JetStream publish | fetchers vs fake-CN requests | loader vs COPY (users + clock results + user status, 4 conns) and one scan of users and answers | of which the status build after the last write vs one scan of users + answers | aggregator's user families statement vs one scan of the user counts |\n")
		p("|---|---|---|---|---|---|\n")
		for _, g := range withCeil {
			r, c := g[0], bestCeilings(g)
			planCeil := c.DiscoveryRead.Took + time.Duration(float64(r.UserBatches)/c.PubUsers.PerSec()*float64(time.Second)) +
				time.Duration(float64(r.WorkItems)/c.PubData.PerSec()*float64(time.Second))
			fetchCeil := time.Duration(float64(r.WorkItems) / c.CNRequests.PerSec() * float64(time.Second))
			loadCeil := time.Duration((float64(r.Users)/c.CopyUsers.PerSec()+float64(r.ClockRows)/c.CopyClocks.PerSec()+
				float64(r.Users)/c.CopyStatus.PerSec())*float64(time.Second)) +
				c.ScanBuild.Took
			ratio := func(a, b time.Duration) string {
				if b <= 0 {
					return "–"
				}
				return fmt.Sprintf("%.1f× (%ss vs %ss)", a.Seconds()/b.Seconds(), secs(a), secs(b))
			}
			build := "–"
			if r.Written > 0 {
				build = ratio(r.Loaded-r.Written, c.ScanBuild.Took)
			}
			p("| %s | %s | %s | %s | %s | %s |\n", r.Spec.Name, ratio(r.planWin(), planCeil), ratio(r.fetchWin(), fetchCeil),
				ratio(r.loadWin(), loadCeil), build, ratio(c.Families.Took, c.ScanFamilies.Took))
		}
	}
	if len(storage) > 0 {
		p("\n### Storage runs (issue 12; best of n; seeding is not part of the run)\n\n")
		p("| run | settings | keys listed | sampled | work items | end to end s | planner done s | last result s | loaded s | complete s | requests a node min / median / max | probes a node min / median / max (all) | peak RSS MiB (planner / fetchers / loader / aggregator) | load before | seed s | truth |\n")
		p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, g := range storage {
			r, f := g[0], g[0].Storage
			rss := make([]string, 0, len(r.Stages))
			for _, name := range []string{"planner", "fetcher", "loader", "aggregator"} {
				for _, st := range r.Stages {
					if strings.TrimRight(st.Name, "0123456789") == name {
						rss = append(rss, mib(st.PeakRSS))
					}
				}
			}
			p("| %s | %s | %d | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d/%d |\n", r.Spec.Name,
				strings.Join(r.Spec.Env, " "), f.Population, f.Sampled, f.WorkItems, spread(g, func(r *Result) time.Duration { return r.EndToEnd }),
				secs(r.PlanDone), secs(r.LastResult), secs(r.Loaded), secs(r.Complete), spreadOf(f.Requests), fmt.Sprintf("%s (%d)", spreadOf(f.Probes), sum(f.Probes)),
				strings.Join(rss, " / "), r.Load, secs(r.Seed), r.TruthSeries-r.TruthMismatch, r.TruthSeries)
		}
	}
	if len(rep.Failed) > 0 {
		p("\n### Runs that failed\n\n| run | settings | error |\n|---|---|---|\n")
		for _, f := range rep.Failed {
			p("| %s | %s | %s |\n", f.Name, strings.Join(f.Env, " "), strings.ReplaceAll(firstLines(f.Error, 1), "|", "\\|"))
		}
	}
	if len(rep.Tops) > 0 {
		p("\n### Profiles (CPU top, flat)\n\n")
		keys := make([]string, 0, len(rep.Tops))
		for k := range rep.Tops {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			cpu, _, _ := strings.Cut(rep.Tops[k], "--- allocated bytes ---")
			p("#### %s\n\n```\n%s\n```\n\n", k, strings.TrimSpace(firstLines(cpu, 22)))
		}
	}
	return nil
}

// growthRows compares, for each scenario (a run's name without its size: "size", "prod cids=sample",
// "hung 1 of 10"), the best end to end of each size with the next larger size's: users ratio, time
// ratio and the exponent log(time ratio) / log(users ratio).
func growthRows(groups [][]*Result) []string {
	by := map[string][]*Result{}
	var order []string
	for _, g := range groups {
		prefix, sized, _ := strings.Cut(g[0].Spec.Name, "/")
		_, variant, _ := strings.Cut(sized, " ")
		scenario := strings.TrimSpace(prefix + " " + variant)
		if _, ok := by[scenario]; !ok {
			order = append(order, scenario)
		}
		by[scenario] = append(by[scenario], g[0])
	}
	var out []string
	for _, sc := range order {
		rs := by[sc]
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].Users < rs[j].Users })
		for i := 1; i < len(rs); i++ {
			a, b := rs[i-1], rs[i]
			if a.Users <= 0 || b.Users <= a.Users || a.EndToEnd <= 0 {
				continue
			}
			nx, tx := float64(b.Users)/float64(a.Users), b.EndToEnd.Seconds()/a.EndToEnd.Seconds()
			out = append(out, fmt.Sprintf("| %s | %s | %.1f | %.2f | **%.3f** |", a.Spec.Name, b.Spec.Name, nx, tx, math.Log(tx)/math.Log(nx)))
		}
	}
	return out
}

// bestCeilings takes, for each ceiling, the fastest of the group's measurements.
func bestCeilings(g []*Result) Ceilings {
	var best Ceilings
	for _, r := range g {
		c := r.Ceilings
		if c == nil {
			continue
		}
		best.DiscoveryRead.keepFaster(c.DiscoveryRead)
		best.PubData.keepFaster(c.PubData)
		best.ConsData.keepFaster(c.ConsData)
		best.PubUsers.keepFaster(c.PubUsers)
		best.ConsUsers.keepFaster(c.ConsUsers)
		best.CNRequests.keepFaster(c.CNRequests)
		best.CopyUsers.keepFaster(c.CopyUsers)
		best.CopyStatus.keepFaster(c.CopyStatus)
		best.CopyClocks.keepFaster(c.CopyClocks)
		best.CopyClocks1.keepFaster(c.CopyClocks1)
		best.CopyClocksUnl.keepFaster(c.CopyClocksUnl)
		best.CopyClocksAsy.keepFaster(c.CopyClocksAsy)
		best.ScanFamilies.keepFaster(c.ScanFamilies)
		best.Families.keepFaster(c.Families)
		best.ScanBuild.keepFaster(c.ScanBuild)
	}
	return best
}

func firstLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// spreadOf is the least, median and most of ascending counts.
func spreadOf(v []int64) string {
	if len(v) == 0 {
		return "–"
	}
	return fmt.Sprintf("%d / %d / %d", v[0], v[len(v)/2], v[len(v)-1])
}

func sum(v []int64) int64 {
	var n int64
	for _, x := range v {
		n += x
	}
	return n
}
