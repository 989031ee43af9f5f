package web_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/audius-netmon/netmon/internal/livetest"
	"github.com/audius-netmon/netmon/internal/simnet"
	"github.com/audius-netmon/netmon/internal/store"
	"github.com/audius-netmon/netmon/internal/web"
)

// chromium finds the browser: NETMON_CHROMIUM, or Debian's chromium on PATH. Missing, the test
// fails saying how to install it.
func chromium(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("NETMON_CHROMIUM"); b != "" {
		return b
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on PATH: install it with `apt-get install chromium` (make test does, through scripts/ensure-services.sh) or set NETMON_CHROMIUM")
	return ""
}

// screenshotDir is where the pages' screenshots go: NETMON_SCREENSHOT_DIR, or the test's
// temporary directory.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("NETMON_SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// TestWebInBrowser runs two runs over a simulated network (node 4 in read-only mode: every
// request gets HTTP 500), serves the web view over the NM DB, and looks at it in headless
// Chromium as an operator would: the last run with node 4's row red and its reason, the run
// history with both runs, a search for a user of node 4 that lands on its answers, a CID of
// such a user, and a metric's trend, every number compared with simnet's truth. The signing key
// the fetchers use appears on no page and in no JSON answer.
func TestWebInBrowser(t *testing.T) {
	bin := chromium(t)
	shots := screenshotDir(t)
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	raw[0] = 0x3a // below the curve order
	key := hex.EncodeToString(raw)
	sc := simnet.Scenario{Seed: 13, UserCount: 60, NodeCount: 4,
		Nodes: []simnet.NodeSpec{{SPID: 4, Faults: simnet.Faults{ReadOnly: true}}}}
	s := livetest.Start(t, sc, "SIGNATURE_SPID=7", "SIGNATURE_SP_DELEGATE_PRIV_KEY=0x"+key)
	for range 2 {
		if _, status := s.Run(t, time.Minute); status != "complete" {
			t.Fatalf("run ended %s", status)
		}
	}
	truth := s.Net.Truth(s.Nodes)

	ctx := t.Context()
	st, err := store.Open(ctx, s.NMDB, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	addrc := make(chan string, 1)
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() {
		served <- web.New(st, zerolog.New(zerolog.NewTestWriter(t))).Serve(sctx, "127.0.0.1:0", func(a string) { addrc <- a })
	}()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	base := "http://" + <-addrc

	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.WindowSize(1360, 900))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	bctx, cancelTimeout := context.WithTimeout(bctx, 90*time.Second)
	defer cancelTimeout()
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return chromedp.Void{}, err
			}
			return chromedp.Void{}, os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		}
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	attr := func(sel, name string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
		if err != nil {
			t.Fatalf("%s of %s: %v", name, sel, err)
		}
		return v.Value
	}
	eval := func(js string) []string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}
	rows := func(sel string) []string {
		return eval(`[...document.querySelectorAll(` + strconv.Quote(sel) + `)].map(r => r.innerText)`)
	}

	// The last run at a glance.
	do("overview", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("nodes")), shot("overview"))
	if h := text("h1"); h != "Run 2 complete" {
		t.Errorf("overview heading %q, want Run 2 complete", h)
	}
	if fully, want := text(".card:nth-child(4) .v"), fmt.Sprintf("%.1f%%", float64(truth.FullySynced)/float64(truth.UserCount)*100); fully != want {
		t.Errorf("overview: fully synced %q, truth %s", fully, want)
	}
	if users := text(".card:nth-child(3) .v"); users != strconv.FormatInt(truth.UserCount, 10) {
		t.Errorf("overview: users %q, truth %d", users, truth.UserCount)
	}
	row4, class4 := text(`tr[data-sp="4"]`), attr(`tr[data-sp="4"]`, "class")
	missed4 := truth.Nodes[3].MissedUsers
	if class4 != "bad" || !strings.Contains(row4, "http_error") || !strings.Contains(row4, fmt.Sprintf("%d user slots got no answer", missed4)) {
		t.Errorf("node 4 (read-only) row: class %q, text %q; want red with http_error and %d missed slots", class4, row4, missed4)
	}
	if class1 := attr(`tr[data-sp="1"]`, "class"); class1 != "ok" {
		t.Errorf("node 1 row has class %q, want ok", class1)
	}

	// Run history: both runs, newest first, with their charts (a dot per run).
	do("runs", chromedp.Navigate(base+"/runs"), chromedp.WaitVisible(chromedp.ID("runs")), shot("runs"))
	if r := rows("#runs tbody tr"); len(r) != 2 || !strings.HasPrefix(r[0], "2\tclocks\tcomplete") || !strings.HasPrefix(r[1], "1\tclocks\tcomplete") {
		t.Errorf("runs table %q, want runs 2 and 1, complete", r)
	}
	if dots := eval(`[...document.querySelectorAll("svg.chart circle")].map(c => c.textContent)`); len(dots) != 4 {
		t.Errorf("chart points %q, want 4 (two charts, two runs)", dots)
	}

	// Search for a user with node 4 as a secondary, a wallet and a sync category: its answers.
	var u simnet.UserTruth
	for id := int64(1); id <= truth.UserCount && u.UserID == 0; id++ {
		if ut, ok := s.Net.UserTruth(id); ok && ut.Category != "" && ut.SPIDs[0] != 4 && slices.Contains(ut.SPIDs[:], 4) {
			u = ut
		}
	}
	if u.UserID == 0 {
		t.Fatal("no user of the scenario has node 4 as a secondary and a sync category")
	}
	do("search a user", chromedp.Navigate(base+"/"), chromedp.SendKeys(chromedp.CSS(`input[name=q]`), strconv.FormatInt(u.UserID, 10)),
		chromedp.Submit(chromedp.CSS(`input[name=q]`)), chromedp.WaitVisible(chromedp.ID("slots")), shot("user"))
	if category := text("#category"); category != u.Category {
		t.Errorf("user %d: category %q, truth %q", u.UserID, category, u.Category)
	}
	slots := rows("#slots tbody tr")
	for k, sp := range u.SPIDs {
		if k >= len(slots) {
			t.Fatalf("user %d: %d slot rows", u.UserID, len(slots))
		}
		want := "clock " + strconv.FormatInt(derefClock(u.Clocks[k]), 10)
		if sp == 4 {
			want = "-2: no answer: clock work item 0: http_error (HTTP 500)"
		}
		if !strings.Contains(slots[k], want) {
			t.Errorf("user %d slot %d (sp %d): %q, want %q", u.UserID, k, sp, slots[k], want)
		}
	}

	// A CID of a user whose replica set has node 4: node 4's answer is red, with the reason.
	cid := cidOf(t, s.NMDB, 2)
	do("cid", chromedp.Navigate(base+"/search?q="+cid), chromedp.WaitVisible(chromedp.CSS(".holders")), shot("cid"))
	if holders := rows(".holders tr.bad"); !slices.ContainsFunc(holders, func(h string) bool {
		return strings.HasPrefix(h, "4\t") && strings.Contains(h, "http_error")
	}) {
		t.Errorf("cid %s: red rows %q, want node 4 with http_error", cid, holders)
	}

	// The trend of the fully synced users: the truth in both runs.
	do("trend", chromedp.Navigate(base+"/trend?metric=fully_synced_user_count"), chromedp.WaitVisible(chromedp.ID("trend")), shot("trend"))
	if row, want := text("#trend tbody tr"), fmt.Sprintf("fully_synced_user_count\t%d\t%d", truth.FullySynced, truth.FullySynced); row != want {
		t.Errorf("trend row %q, want %q", row, want)
	}

	// No page or answer shows the signing key, and nothing but GET and HEAD is accepted.
	for _, path := range []string{"/", "/runs", "/runs/1", "/trend", "/users/" + strconv.FormatInt(u.UserID, 10), "/cids/" + cid,
		"/api/runs", "/api/runs/2", "/api/runs/2/nodes", "/api/users/" + strconv.FormatInt(u.UserID, 10), "/api/cids/" + cid,
		"/api/trend?metric=missed_users_count", "/api/diff?a=1&b=2"} {
		body := get(t, base+path, http.StatusOK)
		if strings.Contains(strings.ToLower(body), key[:16]) {
			t.Errorf("%s shows the signing key", path)
		}
	}
	if d := get(t, base+"/api/diff?a=1&b=2", http.StatusOK); !strings.Contains(d, `"metrics": []`) {
		t.Errorf("two runs of the same network differ:\n%s", d)
	}
	get(t, base+"/api/users/999999", http.StatusNotFound)
	get(t, base+"/api/runs/x", http.StatusBadRequest)
	resp, err := http.Post(base+"/api/runs", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %s, want 405", resp.Status)
	}
	t.Logf("screenshots in %s", shots)
}

