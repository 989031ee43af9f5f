package deploytest

import (
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/dotenv"
	composeloader "github.com/compose-spec/compose-go/v2/loader"
	composetypes "github.com/compose-spec/compose-go/v2/types"

	"github.com/audius-netmon/netmon/internal/config"
)

// stages are the compose services that run netmon's stage binaries, one per config.Stage.
var stages = []config.Stage{"planner", "fetcher", "loader", "aggregator"}

// operatorEnv is what an operator provides (in the shell or .env) for the compose file to load:
// the discovery database's host and user, which have no sensible default, and its password.
func operatorEnv() map[string]string {
	return map[string]string{
		"FDB_HOST":     "discovery-db.example.internal",
		"FDB_USERNAME": "netmon_reader",
		"FDB_PASSWORD": "discovery-secret",
	}
}

// repoRoot is the repository root, where the deployment files live.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.work")); err != nil {
		t.Fatalf("repository root not found from the test's directory: %v", err)
	}
	return root
}

// loadCompose loads docker-compose.yml as `docker compose` would from the repository root, with
// env as the interpolation environment and the given profiles enabled. Service environments are
// left unresolved (env_file is not read): containerEnv resolves them.
func loadCompose(t *testing.T, env map[string]string, profiles ...string) (*composetypes.Project, error) {
	t.Helper()
	return composeloader.LoadWithContext(t.Context(), composetypes.ConfigDetails{
		WorkingDir:  repoRoot(t),
		ConfigFiles: []composetypes.ConfigFile{{Filename: filepath.Join(repoRoot(t), "docker-compose.yml")}},
		Environment: env,
	}, func(o *composeloader.Options) {
		o.SetProjectName("netmon", true)
		o.Profiles = profiles
		o.SkipResolveEnvironment = true
	})
}

func mustLoadCompose(t *testing.T, env map[string]string, profiles ...string) *composetypes.Project {
	t.Helper()
	p, err := loadCompose(t, env, profiles...)
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	return p
}

func service(t *testing.T, p *composetypes.Project, name string) composetypes.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("docker-compose.yml: no service %q (enabled services: %v)", name, p.ServiceNames())
	}
	return s
}

// containerEnv is the environment compose gives the service's containers from its `environment`
// entries alone: an entry without a value takes the project environment's value, or is left out.
// Every env_file must be optional, so this is what a container gets when there is no .env.
func containerEnv(t *testing.T, p *composetypes.Project, s composetypes.ServiceConfig) map[string]string {
	t.Helper()
	for _, f := range s.EnvFiles {
		if f.Required {
			t.Errorf("service %s: env_file %s is required; mark it required: false so the stack starts without it", s.Name, f.Path)
		}
	}
	env := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			env[k] = *v
		} else if pv, ok := p.Environment[k]; ok {
			env[k] = pv
		}
	}
	return env
}

// loadStageConfig runs a container environment through the stage's real configuration checks.
func loadStageConfig(env map[string]string, st config.Stage) (config.Config, error) {
	noFiles := func(name string) ([]byte, error) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, noFiles)
	if err != nil {
		return cfg, err
	}
	return cfg, cfg.Require(st)
}

// exposesPort reports whether the service's ports include the container port, and whether it is
// published on the same host port.
func exposesPort(s composetypes.ServiceConfig, port uint32) (target, published bool) {
	for _, p := range s.Ports {
		if p.Target == port {
			target = true
			if p.Published == strconv.Itoa(int(port)) {
				published = true
			}
		}
	}
	return target, published
}

func TestComposeServices(t *testing.T) {
	p := mustLoadCompose(t, operatorEnv())
	want := []string{"aggregator", "fetcher", "loader", "nats", "planner", "postgres", "pushgateway", "web"}
	if got := p.ServiceNames(); !slices.Equal(got, want) {
		t.Errorf("services started without a profile = %v, want %v", got, want)
	}
	for _, name := range []string{"prometheus", "grafana"} {
		s, ok := p.DisabledServices[name]
		if !ok {
			t.Errorf("service %s: missing, or started without the observability profile", name)
			continue
		}
		if !slices.Contains(s.Profiles, "observability") {
			t.Errorf("service %s: profiles = %v, want observability", name, s.Profiles)
		}
	}
}

