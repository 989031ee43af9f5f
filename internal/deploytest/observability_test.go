package deploytest

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	composetypes "github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"

	"github.com/audius-netmon/netmon/internal/stage"
)

// prometheusConfig is the part of prometheus.yml these tests read.
type prometheusConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		HonorLabels   bool   `yaml:"honor_labels"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
		DNSSDConfigs []struct {
			Names []string `yaml:"names"`
			Type  string   `yaml:"type"`
			Port  int      `yaml:"port"`
		} `yaml:"dns_sd_configs"`
	} `yaml:"scrape_configs"`
}

// mountSource returns the host path bind-mounted at target in the service, or fails.
func mountSource(t *testing.T, s composetypes.ServiceConfig, target string) string {
	t.Helper()
	for _, v := range s.Volumes {
		if v.Target == target {
			if v.Type != composetypes.VolumeTypeBind {
				t.Fatalf("service %s: %s is a %s mount, want a bind mount from deploy/", s.Name, target, v.Type)
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Fatalf("service %s: mounts %s at %s: %v", s.Name, v.Source, target, err)
			}
			return v.Source
		}
	}
	t.Fatalf("service %s: nothing is mounted at %s", s.Name, target)
	return ""
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestPrometheusConfig(t *testing.T) {
	p := mustLoadCompose(t, operatorEnv(), "observability")
	prom := service(t, p, "prometheus")
	if _, pub := exposesPort(prom, 9090); !pub {
		t.Errorf("prometheus: port 9090 not published: %+v", prom.Ports)
	}
	file := mountSource(t, prom, "/etc/prometheus/prometheus.yml")
	mountSource(t, prom, "/etc/prometheus/rules")
	for _, v := range prom.Volumes {
		if v.Type == composetypes.VolumeTypeBind && !v.ReadOnly {
			t.Errorf("prometheus: %s is mounted read-write, want read-only", v.Source)
		}
	}

	var cfg prometheusConfig
	readYAML(t, file, &cfg)
	if !slices.Contains(cfg.RuleFiles, "rules/*.yml") {
		t.Errorf("%s: rule_files = %v, want rules/*.yml", file, cfg.RuleFiles)
	}

	// static target or DNS name → the job scraping it
	static := map[string]int{}
	dns := map[string]int{}
	for i, sc := range cfg.ScrapeConfigs {
		for _, s := range sc.StaticConfigs {
			for _, tg := range s.Targets {
				static[tg] = i
			}
		}
		for _, d := range sc.DNSSDConfigs {
			if d.Type == "A" {
				for _, n := range d.Names {
					dns[net.JoinHostPort(n, strconv.Itoa(d.Port))] = i
				}
			}
		}
	}

	// The pushed metrics keep their job label only with honor_labels.
	if i, ok := static["pushgateway:9091"]; !ok {
		t.Errorf("%s: no job scrapes pushgateway:9091", file)
	} else if sc := cfg.ScrapeConfigs[i]; !sc.HonorLabels || sc.JobName != "network-monitoring" {
		t.Errorf("%s: the pushgateway job is %q with honor_labels %v, want network-monitoring with honor_labels: true",
			file, sc.JobName, sc.HonorLabels)
	}

	// Each stage on the port it listens on by default (compose leaves NETMON_HTTP_ADDR unset).
	for _, st := range stages {
		_, port, err := net.SplitHostPort(stage.DefaultHTTPAddr[st])
		if err != nil {
			t.Fatalf("stage.DefaultHTTPAddr[%s] = %q: %v", st, stage.DefaultHTTPAddr[st], err)
		}
		target := net.JoinHostPort(string(st), port)
		_, inStatic := static[target]
		_, inDNS := dns[target]
		switch {
		case st == "fetcher" && !inDNS:
			t.Errorf("%s: fetchers are not found by dns_sd_configs {names: [fetcher], type: A, port: %s}", file, port)
		case st != "fetcher" && !inStatic:
			t.Errorf("%s: no job scrapes %s", file, target)
		}
	}
}

func TestGrafanaProvisioning(t *testing.T) {
	p := mustLoadCompose(t, operatorEnv(), "observability")
	g := service(t, p, "grafana")
	if _, pub := exposesPort(g, 3000); !pub {
		t.Errorf("grafana: port 3000 not published: %+v", g.Ports)
	}
	prov := mountSource(t, g, "/etc/grafana/provisioning")
	mountSource(t, g, "/var/lib/grafana/dashboards")

	var sources []grafanaDatasource
	var providers []grafanaProvider
	for _, f := range yamlFiles(t, filepath.Join(prov, "datasources")) {
		var doc struct {
			Datasources []grafanaDatasource `yaml:"datasources"`
		}
		readYAML(t, f, &doc)
		sources = append(sources, doc.Datasources...)
	}
	for _, f := range yamlFiles(t, filepath.Join(prov, "dashboards")) {
		var doc struct {
			Providers []grafanaProvider `yaml:"providers"`
		}
		readYAML(t, f, &doc)
		providers = append(providers, doc.Providers...)
	}

	i := slices.IndexFunc(sources, func(d grafanaDatasource) bool { return d.UID == "netmon-prometheus" })
	if i < 0 {
		t.Errorf("%s/datasources: no datasource with uid netmon-prometheus (the dashboards' fixed uid)", prov)
	} else {
		if sources[i].Type != "prometheus" {
			t.Errorf("datasource netmon-prometheus has type %q, want prometheus", sources[i].Type)
		}
		checkServiceURL(t, "datasource netmon-prometheus url", sources[i].URL, "prometheus", service(t, p, "prometheus"), 9090)
	}
	i = slices.IndexFunc(sources, func(d grafanaDatasource) bool { return d.UID == "netmon-nmdb" })
	if i < 0 {
		t.Errorf("%s/datasources: no datasource with uid netmon-nmdb (the run-history panel's)", prov)
	} else {
		nm := sources[i]
		if nm.Type != "grafana-postgresql-datasource" || nm.JSONData.Database == "" {
			t.Errorf("datasource netmon-nmdb: type %q, database %q; want grafana-postgresql-datasource on the NM DB", nm.Type, nm.JSONData.Database)
		}
		checkServiceURL(t, "datasource netmon-nmdb url", "postgres://"+nm.URL, "postgres", service(t, p, "postgres"), 5432)
		pgEnv := containerEnv(t, p, service(t, p, "postgres"))
		if nm.JSONData.Database != pgEnv["POSTGRES_DB"] || nm.User != pgEnv["POSTGRES_USER"] {
			t.Errorf("datasource netmon-nmdb: database %q user %q, want the postgres service's %q and %q", nm.JSONData.Database, nm.User,
				pgEnv["POSTGRES_DB"], pgEnv["POSTGRES_USER"])
		}
		// The password is the grafana container's variable, which must hold the NM DB's.
		name := strings.TrimPrefix(nm.SecureJSONData.Password, "$")
		if name == nm.SecureJSONData.Password || containerEnv(t, p, g)[name] != pgEnv["POSTGRES_PASSWORD"] {
			t.Errorf("datasource netmon-nmdb: password %q is not a grafana variable holding the postgres password", nm.SecureJSONData.Password)
		}
	}
	if !slices.ContainsFunc(providers, func(pr grafanaProvider) bool {
		return pr.Type == "file" && pr.Options.Path == "/var/lib/grafana/dashboards"
	}) {
		t.Errorf("%s/dashboards: no file provider for /var/lib/grafana/dashboards: %+v", prov, providers)
	}
}

type grafanaDatasource struct {
	UID      string `yaml:"uid"`
	Type     string `yaml:"type"`
	URL      string `yaml:"url"`
	User     string `yaml:"user"`
	JSONData struct {
		Database string `yaml:"database"`
	} `yaml:"jsonData"`
	SecureJSONData struct {
		Password string `yaml:"password"`
	} `yaml:"secureJsonData"`
}

type grafanaProvider struct {
	Type    string `yaml:"type"`
	Options struct {
		Path string `yaml:"path"`
	} `yaml:"options"`
}

// yamlFiles lists the .yml and .yaml files in dir, failing when there are none.
func yamlFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	for _, ext := range []string{"*.yml", "*.yaml"} {
		m, err := filepath.Glob(filepath.Join(dir, ext))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatalf("%s: no provisioning files", dir)
	}
	return files
}
