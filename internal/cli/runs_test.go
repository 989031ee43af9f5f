package cli

import (
	"regexp"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/audius-netmon/netmon/internal/store/storetest"
)

// table lays out rows as runs list does (tabwriter, two spaces apart).
func table(rows ...string) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, r := range rows {
		tw.Write([]byte(r + "\n"))
	}
	tw.Flush()
	return b.String()
}

// TestRunsOfTwoNetworks (over storetest.TwoNetworks's runs): runs list shows each run's network and that network's ratios (the
// other network's columns blank); runs diff refuses runs of two networks; runs trend follows the
// metric's network, or --network.
func TestRunsOfTwoNetworks(t *testing.T) {
	_, url := storetest.TwoNetworks(t)
	env := []string{"NETMON_DB_URL=" + url}

	code, out, errOut := runMain(t, env, "runs", "list")
	want := table(
		"run\tnetwork\tstatus\tcreated (UTC)\ttook\tusers\tfully synced\tmissed slots\tunrepl. CIDs\tunder-repl. keys\tlost keys\twork items\tpush\terror",
		"3\tstorage\tcomplete\t2026-12-05 12:00:00\t1m10s\t\t\t\t\t2.0%\t0.0%\t0/-\tpushed\t",
		"2\tstorage\tcomplete\t2026-12-05 11:00:00\t1m13s\t\t\t\t\t3.0%\t0.5%\t0/-\tpushed\t",
		"1\tclocks\tcomplete\t2026-12-05 10:00:00\t1m5s\t-\t25.0%\t2\t12.5%\t\t\t0/-\tpushed\t",
	)
	if code != ExitOK || out != want {
		t.Errorf("runs list: exit %d, stderr %q\n%s\nwant\n%s", code, errOut, out, want)
	}

	code, _, errOut = runMain(t, env, "runs", "diff", "1", "2")
	if code != ExitUsage || !strings.Contains(errOut, "run 1 is a clocks run and run 2 a storage run") {
		t.Errorf("runs diff of a clocks and a storage run: exit %d, stderr %q; want 2 naming both networks", code, errOut)
	}
	code, out, errOut = runMain(t, env, "runs", "diff", "2", "3")
	if code != ExitOK || !strings.HasPrefix(out, "storage runs: run 2 (complete, 2026-12-05 11:00:00 UTC) → run 3 (complete, 2026-12-05 12:00:00 UTC)\n") ||
		!regexp.MustCompile(`(?m)^storage_lost_share\s+0\.005\s+0\s+-0\.005$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^storage_under_replicated_share\s+0\.030\s+0\.020\s+-0\.010$`).MatchString(out) {
		t.Errorf("runs diff 2 3: exit %d, stderr %q\n%s", code, errOut, out)
	}

	for _, c := range []struct {
		args []string
		want string // the heading and the runs
	}{
		{[]string{"--metric", "storage_lost_share"}, `storage_lost_share over the last 2 storage runs \(oldest first\)\n\nseries\s+run 2\s+run 3\n`},
		{[]string{"--metric", "storage_lost_share", "--network", "storage"}, `over the last 2 storage runs`},
		{[]string{"--metric", "user_count"}, `user_count over the last 1 clocks runs \(oldest first\)\n\nseries\s+run 1\n`},
		{nil, `fully_synced_user_count over the last 1 clocks runs`},
	} {
		code, out, errOut := runMain(t, env, append([]string{"runs", "trend"}, c.args...)...)
		if code != ExitOK || !regexp.MustCompile(c.want).MatchString(out) {
			t.Errorf("runs trend %v: exit %d, stderr %q\n%s\nwant it to match %s", c.args, code, errOut, out, c.want)
		}
	}
	for _, args := range [][]string{
		{"--metric", "user_count", "--network", "storage"},
		{"--metric", "storage_lost_share", "--network", "clocks"},
		{"--network", "tape"},
	} {
		if code, _, errOut := runMain(t, env, append([]string{"runs", "trend"}, args...)...); code != ExitUsage {
			t.Errorf("runs trend %v: exit %d, stderr %q; want 2", args, code, errOut)
		}
	}
}
