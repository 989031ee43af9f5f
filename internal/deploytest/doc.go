// Package deploytest holds tests, and nothing else, for the deployment files at the repository
// root: the Dockerfile, docker-compose.yml, .env.example and deploy/. No Docker engine is needed:
// the compose file is loaded with compose-go (as docker compose loads it), each stage's container
// environment is run through the real configuration loader, and the Dockerfile and the
// Prometheus and Grafana files are checked statically.
package deploytest
