// Package web is netmon's read-only web view and JSON API over the NM DB, served by `netmon
// serve`. It consumes a report.Store and produces server-rendered HTML pages (the last run at a
// glance with its node table, red rows and their reasons; run history with a chart; a run; a
// user's or a CID's answers; a metric's trend; search) and their JSON under /api/. Both come from
// the report package's views, as `netmon` prints them. It reads nothing but the NM DB, so it
// never holds a secret to show; it accepts only GET and HEAD.
package web

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/audius-netmon/netmon/internal/report"
	"github.com/audius-netmon/netmon/internal/store"
)

// DefaultAddr is where `netmon serve` listens unless told otherwise: loopback only.
const DefaultAddr = "127.0.0.1:9105"

// historyRuns is how many runs the history page and the runs API show by default.
const historyRuns = 30

//go:embed templates/*.html
var templateFS embed.FS

// Server serves the pages and the API. Its handlers may be called from many goroutines at once;
// each request reads the NM DB on its own, bounded by the request's context.
type Server struct {
	st    report.Store
	pages *template.Template
	log   zerolog.Logger
	mux   *http.ServeMux
}

// New returns the server over st.
func New(st report.Store, log zerolog.Logger) *Server {
	s := &Server{st: st, log: log, mux: http.NewServeMux()}
	s.pages = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html"))
	for pattern, h := range map[string]http.HandlerFunc{
		"GET /{$}":                 s.overview,
		"GET /runs":                s.runs,
		"GET /runs/{id}":           s.run,
		"GET /users/{who}":         s.user,
		"GET /cids/{cid}":          s.cid,
		"GET /trend":               s.trend,
		"GET /search":              s.search,
		"GET /healthz":             func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") },
		"GET /api/runs":            s.apiRuns,
		"GET /api/runs/{id}":       s.apiRun,
		"GET /api/runs/{id}/nodes": s.apiNodes,
		"GET /api/users/{who}":     s.apiUser,
		"GET /api/cids/{cid}":      s.apiCID,
		"GET /api/trend":           s.apiTrend,
		"GET /api/diff":            s.apiDiff,
	} {
		s.mux.HandleFunc(pattern, h)
	}
	return s
}

// ServeHTTP sets the headers every answer carries and refuses anything but GET and HEAD.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "read-only: only GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Serve serves on addr until ctx ends, then shuts down within 5 s.
func (s *Server) Serve(ctx context.Context, addr string, ready func(addr string)) error {
	srv := &http.Server{Addr: addr, Handler: s, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: time.Minute}
	l, err := listen(addr)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(l.Addr().String())
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err = srv.Serve(l)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve %s: %w", addr, err)
}

