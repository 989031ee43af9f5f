package promqltest

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// grafanaVars are the Grafana variables the dashboards may use in PromQL, with a value of their
// kind, as Grafana substitutes them before a query reaches Prometheus.
var grafanaVars = strings.NewReplacer("$__rate_interval", "2m", "$__interval", "1m", "$__range", "1h")

type dashboard struct {
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// TestDashboardExpressionsParse parses every PromQL query of every dashboard (the clocks and the
// storage one), each of which has some.
func TestDashboardExpressionsParse(t *testing.T) {
	files, _ := filepath.Glob("../grafana/dashboards/*.json")
	if len(files) == 0 {
		t.Fatal("no dashboards in deploy/grafana/dashboards")
	}
	p := parser.NewParser(parser.Options{})
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		before := n
		for _, panel := range d.Panels {
			for _, tg := range panel.Targets {
				if tg.Expr == "" {
					continue
				}
				n++
				if _, err := p.ParseExpr(grafanaVars.Replace(tg.Expr)); err != nil {
					t.Errorf("%s: panel %q query %s: %v\n%s", filepath.Base(f), panel.Title, tg.RefID, err, tg.Expr)
				}
			}
		}
		if n == before {
			t.Errorf("%s: no PromQL query among its top-level panels", filepath.Base(f))
		}
	}
	if n < 40 {
		t.Errorf("only %d PromQL queries in the dashboards", n)
	}
}

// TestRulesParse parses and validates every rule file as Prometheus loads it (unknown fields
// refused, every expression parsed, templates of annotations and labels checked).
func TestRulesParse(t *testing.T) {
	files, _ := filepath.Glob("../prometheus/rules/*.yml")
	if len(files) == 0 {
		t.Fatal("no rule files in deploy/prometheus/rules")
	}
	n := 0
	for _, f := range files {
		groups, errs := rulefmt.ParseFile(f, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
		for _, err := range errs {
			t.Errorf("%v", err)
		}
		if groups == nil {
			continue
		}
		for _, g := range groups.Groups {
			n += len(g.Rules)
		}
	}
	if n < 10 {
		t.Errorf("only %d rules", n)
	}
}
