package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func runMain(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), args, IO{Environ: env, Stdout: &out, Stderr: &errOut})
	return code, out.String(), errOut.String()
}

// TestCheckSchedule: check validates the schedule with the planner's own parser (61 passed the
// shape check, then the planner refused to start).
func TestCheckSchedule(t *testing.T) {
	code, _, errOut := runMain(t, []string{"NETMON_SCHEDULE=61 * * * *"}, "check", "--offline")
	if code != ExitUsage || !strings.Contains(errOut, `NETMON_SCHEDULE="61 * * * *"`) || !strings.Contains(errOut, "61") {
		t.Errorf("check with minute 61: exit %d, stderr %q; want 2 naming NETMON_SCHEDULE", code, errOut)
	}
	if code, _, errOut := runMain(t, []string{"NETMON_SCHEDULE=30 2 * * *"}, "check", "--offline"); code != ExitOK {
		t.Errorf("check with a good schedule: exit %d, %s", code, errOut)
	}
}

// TestCheckNamesMissingVariables: a database given by parts with one missing names that
// variable, in check's table and in the commands that need it.
func TestCheckNamesMissingVariables(t *testing.T) {
	env := []string{"DB_HOST=db.example", "FDB_NAME=discovery", "NETMON_NATS_URL=nats://127.0.0.1:1", "PUSH_GATEWAY_URL=http://127.0.0.1:1"}
	code, out, _ := runMain(t, env, "check", "--json", "--timeout", "200ms")
	if code != ExitRunFailed {
		t.Errorf("check with nothing reachable: exit %d, want 1", code)
	}
	var rep checkReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("check --json: %v\n%s", err, out)
	}
	detail := map[string]string{}
	for _, p := range rep.Checks {
		detail[p.Component] = p.Status + ": " + p.Detail
	}
	if d := detail["nm db"]; !strings.HasPrefix(d, "unset: DB_NAME is empty (set DB_HOST and DB_NAME, or NETMON_DB_URL") {
		t.Errorf("nm db: %q, want it to name DB_NAME", d)
	}
	if d := detail["discovery db"]; !strings.HasPrefix(d, "unset: FDB_HOST is empty (set FDB_HOST and FDB_NAME") {
		t.Errorf("discovery db: %q, want it to name FDB_HOST", d)
	}
	code, _, errOut := runMain(t, env, "runs", "list")
	if code != ExitUsage || !strings.Contains(errOut, "DB_NAME is empty") {
		t.Errorf("runs list without DB_NAME: exit %d, stderr %q; want 2 naming DB_NAME", code, errOut)
	}
}