// status is the HTTP status of a view's error: a bad argument 400, nothing found 404.
func status(err error) int {
	switch {
	case errors.Is(err, report.ErrUsage):
		return http.StatusBadRequest
	case errors.Is(err, store.ErrNoRun), errors.Is(err, store.ErrNotInRun):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// page renders a page, or its error page.
func (s *Server) page(w http.ResponseWriter, r *http.Request, name, title string, data any, err error) {
	code := http.StatusOK
	if err != nil {
		code = status(err)
		if code == http.StatusInternalServerError {
			s.log.Error().Err(err).Str("path", r.URL.Path).Msg("web page")
		}
		name, data = "error", err.Error()
		title = http.StatusText(code)
	}
	// Rendered whole before anything is written, so a template that fails is a 500, not half a page.
	var b bytes.Buffer
	if err := s.pages.ExecuteTemplate(&b, name, pageData{Title: title, Data: data}); err != nil {
		s.log.Error().Err(err).Str("page", name).Msg("render")
		http.Error(w, "render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}

type pageData struct {
	Title string
	Data  any
}

// api writes v as JSON, or the error as {"error": "..."} with its status.
func (s *Server) api(w http.ResponseWriter, r *http.Request, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		code := status(err)
		if code == http.StatusInternalServerError {
			s.log.Error().Err(err).Str("path", r.URL.Path).Msg("web api")
		}
		w.WriteHeader(code)
		v = map[string]string{"error": err.Error()}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// runParam reads a positive run id from s (0 when empty).
func runParam(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	run, err := strconv.ParseInt(s, 10, 64)
	if err != nil || run <= 0 {
		return 0, fmt.Errorf("%w: run %q: want a run id (a positive number)", report.ErrUsage, s)
	}
	return run, nil
}

func intParam(q url.Values, name string, def, most int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 || n > most {
		return 0, fmt.Errorf("%w: %s %q: want a number from 1 to %d", report.ErrUsage, name, v, most)
	}
	return n, nil
}

// overviewData is the last run at a glance: its summary and its view.
type overviewData struct {
	Summary *report.Summary
	View    *report.RunView
}

func (s *Server) runData(ctx context.Context, run int64) (overviewData, error) {
	v, err := report.Run(ctx, s.st, run)
	if err != nil {
		return overviewData{}, err
	}
	sums, err := report.Summaries(ctx, s.st, historyRuns)
	if err != nil {
		return overviewData{}, err
	}
	d := overviewData{View: &v}
	for i := range sums {
		if sums[i].ID == run {
			d.Summary = &sums[i]
		}
	}
	if d.Summary == nil {
		d.Summary = &report.Summary{Run: v.Run}
	}
	return d, nil
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	latest, err := report.LatestWithData(r.Context(), s.st, "")
	if errors.Is(err, store.ErrNoRun) {
		s.page(w, r, "overview", "netmon", overviewData{}, nil)
		return
	}
	var d overviewData
	if err == nil {
		d, err = s.runData(r.Context(), latest.ID)
	}
	s.page(w, r, "overview", "netmon: the last run", d, err)
}

func (s *Server) run(w http.ResponseWriter, r *http.Request) {
	run, err := runParam(r.PathValue("id"))
	var d overviewData
	if err == nil {
		d, err = s.runData(r.Context(), run)
	}
	s.page(w, r, "overview", fmt.Sprintf("netmon: run %d", run), d, err)
}

// runsData is the run history: the runs, newest first, and their charts.
type runsData struct {
	Runs        []report.Summary
	FullyChart  template.HTML
	MissedChart template.HTML
}

func (s *Server) runs(w http.ResponseWriter, r *http.Request) {
	var d runsData
	limit, err := intParam(r.URL.Query(), "limit", historyRuns, 1000)
	if err == nil {
		d.Runs, err = report.Summaries(r.Context(), s.st, limit)
	}
	if err == nil {
		var fully, missed []point
		for i := len(d.Runs) - 1; i >= 0; i-- {
			run := d.Runs[i]
			fully = append(fully, point{label: strconv.FormatInt(run.ID, 10), value: scaled(run.FullySynced, 100)})
			missed = append(missed, point{label: strconv.FormatInt(run.ID, 10), value: run.MissedSlots})
		}
		d.FullyChart = lineChart("fully synced users (%) by run", []series{{name: "fully synced %", points: fully}})
		d.MissedChart = lineChart("missed user slots by run", []series{{name: "missed slots", points: missed}})
	}
	s.page(w, r, "runs", "netmon: runs", d, err)
}

func scaled(v *float64, by float64) *float64 {
	if v == nil {
		return nil
	}
	x := *v * by
	return &x
}

func (s *Server) user(w http.ResponseWriter, r *http.Request) {
	run, err := runParam(r.URL.Query().Get("run"))
	var v report.UserView
	if err == nil {
		v, err = report.User(r.Context(), s.st, r.PathValue("who"), run)
	}
	s.page(w, r, "user", "netmon: user "+r.PathValue("who"), v, err)
}

func (s *Server) cid(w http.ResponseWriter, r *http.Request) {
	run, err := runParam(r.URL.Query().Get("run"))
	var v report.CIDView
	if err == nil {
		v, err = report.CID(r.Context(), s.st, r.PathValue("cid"), run)
	}
	s.page(w, r, "cid", "netmon: cid "+r.PathValue("cid"), v, err)
}

// trendData is a metric's trend with its chart.
type trendData struct {
	Trend report.Trend
	Chart template.HTML
	SP    string
}

func (s *Server) trendOf(r *http.Request) (report.Trend, error) {
	q := r.URL.Query()
	limit, err := intParam(q, "limit", 10, 1000)
	if err != nil {
		return report.Trend{}, err
	}
	sp := q.Get("sp")
	if sp != "" {
		if n, err := strconv.ParseInt(sp, 10, 64); err != nil || n <= 0 {
			return report.Trend{}, fmt.Errorf("%w: sp %q: want an SP id", report.ErrUsage, sp)
		}
	}
	metric := q.Get("metric")
	if metric == "" {
		metric = "fully_synced_user_count"
	}
	return report.TrendOf(r.Context(), s.st, "", metric, sp, limit) // over the runs of the metric's network
}

func (s *Server) trend(w http.ResponseWriter, r *http.Request) {
	t, err := s.trendOf(r)
	d := trendData{Trend: t, SP: r.URL.Query().Get("sp")}
	if err == nil {
		var ss []series
		for i, sr := range t.Series {
			if i == maxChartSeries {
				break
			}
			var pts []point
			for j, run := range t.Runs {
				pts = append(pts, point{label: strconv.FormatInt(run.ID, 10), value: sr.Values[j]})
			}
			name := report.LabelText(sr.Labels)
			if name == "" {
				name = report.ShortName(t.Metric)
			}
			ss = append(ss, series{name: name, points: pts})
		}
		d.Chart = lineChart(report.ShortName(t.Metric)+" by run", ss)
	}
	s.page(w, r, "trend", "netmon: trend", d, err)
}

// search sends a user id or wallet to the user page, anything else to the CID page.
func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	run := r.URL.Query().Get("run")
	suffix := ""
	if run != "" {
		suffix = "?run=" + url.QueryEscape(run)
	}
	switch {
	case q == "":
		http.Redirect(w, r, "/", http.StatusSeeOther)
	case isUserRef(q):
		http.Redirect(w, r, "/users/"+url.PathEscape(q)+suffix, http.StatusSeeOther)
	default:
		http.Redirect(w, r, "/cids/"+url.PathEscape(q)+suffix, http.StatusSeeOther)
	}
}

// isUserRef reports whether q names a user: a number or a wallet (0x...).
func isUserRef(q string) bool {
	if _, err := strconv.ParseInt(q, 10, 64); err == nil {
		return true
	}
	return strings.HasPrefix(strings.ToLower(q), "0x")
}

func (s *Server) apiRuns(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r.URL.Query(), "limit", historyRuns, 1000)
	var v []report.Summary
	if err == nil {
		v, err = report.Summaries(r.Context(), s.st, limit)
	}
	if v == nil {
		v = []report.Summary{}
	}
	s.api(w, r, v, err)
}

func (s *Server) apiRun(w http.ResponseWriter, r *http.Request) {
	run, err := runParam(r.PathValue("id"))
	var v report.RunView
	if err == nil {
		v, err = report.Run(r.Context(), s.st, run)
	}
	s.api(w, r, v, err)
}

func (s *Server) apiNodes(w http.ResponseWriter, r *http.Request) {
	run, err := runParam(r.PathValue("id"))
	var v report.RunView
	if err == nil {
		v, err = report.Run(r.Context(), s.st, run)
	}
	s.api(w, r, v.Nodes, err)
}

func (s *Server) apiUser(w http.ResponseWriter, r *http.Request) {
	run, err := runParam(r.URL.Query().Get("run"))
	var v report.UserView
	if err == nil {
		v, err = report.User(r.Context(), s.st, r.PathValue("who"), run)
	}
	s.api(w, r, v, err)
}

func (s *Server) apiCID(w http.ResponseWriter, r *http.Request) {
	run, err := runParam(r.URL.Query().Get("run"))
	var v report.CIDView
	if err == nil {
		v, err = report.CID(r.Context(), s.st, r.PathValue("cid"), run)
	}
	s.api(w, r, v, err)
}

func (s *Server) apiTrend(w http.ResponseWriter, r *http.Request) {
	t, err := s.trendOf(r)
	s.api(w, r, t, err)
}

func (s *Server) apiDiff(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a, err := runParam(q.Get("a"))
	var b int64
	if err == nil {
		b, err = runParam(q.Get("b"))
	}
	if err == nil && (a == 0 || b == 0) {
		err = fmt.Errorf("%w: want two runs: ?a=RUN&b=RUN", report.ErrUsage)
	}
	var d report.Diff
	if err == nil {
		d, err = report.DiffRuns(r.Context(), s.st, a, b, q.Get("all") == "true")
	}
	s.api(w, r, d, err)
}
