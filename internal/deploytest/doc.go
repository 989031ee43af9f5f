// Package deploytest holds tests, and nothing else, for the deployment files at the repository
// root: the Dockerfile, docker-compose.yml, .env.example and deploy/. No Docker engine is needed:
// the compose file is loaded with compose-go (as docker compose loads it), each stage's container
// environment is run through the real configuration loader, and the Dockerfile and the
// Prometheus and Grafana files are checked statically. One test runs Debian's real Prometheus with
// deploy/'s configuration and rules against live runs (prometheus_test.go): every dashboard query
// must return data. (Every expression is also parsed by Prometheus's own parser in the test-only
// module deploy/promqltest.)
package deploytest
