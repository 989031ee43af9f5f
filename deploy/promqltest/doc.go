// Package promqltest only holds tests: every expression of the Grafana dashboards and the
// Prometheus rules in deploy/ is parsed by Prometheus's own parsers (promql/parser and
// model/rulefmt). It is a module of its own because Prometheus's dependency graph is heavy,
// and nothing of netmon's code needs it.
package promqltest
