package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a child process (a stage, nats-server, the Pushgateway) whose output is kept in memory
// and shown only when something fails.
type proc struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out.Len() > 1<<20 { // keep the tail only
		p.out.Next(p.out.Len() - 512<<10)
	}
	return p.out.Write(b)
}

// Output is what the process printed so far (its last MiB).
func (p *proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func startProc(name, bin string, env []string, args ...string) (*proc, error) {
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout = p
	p.cmd.Stderr = p
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	return p, nil
}

// Exited reports whether the process has ended.
func (p *proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop asks the process to stop (SIGINT) and kills it after grace.
func (p *proc) Stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// usage is what /proc says about a live process: peak resident set (VmHWM) and CPU time.
type usage struct {
	PeakRSS int64         // bytes
	CPU     time.Duration // user + system
}

// readUsage reads /proc/<pid>/status and /proc/<pid>/stat; the process must still be running.
func readUsage(pid int) (usage, error) {
	var u usage
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	u.PeakRSS = statusKiB(status, "VmHWM:") << 10
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	u.CPU = statCPU(stat)
	return u, nil
}

// statusKiB is the value of a "Name:   1234 kB" line of /proc/<pid>/status.
func statusKiB(status []byte, key string) int64 {
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				v, _ := strconv.ParseInt(f[0], 10, 64)
				return v
			}
		}
	}
	return 0
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// statCPU is utime + stime of a /proc/<pid>/stat line (fields 14 and 15; the command name in
// field 2 may contain spaces, so fields are counted after its closing parenthesis).
func statCPU(stat []byte) time.Duration {
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTicks
}

// selfUsage is the bench process's own CPU time (the simulated content nodes live in it).
func selfUsage() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// freeAddr is a loopback host:port that was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitHTTP polls url until it answers 200, p exits, or timeout passes.
func waitHTTP(ctx context.Context, url string, p *proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if p != nil && p.Exited() {
			return fmt.Errorf("%s exited before %s answered:\n%s", p.name, url, p.Output())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s (last error: %v)", url, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// natsServer is a nats-server process with JetStream and a fresh store directory.
type natsServer struct {
	*proc
	URL string
	dir string
}

func startNATS(ctx context.Context, bin string) (*natsServer, error) {
	dir, err := os.MkdirTemp("", "netmon-bench-nats-")
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	mon, err := freeAddr()
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(addr)
	_, mport, _ := net.SplitHostPort(mon)
	p, err := startProc("nats-server", bin, os.Environ(), "-a", host, "-p", port, "-m", mport, "-js", "-sd", dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := waitHTTP(ctx, "http://"+mon+"/healthz?js-enabled-only=true", p, 15*time.Second); err != nil {
		p.Stop(time.Second)
		os.RemoveAll(dir)
		return nil, err
	}
	return &natsServer{proc: p, URL: "nats://" + addr, dir: dir}, nil
}

func (n *natsServer) Close() {
	n.Stop(10 * time.Second)
	os.RemoveAll(n.dir)
}

// natsVersion is the output of `nats-server --version`.
func natsVersion(bin string) (string, error) {
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s --version: %v: %s", bin, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// FindBinary resolves name in dir, then on PATH.
func FindBinary(dir, name string) (string, error) {
	if dir != "" {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found in %q or on PATH", name, dir)
	}
	return p, nil
}

// pushgateway is a Pushgateway process on a free loopback port.
type pushgateway struct {
	*proc
	url string
}

func startPushgateway(ctx context.Context, bin string) (*pushgateway, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p, err := startProc("pushgateway", bin, os.Environ(), "--web.listen-address="+addr, "--log.level=warn")
	if err != nil {
		return nil, err
	}
	url := "http://" + addr
	if err := waitHTTP(ctx, url+"/-/ready", p, 15*time.Second); err != nil {
		p.Stop(time.Second)
		return nil, err
	}
	return &pushgateway{proc: p, url: url}, nil
}

// machineCPU is the busy CPU time of the whole machine so far (/proc/stat, all CPUs: every
// state but idle and iowait).
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * time.Second / clockTicks
}

// postgresCPU is the CPU time of every process named postgres, plus what a postmaster (a
// postgres whose parent is not one) collected from backends that have exited.
func postgresCPU() time.Duration {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	type entry struct {
		ppid     string
		cpu      time.Duration
		children time.Duration
	}
	procs := map[string]entry{}
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		comm, err := os.ReadFile("/proc/" + d.Name() + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		stat, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 15 {
			continue
		}
		cu, _ := strconv.ParseInt(f[13], 10, 64)
		cs, _ := strconv.ParseInt(f[14], 10, 64)
		procs[d.Name()] = entry{ppid: f[1], cpu: statCPU(stat), children: time.Duration(cu+cs) * time.Second / clockTicks}
	}
	var total time.Duration
	for _, e := range procs {
		total += e.cpu
		if _, child := procs[e.ppid]; !child {
			total += e.children
		}
	}
	return total
}