func TestComposeStagesRunTheImage(t *testing.T) {
	root := repoRoot(t)
	p := mustLoadCompose(t, operatorEnv())
	built := dockerfileBinaries(t, parseDockerfile(t, filepath.Join(root, "Dockerfile")))
	for _, st := range stages {
		s := service(t, p, string(st))
		if s.Build == nil || s.Build.Context != root {
			t.Errorf("service %s: build = %+v, want the repository root (build: .)", st, s.Build)
		}
		bin := "netmon-" + string(st)
		if len(s.Entrypoint) != 0 || !slices.Equal([]string(s.Command), []string{bin}) {
			t.Errorf("service %s: entrypoint %q, command %q; want command [%q]", st, s.Entrypoint, s.Command, bin)
		}
		if !built[bin] {
			t.Errorf("service %s runs %s, which the Dockerfile does not build", st, bin)
		}
		if s.Restart != composetypes.RestartPolicyUnlessStopped {
			t.Errorf("service %s: restart = %q, want unless-stopped", st, s.Restart)
		}
		if len(s.EnvFiles) == 0 {
			t.Errorf("service %s: no env_file; want the optional .env", st)
		}
	}
}

func TestComposeFetcherScales(t *testing.T) {
	p := mustLoadCompose(t, operatorEnv())
	f := service(t, p, "fetcher")
	if len(f.Ports) != 0 {
		t.Errorf("fetcher publishes ports %+v; replicas would collide on a fixed host port", f.Ports)
	}
	if f.ContainerName != "" {
		t.Errorf("fetcher: container_name %q stops it from scaling", f.ContainerName)
	}
	if got := f.GetScale(); got != 2 {
		t.Errorf("fetcher replicas by default = %d, want 2", got)
	}

	env := operatorEnv()
	env["NETMON_FETCHERS"] = "5"
	f = service(t, mustLoadCompose(t, env), "fetcher")
	if got := f.GetScale(); got != 5 {
		t.Errorf("fetcher replicas with NETMON_FETCHERS=5 = %d, want 5", got)
	}
}

func TestComposeStagesWaitForHealthyDependencies(t *testing.T) {
	p := mustLoadCompose(t, operatorEnv())
	needs := map[config.Stage][]string{
		"planner":    {"nats"},
		"fetcher":    {"nats"},
		"loader":     {"nats", "postgres"},
		"aggregator": {"nats", "postgres"},
	}
	for _, st := range stages {
		s := service(t, p, string(st))
		for _, dep := range needs[st] {
			d, ok := s.DependsOn[dep]
			if !ok || d.Condition != composetypes.ServiceConditionHealthy {
				t.Errorf("service %s: depends_on %s = %+v, want condition service_healthy", st, dep, d)
			}
		}
		for dep, d := range s.DependsOn {
			if d.Condition != composetypes.ServiceConditionHealthy {
				continue
			}
			if hc := service(t, p, dep).HealthCheck; hc == nil || hc.Disable || len(hc.Test) == 0 {
				t.Errorf("service %s waits for %s to be healthy, but %s has no healthcheck", st, dep, dep)
			}
		}
	}
}

