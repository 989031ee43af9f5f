package stage

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/audius-netmon/netmon/internal/config"
)

// TestCommand: --help prints the stage's usage and exits 0 without reading the configuration or
// starting the stage (it used to start a real fetcher against the default NATS); an argument is
// a usage error; a configuration that fails its checks exits 2 before anything starts.
func TestCommand(t *testing.T) {
	never := func(context.Context, Deps) error {
		t.Error("the stage was started")
		return nil
	}
	for _, st := range []config.Stage{config.Planner, config.Fetcher, config.Loader, config.Aggregator} {
		for _, help := range []string{"--help", "-h", "help"} {
			var out, errOut bytes.Buffer
			// An environment that fails every check: --help must not even read it.
			code := Command(t.Context(), st, []string{help}, []string{"NETMON_FETCH_TIMEOUT=soon"}, &out, &errOut, never)
			if code != 0 || !strings.HasPrefix(out.String(), "Usage: netmon-"+string(st)+"\n") || !strings.Contains(out.String(), "Exit codes") ||
				!strings.Contains(out.String(), DefaultHTTPAddr[st]) || errOut.Len() != 0 {
				t.Errorf("%s %s: exit %d, stdout %q, stderr %q", st, help, code, out.String(), errOut.String())
			}
		}
		var out, errOut bytes.Buffer
		if code := Command(t.Context(), st, []string{"--nats=x"}, nil, &out, &errOut, never); code != 2 ||
			!strings.Contains(errOut.String(), `unexpected argument "--nats=x"`) {
			t.Errorf("%s with an argument: exit %d, stderr %q; want 2", st, code, errOut.String())
		}
	}
	var errOut bytes.Buffer
	code := Command(t.Context(), config.Loader, nil, []string{"NETMON_FETCH_TIMEOUT=soon"}, &bytes.Buffer{}, &errOut, never)
	if code != 2 || !strings.Contains(errOut.String(), "configuration is invalid") || !strings.Contains(errOut.String(), "DB_HOST is empty") {
		t.Errorf("loader with a bad configuration: exit %d, stderr %q; want 2 naming the problems", code, errOut.String())
	}
}
