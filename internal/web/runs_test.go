package web

import (
	"io"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/audius-netmon/netmon/internal/store/storetest"
)

// TestRunsOfTwoNetworks: the run history shows each run's network and that network's ratios
// (the other network's cells empty), and a storage run's page has the key ratios in its cards;
// the runs are storetest.TwoNetworks's, worked by hand.
func TestRunsOfTwoNetworks(t *testing.T) {
	st, _ := storetest.TwoNetworks(t)
	srv := New(st, zerolog.Nop())
	get := func(path string) string {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		b, _ := io.ReadAll(rec.Result().Body)
		if rec.Code != 200 {
			t.Fatalf("GET %s: %d\n%s", path, rec.Code, b)
		}
		return string(b)
	}
	cells := func(row string) []string {
		var out []string
		for _, m := range regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`).FindAllStringSubmatch(row, -1) {
			out = append(out, regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[1], ""))
		}
		return out
	}
	page := get("/runs")
	body := page[strings.Index(page, "<tbody>"):]
	rows := strings.Split(body[:strings.Index(body, "</tbody>")], "</tr>")
	// run, network, status, created, took, users (the user_count series), fully synced, missed
	// slots, unreplicated CIDs, under-replicated keys, lost keys, work items, error
	want := [][]string{
		{"3", "storage", "complete", "2026-12-05 12:00:00 UTC", "1m10s", "", "", "", "", "2.0%", "0.0%", "0/-", ""},
		{"2", "storage", "complete", "2026-12-05 11:00:00 UTC", "1m13s", "", "", "", "", "3.0%", "0.5%", "0/-", ""},
		{"1", "clocks", "complete", "2026-12-05 10:00:00 UTC", "1m5s", "4", "25.0%", "2", "12.5%", "", "", "0/-", ""},
	}
	for i, w := range want {
		got := cells(rows[i])
		if len(got) != len(w) {
			t.Fatalf("row %d: %q, want %d cells", i, got, len(w))
		}
		for j := range w {
			if got[j] != w[j] {
				t.Errorf("row %d cell %d = %q, want %q (row %q)", i, j, got[j], w[j], got)
			}
		}
	}
	run2 := get("/runs/2")
	for _, card := range []string{`under-replicated keys</div><div class="v">3.0%`, `lost keys</div><div class="v">0.5%`} {
		if !strings.Contains(run2, card) {
			t.Errorf("run 2's page has no card %q", card)
		}
	}
	if strings.Contains(run2, "fully synced") {
		t.Errorf("storage run 2's page has a fully synced card")
	}
	if run1 := get("/runs/1"); !strings.Contains(run1, `fully synced</div><div class="v">25.0%`) {
		t.Errorf("clocks run 1's page has no fully synced card of 25.0%%")
	}
}