// TestComposeStageEnvironment checks that each stage starts with what compose gives it, with no
// .env at all beyond the discovery database settings.
func TestComposeStageEnvironment(t *testing.T) {
	p := mustLoadCompose(t, operatorEnv())
	nats := service(t, p, "nats")
	pg := service(t, p, "postgres")
	for _, st := range stages {
		t.Run(string(st), func(t *testing.T) {
			env := containerEnv(t, p, service(t, p, string(st)))
			cfg, err := loadStageConfig(env, st)
			if err != nil {
				t.Fatalf("the %s container's environment fails the configuration checks:\n%v\nenvironment: %v", st, err, maskedKeys(env))
			}

			// The default NATS URL (127.0.0.1) is wrong inside compose; it must name the service.
			checkServiceURL(t, "NETMON_NATS_URL", env["NETMON_NATS_URL"], "nats", nats, 4222)
			if cfg.NATSURL != env["NETMON_NATS_URL"] {
				t.Errorf("config NATSURL = %q, want %q from NETMON_NATS_URL", cfg.NATSURL, env["NETMON_NATS_URL"])
			}
			// Prometheus scrapes the stage's default port (deploy/prometheus/prometheus.yml).
			if v, ok := env["NETMON_HTTP_ADDR"]; ok {
				t.Errorf("NETMON_HTTP_ADDR=%q: leave it unset so the stage listens on its default port, which Prometheus scrapes", v)
			}

			switch st {
			case "loader", "aggregator":
				if env["DB_HOST"] != "postgres" || env["DB_PORT"] != "5432" {
					t.Errorf("DB_HOST:DB_PORT = %s:%s, want postgres:5432 (the compose service)", env["DB_HOST"], env["DB_PORT"])
				}
				pgEnv := containerEnv(t, p, pg)
				for k, pk := range map[string]string{"DB_NAME": "POSTGRES_DB", "DB_USERNAME": "POSTGRES_USER", "DB_PASSWORD": "POSTGRES_PASSWORD"} {
					if env[k] == "" || env[k] != pgEnv[pk] {
						t.Errorf("%s does not match the postgres service's %s", k, pk)
					}
				}
			case "planner":
				if env["FDB_HOST"] != operatorEnv()["FDB_HOST"] || env["FDB_PASSWORD"] != operatorEnv()["FDB_PASSWORD"] {
					t.Errorf("the planner does not get the operator's FDB_HOST and FDB_PASSWORD: %v", maskedKeys(env))
				}
			}
			if st == "aggregator" {
				checkServiceURL(t, "PUSH_GATEWAY_URL", env["PUSH_GATEWAY_URL"], "pushgateway", service(t, p, "pushgateway"), 9091)
			}
		})
	}
}

// TestComposeWeb checks the web view's service: the image's netmon command serving on the port
// it publishes, on loopback unless NETMON_BIND_ADDR says otherwise, with an NM DB configuration
// that passes the real checks and matches the postgres service, waiting for it to be healthy.
func TestComposeWeb(t *testing.T) {
	root := repoRoot(t)
	p := mustLoadCompose(t, operatorEnv())
	w := service(t, p, "web")
	built := dockerfileBinaries(t, parseDockerfile(t, filepath.Join(root, "Dockerfile")))
	if len(w.Command) < 2 || w.Command[0] != "netmon" || w.Command[1] != "serve" || !built["netmon"] {
		t.Errorf("web: command %q, want netmon serve (a binary the Dockerfile builds)", w.Command)
	}
	port := uint32(0)
	if i := slices.Index([]string(w.Command), "--addr"); i >= 0 && i+1 < len(w.Command) {
		_, ps, err := net.SplitHostPort(w.Command[i+1])
		if n, perr := strconv.Atoi(ps); err == nil && perr == nil {
			port = uint32(n)
		}
	}
	if port == 0 {
		t.Fatalf("web: command %q does not name its listen address with --addr HOST:PORT", w.Command)
	}
	if _, pub := exposesPort(w, port); !pub {
		t.Errorf("web: port %d not published: %+v", port, w.Ports)
	}
	for _, pt := range w.Ports {
		if pt.HostIP != "127.0.0.1" {
			t.Errorf("web: published on %q by default, want 127.0.0.1 (it has no login)", pt.HostIP)
		}
	}
	if d, ok := w.DependsOn["postgres"]; !ok || d.Condition != composetypes.ServiceConditionHealthy {
		t.Errorf("web: depends_on postgres = %+v, want service_healthy", d)
	}
	env := containerEnv(t, p, w)
	if _, err := loadStageConfig(env, config.Loader); err != nil { // the loader's need: the NM DB
		t.Errorf("the web container's environment fails the NM DB checks:\n%v", err)
	}
	pgEnv := containerEnv(t, p, service(t, p, "postgres"))
	for k, pk := range map[string]string{"DB_NAME": "POSTGRES_DB", "DB_USERNAME": "POSTGRES_USER", "DB_PASSWORD": "POSTGRES_PASSWORD"} {
		if env[k] == "" || env[k] != pgEnv[pk] {
			t.Errorf("web: %s does not match the postgres service's %s", k, pk)
		}
	}
}

