package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/audius-netmon/netmon/internal/testenv"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds every netmon binary once per test process.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		root := testenv.RepoRoot(t)
		binDir, buildErr = os.MkdirTemp("", "netmon-e2e-bin-")
		if buildErr != nil {
			return
		}
		for _, s := range []string{"planner", "fetcher", "loader", "aggregator", "netmon"} {
			name := "netmon-" + s
			if s == "netmon" {
				name = "netmon"
			}
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, name), "./services/"+s)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("build %s: %v\n%s", s, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// proc is a stage process whose output is kept for the test log.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *bytes.Buffer
	mu   *sync.Mutex
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// startProc starts binary name with env and stops it (SIGTERM, then kill) when the test ends.
func startProc(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &bytes.Buffer{}, mu: &sync.Mutex{}}
	p.cmd = exec.Command(filepath.Join(binaries(t), name), args...)
	p.cmd.Env = env
	p.cmd.Stdout = lockedWriter{p.mu, p.out}
	p.cmd.Stderr = lockedWriter{p.mu, p.out}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			p.mu.Lock()
			t.Logf("--- output of %s ---\n%s", name, p.out.String())
			p.mu.Unlock()
		}
	})
	return p
}

// runCLI runs the netmon command to completion and returns its exit code and output.
func runCLI(t *testing.T, env []string, timeout time.Duration, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binaries(t), "netmon"), args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatalf("netmon %v: %v\n%s", args, err, out)
	}
	return 0, string(out)
}

// scrape reads the Pushgateway's /metrics and returns the pushed series of job as
// name{label="value",...} → value, without the grouping and bookkeeping labels it adds.
func scrape(t *testing.T, base, job string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("scrape pushgateway: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse pushgateway metrics: %v", err)
	}
	out := map[string]float64{}
	for name, fam := range fams {
		if !strings.HasPrefix(name, "audius_nm_") {
			continue
		}
		for _, m := range fam.GetMetric() {
			labels := map[string]string{}
			keep := false
			for _, lp := range m.GetLabel() {
				switch lp.GetName() {
				case "job":
					keep = lp.GetValue() == job
				case "instance":
				default:
					labels[lp.GetName()] = lp.GetValue()
				}
			}
			if keep {
				out[seriesKey(name, labels)] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func seriesKey(name string, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, labels[k])
	}
	b.WriteByte('}')
	return b.String()
}