func derefClock(c *int64) int64 {
	if c == nil {
		return -3
	}
	return *c
}

func get(t *testing.T, url string, want int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Errorf("GET %s: %s, want %d\n%s", url, resp.Status, want, body)
	}
	return string(body)
}

// cidOf is a CID of the run whose owner has node 4 in its replica set.
func cidOf(t *testing.T, nmDB string, run int64) string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), nmDB)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var cid string
	if err := conn.QueryRow(t.Context(), `SELECT c.cid FROM cids c JOIN users u ON u.run_id = c.run_id AND u.user_id = c.user_id
		WHERE c.run_id = $1 AND 4 IN (u.primary_sp_id, u.secondary1_sp_id, u.secondary2_sp_id) ORDER BY c.batch, c.idx LIMIT 1`, run).Scan(&cid); err != nil {
		t.Fatalf("a CID of node 4: %v", err)
	}
	return cid
}

// TestDefaultAddrIsLoopback: the web view has no login, so unless told otherwise it listens on
// loopback only.
func TestDefaultAddrIsLoopback(t *testing.T) {
	if !strings.HasPrefix(web.DefaultAddr, "127.0.0.1:") {
		t.Errorf("DefaultAddr = %q, want 127.0.0.1:PORT", web.DefaultAddr)
	}
}