// checkServiceURL checks that a URL points at the named compose service on a port it serves.
func checkServiceURL(t *testing.T, name, raw, svcName string, svc composetypes.ServiceConfig, port uint32) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Errorf("%s=%q: %v", name, raw, err)
		return
	}
	host, gotPort, err := net.SplitHostPort(u.Host)
	if err != nil || host != svcName || gotPort != strconv.Itoa(int(port)) {
		t.Errorf("%s=%q: want the %s service on port %d", name, raw, svcName, port)
	}
	if target, _ := exposesPort(svc, port); !target {
		t.Errorf("%s points at %s:%d, but that service does not list port %d", name, svcName, port, port)
	}
}

// maskedKeys lists an environment's variable names without their values (some are secrets).
func maskedKeys(env map[string]string) []string {
	var keys []string
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestComposeNeedsDiscoveryHost(t *testing.T) {
	for name, value := range map[string]*string{"unset": nil, "empty": new(string)} {
		t.Run(name, func(t *testing.T) {
			env := operatorEnv()
			delete(env, "FDB_HOST")
			if value != nil {
				env["FDB_HOST"] = *value
			}
			_, err := loadCompose(t, env)
			if err == nil {
				t.Fatal("docker-compose.yml loads without FDB_HOST; want an error naming it")
			}
			if !strings.Contains(err.Error(), "FDB_HOST") {
				t.Errorf("error without FDB_HOST does not name it: %v", err)
			}
		})
	}
}

func TestComposeInfrastructure(t *testing.T) {
	p := mustLoadCompose(t, operatorEnv())

	nats := service(t, p, "nats")
	if _, pub := exposesPort(nats, 4222); !pub {
		t.Errorf("nats: port 4222 not published as 4222: %+v", nats.Ports)
	}
	cmd := strings.Join(nats.Command, " ")
	if !strings.Contains(" "+cmd+" ", " -js ") || !strings.Contains(cmd, "-sd /data") {
		t.Errorf("nats: command %q does not enable JetStream with its store in /data", cmd)
	}
	checkNamedVolume(t, nats, "/data")
	checkHealthcheck(t, nats, "healthz?js-enabled-only=true")

	pg := service(t, p, "postgres")
	if !strings.HasPrefix(pg.Image, "postgres:16") {
		t.Errorf("postgres: image %q, want postgres:16", pg.Image)
	}
	checkNamedVolume(t, pg, "/var/lib/postgresql/data")
	checkHealthcheck(t, pg, "pg_isready -U postgres")
	if hc := pg.HealthCheck; hc != nil {
		if hc.Interval == nil || time.Duration(*hc.Interval) != 5*time.Second ||
			hc.Timeout == nil || time.Duration(*hc.Timeout) != 5*time.Second ||
			hc.Retries == nil || *hc.Retries != 5 {
			t.Errorf("postgres: healthcheck %+v, want interval 5s, timeout 5s, retries 5", hc)
		}
	}
	pgEnv := containerEnv(t, p, pg)
	if pgEnv["POSTGRES_DB"] != "audius_network_monitoring" || pgEnv["POSTGRES_USER"] != "postgres" || pgEnv["POSTGRES_PASSWORD"] == "" {
		t.Errorf("postgres: POSTGRES_DB=%q POSTGRES_USER=%q, password set %v; want audius_network_monitoring, postgres, a password",
			pgEnv["POSTGRES_DB"], pgEnv["POSTGRES_USER"], pgEnv["POSTGRES_PASSWORD"] != "")
	}

	pgw := service(t, p, "pushgateway")
	if _, pub := exposesPort(pgw, 9091); !pub {
		t.Errorf("pushgateway: port 9091 not published as 9091: %+v", pgw.Ports)
	}
	// Persistence: the file must be on a named volume, or a restart loses every pushed metric.
	var file string
	for _, a := range pgw.Command {
		if v, ok := strings.CutPrefix(a, "--persistence.file="); ok {
			file = v
		}
	}
	if file == "" {
		t.Fatalf("pushgateway: command %q has no --persistence.file", pgw.Command)
	}
	checkNamedVolume(t, pgw, filepath.Dir(file))
}

// checkNamedVolume checks that a named volume is mounted at target.
func checkNamedVolume(t *testing.T, s composetypes.ServiceConfig, target string) {
	t.Helper()
	for _, v := range s.Volumes {
		if v.Target == target {
			if v.Type != composetypes.VolumeTypeVolume || v.Source == "" {
				t.Errorf("service %s: %s is mounted from %s %q, want a named volume", s.Name, target, v.Type, v.Source)
			}
			return
		}
	}
	t.Errorf("service %s: nothing is mounted at %s; want a named volume", s.Name, target)
}

func checkHealthcheck(t *testing.T, s composetypes.ServiceConfig, contains string) {
	t.Helper()
	if s.HealthCheck == nil || !strings.Contains(strings.Join(s.HealthCheck.Test, " "), contains) {
		t.Errorf("service %s: healthcheck %+v, want one running %q", s.Name, s.HealthCheck, contains)
	}
}

// composeVar matches a ${NAME...} reference in the compose file.
var composeVar = regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*)`)

// TestEnvExample checks that .env.example documents every variable the compose file reads, and
// that a .env copied from it (with the discovery database filled in) starts every stage.
func TestEnvExample(t *testing.T) {
	root := repoRoot(t)
	example, err := os.ReadFile(filepath.Join(root, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	compose, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	mentions := func(name string) bool {
		return regexp.MustCompile(`(?m)^#?\s*` + name + `=`).Match(example)
	}
	for _, m := range composeVar.FindAllSubmatch(compose, -1) {
		if name := string(m[1]); !mentions(name) {
			t.Errorf(".env.example does not mention %s, which docker-compose.yml reads", name)
		}
	}
	for name := range (config.Config{}).Redacted() { // every variable the configuration reads
		if !mentions(name) {
			t.Errorf(".env.example does not mention %s, which the stages read", name)
		}
	}

	// An operator's .env: the example with the discovery database filled in. docker compose
	// reads it both for interpolation and, through env_file, into every stage's environment.
	dotenv := string(example)
	for k, v := range operatorEnv() {
		dotenv += "\n" + k + "=" + v
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(dotenv), 0o600); err != nil {
		t.Fatal(err)
	}
	proj, err := composeloader.LoadWithContext(t.Context(), composetypes.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []composetypes.ConfigFile{{Filename: filepath.Join(root, "docker-compose.yml")}},
		Environment: dotenvMap(t, filepath.Join(dir, ".env")),
	}, func(o *composeloader.Options) { o.SetProjectName("netmon", true) })
	if err != nil {
		t.Fatalf("load docker-compose.yml with .env.example as .env: %v", err)
	}
	for _, st := range stages {
		s := service(t, proj, string(st))
		got := map[string]string{}
		for k, v := range s.Environment {
			if v != nil {
				got[k] = *v
			}
		}
		if _, err := loadStageConfig(got, st); err != nil {
			t.Errorf("with .env.example as .env, the %s container's environment fails the configuration checks:\n%v", st, err)
		}
	}
}

// dotenvMap reads a .env file the way docker compose does for interpolation.
func dotenvMap(t *testing.T, path string) map[string]string {
	t.Helper()
	m, err := dotenv.GetEnvFromFile(map[string]string{}, []string{path})
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return m
}
