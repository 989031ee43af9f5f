package deploytest

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction with its continuation lines joined.
type instruction struct {
	line int    // where it starts, for messages
	cmd  string // upper case: FROM, RUN, COPY, ...
	args string
}

// buildStage is one FROM and the instructions under it.
type buildStage struct {
	from  instruction
	image string
	name  string // from "AS name", or ""
	body  []instruction
}

// parseDockerfile splits a Dockerfile into stages, line by line: comments and blank lines are
// dropped and lines ending in a backslash are joined with the next.
func parseDockerfile(t *testing.T, path string) []buildStage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	var ins []instruction
	var cur *instruction
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		more := strings.HasSuffix(line, `\`)
		line = strings.TrimSpace(strings.TrimSuffix(line, `\`))
		if cur == nil {
			cmd, args, _ := strings.Cut(line, " ")
			cur = &instruction{line: n, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		} else {
			cur.args += " " + line
		}
		if !more {
			ins = append(ins, *cur)
			cur = nil
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("%s: line %d: continuation runs off the end of the file", path, cur.line)
	}

	var stages []buildStage
	for _, in := range ins {
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			for len(f) > 0 && strings.HasPrefix(f[0], "--") { // --platform=...
				f = f[1:]
			}
			if len(f) == 0 {
				t.Fatalf("%s: line %d: FROM without an image", path, in.line)
			}
			s := buildStage{from: in, image: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			if in.cmd == "ARG" {
				continue // global build arguments
			}
			t.Fatalf("%s: line %d: %s before the first FROM", path, in.line, in.cmd)
		}
		stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
	}
	return stages
}

// goBuildOutput matches `go build ... -o /out/<binary> ./services/<dir>` in a RUN.
var goBuildOutput = regexp.MustCompile(`go build [^&;|]*-o (\S+) (\./services/[a-z0-9_-]+)`)

// dockerfileBinaries is the set of binary names the build stages produce with `go build -o`.
func dockerfileBinaries(t *testing.T, stages []buildStage) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, s := range stages {
		for _, in := range s.body {
			if in.cmd != "RUN" {
				continue
			}
			for _, m := range goBuildOutput.FindAllStringSubmatch(in.args, -1) {
				out[filepath.Base(strings.Trim(m[1], `"'`))] = true
			}
		}
	}
	return out
}

// serviceMains lists the directories under services/ that hold a main package, with the binary
// name each gets (netmon for the CLI, netmon-<dir> for the rest, as in the Makefile).
func serviceMains(t *testing.T, root string) map[string]string {
	t.Helper()
	mains, err := filepath.Glob(filepath.Join(root, "services", "*", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range mains {
		dir := filepath.Base(filepath.Dir(m))
		bin := "netmon-" + dir
		if dir == "netmon" {
			bin = "netmon"
		}
		out[dir] = bin
	}
	if len(out) == 0 {
		t.Fatal("no services/*/main.go found")
	}
	return out
}

func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	stages := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stage(s), want a builder stage and a final stage", len(stages))
	}

	// The builder: a named golang stage that builds every services/* main without cgo.
	build := stages[0]
	if build.name == "" || !strings.HasPrefix(build.image, "golang:") {
		t.Errorf("first stage is FROM %s (AS %q), want a named golang builder stage", build.image, build.name)
	}
	cgoOff := slices.ContainsFunc(build.body, func(in instruction) bool {
		return in.cmd == "ENV" && regexp.MustCompile(`\bCGO_ENABLED[= ]0\b`).MatchString(in.args)
	})
	built := map[string]string{} // ./services/<dir> → output binary
	for _, in := range build.body {
		if in.cmd != "RUN" {
			continue
		}
		for _, m := range goBuildOutput.FindAllStringSubmatch(in.args, -1) {
			if !cgoOff && !strings.Contains(in.args, "CGO_ENABLED=0") {
				t.Errorf("line %d: builds %s without CGO_ENABLED=0", in.line, m[2])
			}
			if !strings.Contains(in.args, "-trimpath") {
				t.Errorf("line %d: builds %s without -trimpath", in.line, m[2])
			}
			built[strings.TrimPrefix(m[2], "./services/")] = filepath.Base(strings.Trim(m[1], `"'`))
		}
	}
	for dir, bin := range serviceMains(t, root) {
		got, ok := built[dir]
		switch {
		case !ok:
			t.Errorf("services/%s has a main package, but the Dockerfile's builder stage does not build it", dir)
		case got != bin:
			t.Errorf("services/%s is built as %s, want %s (the name docker-compose.yml and the Makefile use)", dir, got, bin)
		}
	}

	// Layer caching: every workspace module's go.mod is copied before the sources, or `go mod
	// download` in the workspace fails on the missing module.
	firstSourceCopy := slices.IndexFunc(build.body, func(in instruction) bool {
		return in.cmd == "COPY" && strings.Fields(in.args)[0] == "."
	})
	if firstSourceCopy < 0 {
		t.Errorf("builder stage never copies the source tree (COPY . .)")
		firstSourceCopy = len(build.body)
	}
	modCopies := ""
	for _, in := range build.body[:firstSourceCopy] {
		if in.cmd == "COPY" {
			modCopies += " " + in.args
		}
	}
	for _, dir := range workspaceModules(t, root) {
		if !strings.Contains(modCopies, " "+dir+"/go.") {
			t.Errorf("module %s (go.work) has no COPY of its go.mod before COPY . .", dir)
		}
	}
	if !strings.Contains(modCopies, " go.work") {
		t.Errorf("go.work is not copied before COPY . .")
	}

	// The final stage: distroless static, non-root, with the binaries on PATH.
	final := stages[len(stages)-1]
	if !strings.HasPrefix(final.image, "gcr.io/distroless/static") || !strings.HasSuffix(final.image, ":nonroot") {
		t.Errorf("final stage is FROM %s, want gcr.io/distroless/static-debian12:nonroot", final.image)
	}
	var user string
	var copied bool
	for _, in := range final.body {
		switch in.cmd {
		case "USER":
			user = in.args
		case "COPY":
			copied = copied || (strings.Contains(in.args, "--from="+build.name) && strings.HasSuffix(in.args, "/usr/local/bin/"))
		}
	}
	if user == "" || strings.HasPrefix(user, "root") || strings.HasPrefix(user, "0") {
		t.Errorf("final stage: USER %q, want a USER line with a non-root user (nonroot:nonroot)", user)
	}
	if !copied {
		t.Errorf("final stage does not COPY --from=%s the binaries into /usr/local/bin/", build.name)
	}
}

// workspaceModules lists go.work's `use` directories, relative to the root, without "./".
func workspaceModules(t *testing.T, root string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "go.work"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, m := range regexp.MustCompile(`(?m)^\s*(?:use\s+)?(\./[^\s)]+)\s*$`).FindAllStringSubmatch(string(b), -1) {
		dirs = append(dirs, strings.TrimPrefix(m[1], "./"))
	}
	if len(dirs) == 0 {
		t.Fatal("go.work lists no modules")
	}
	return dirs
}

func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for _, want := range []string{".git", "bin/", ".env"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
}
