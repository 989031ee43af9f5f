// Package e2e holds the end-to-end tests: the stage binaries run as separate processes against a
// real JetStream server, real Postgres databases, the real Pushgateway binary and simulated
// content nodes over real HTTP, and the pushed metrics are checked against simnet's ground truth
// and the spec's hand-worked example.
package e2e
