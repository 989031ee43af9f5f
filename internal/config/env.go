package config

import (
	"fmt"
	"github.com/robfig/cron/v3"
	"math"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Problems is every problem found in the configuration, one sentence each, starting with the
// variable's name. Load and Require return it as their error, so errors.As(err, &Problems{})
// gets the list.
type Problems []string

// Error lists the problems one per line.
func (p Problems) Error() string { return strings.Join(p, "\n") }

// reader reads variables, collecting problems and warnings instead of stopping at the first.
type reader struct {
	lookup   func(string) (string, bool)
	readFile func(string) ([]byte, error)
	problems Problems
	warnings []string
	fromFile map[string]bool // secret variables whose value came from NAME_FILE
}

// get returns the variable's value with surrounding white space removed. An unset variable and
// an empty one are the same: the original's .env files write `DB_USERNAME=""` to mean "not set".
func (r *reader) get(name string) string {
	v, _ := r.lookup(name)
	return strings.TrimSpace(v)
}

func (r *reader) problemf(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

func (r *reader) warnf(format string, args ...any) {
	r.warnings = append(r.warnings, fmt.Sprintf(format, args...))
}

// invalid records a bad plain value: `NAME="value": want ...`.
func (r *reader) invalid(name, value, want string) {
	r.problemf("%s=%q: %s", name, value, want)
}

// invalidSecret records a bad secret value without showing it.
func (r *reader) invalidSecret(name, want string) {
	from := ""
	if r.fromFile[name] {
		from = " (from " + name + "_FILE)"
	}
	r.problemf("%s=***%s: %s", name, from, want)
}

// secret reads NAME, or the trimmed content of the file named by NAME_FILE (for Docker and
// Kubernetes secrets). Setting both, an unreadable file and an empty file are problems.
func (r *reader) secret(name string) Secret {
	v := r.get(name)
	path := r.get(name + "_FILE")
	switch {
	case path == "":
		return Secret(v)
	case v != "":
		r.problemf("%s and %s_FILE are both set: set one or the other", name, name)
		return ""
	}
	b, err := r.readFile(path)
	if err != nil {
		r.problemf("%s_FILE=%q: cannot read the file: %v", name, path, err)
		return ""
	}
	v = strings.TrimSpace(string(b))
	if v == "" {
		r.problemf("%s_FILE=%q: the file is empty", name, path)
		return ""
	}
	if r.fromFile == nil {
		r.fromFile = map[string]bool{}
	}
	r.fromFile[name] = true
	return Secret(v)
}

// text returns the value, or def when unset.
func (r *reader) text(name, def string) string {
	if v := r.get(name); v != "" {
		return v
	}
	return def
}

// integer returns the value as an int in [lo, hi], or def when unset or bad.
func (r *reader) integer(name string, def, lo, hi int) int {
	v := r.get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		if hi == math.MaxInt {
			r.invalid(name, v, fmt.Sprintf("want an integer >= %d", lo))
		} else {
			r.invalid(name, v, fmt.Sprintf("want an integer from %d to %d", lo, hi))
		}
		return def
	}
	return n
}

// duration returns the value as a Go duration, greater than zero (or at least zero when zeroOK),
// or def when unset or bad.
func (r *reader) duration(name string, def time.Duration, zeroOK bool) time.Duration {
	v := r.get(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		r.invalid(name, v, "want a Go duration such as 90s, 10m or 720h (there is no d unit)")
		return def
	case d < 0 || (d == 0 && !zeroOK):
		if zeroOK {
			r.invalid(name, v, "want a duration >= 0 (0 turns it off)")
		} else {
			r.invalid(name, v, "want a duration > 0")
		}
		return def
	}
	return d
}

// boolean returns the value as strconv.ParseBool reads it, or def when unset or bad.
func (r *reader) boolean(name string, def bool) bool {
	v := r.get(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.invalid(name, v, "want true or false")
		return def
	}
	return b
}

// oneOf returns the value, lower-cased, if it is one of the choices, else def. A bad value's
// problem lists the choices, then note.
func (r *reader) oneOf(name, def string, choices []string, note string) string {
	v := r.get(name)
	if v == "" {
		return def
	}
	for _, c := range choices {
		if strings.EqualFold(v, c) {
			return c
		}
	}
	r.invalid(name, v, "want one of "+strings.Join(choices, ", ")+note)
	return def
}

// spid reads an SP id: a positive integer, or 0 when unset or bad.
func (r *reader) spid(name string) int64 {
	v := r.get(name)
	if v == "" {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		r.invalid(name, v, "want a positive integer SP id")
		return 0
	}
	return n
}

// pieces splits a comma-separated list, trimming each piece and dropping empty ones.
func pieces(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// httpURLProblem says what is wrong with v as an http or https URL, or "" if nothing is.
func httpURLProblem(v string) string {
	u, err := url.Parse(v)
	switch {
	case err != nil:
		return "want an http:// or https:// URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "want an http:// or https:// URL"
	case u.Host == "":
		return "want an http:// or https:// URL with a host"
	}
	return ""
}

// shownURL is a non-secret URL as problems and Redacted show it: any password masked.
func shownURL(v string) string {
	if _, err := url.Parse(v); err != nil {
		return v
	}
	return maskURL(v)
}

// postgresURLProblem says what is wrong with v as a postgres URL, or "" if nothing is.
func postgresURLProblem(v string) string {
	// libpq's URLs start with postgres:// or postgresql://; anything else (postgres:host, a typo
	// such as postgres:://...) could hide a password where masking does not look (FuzzLoad).
	lower := strings.ToLower(v)
	if !strings.HasPrefix(lower, "postgres://") && !strings.HasPrefix(lower, "postgresql://") {
		return "want a postgres:// or postgresql:// URL"
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "want a postgres:// or postgresql:// URL"
	}
	return ""
}

// natsURLProblem says what is wrong with one NATS server URL, or "" if nothing is.
func natsURLProblem(v string) string {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return "want nats://host:port URLs, comma-separated"
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
		return ""
	}
	return "want nats://, tls://, ws:// or wss:// URLs, comma-separated"
}

// hostPortProblem says what is wrong with v as a listen address, or "" if nothing is.
func hostPortProblem(v string) string {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return "want host:port, such as :9101 or 127.0.0.1:9101"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "want host:port with a port from 0 to 65535"
	}
	return ""
}

// signingKeyProblem says what is wrong with a delegate private key, without showing it.
func signingKeyProblem(v string) string {
	h := strings.TrimPrefix(strings.TrimPrefix(v, "0x"), "0X")
	if len(h) != 64 {
		return fmt.Sprintf("want 64 hex digits, optionally 0x-prefixed (got %d characters)", len(h))
	}
	for _, c := range h {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return "want 64 hex digits, optionally 0x-prefixed (found a character that is not hex)"
		}
	}
	return ""
}

// ParseSchedule parses NETMON_SCHEDULE exactly as the planner runs it: a standard cron expression
// of five fields (minute hour day-of-month month day-of-week) or a descriptor (@daily, @hourly,
// @weekly, @every 6h, ...). "off" is no schedule (nil, nil). It is the one parser of the
// setting: Load validates with it, the planner schedules with it.
func ParseSchedule(v string) (cron.Schedule, error) {
	if v == "off" {
		return nil, nil
	}
	sched, err := cron.ParseStandard(v)
	if err != nil {
		return nil, fmt.Errorf("want @daily, @hourly, @every 6h, off, or 5 cron fields (minute hour day-of-month month day-of-week): %w", err)
	}
	return sched, nil
}

// A namespace is a NATS subject token and the prefix of stream, consumer and bucket names
// (package bus), so it is letters, digits, '_' and '-'; a demo database name is a Postgres
// identifier that needs no quoting, with room for the "_discovery" suffix.
var (
	namespacePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	demoDBPattern    = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,52}$`)
)

const (
	namespaceWant = "want 1-32 lower-case letters, digits, '_' or '-', starting with a letter"
	demoDBWant    = "want a Postgres database name of at most 53 lower-case letters, digits or '_', not starting with a digit"
)

// matching returns the value when it matches pattern, or def when unset or bad (then want says
// what a good value is).
func (r *reader) matching(name, def string, pattern *regexp.Regexp, want string) string {
	v := r.get(name)
	if v == "" {
		return def
	}
	if !pattern.MatchString(v) {
		r.invalid(name, v, want)
		return def
	}
	return v
}

// scheduleProblem is why v is no schedule, or "".
func scheduleProblem(v string) string {
	if _, err := ParseSchedule(v); err != nil {
		return err.Error()
	}
	return ""
}

// closest returns the known name nearest to name by edit distance, if it is near enough to be
// a likely typo.
func closest(name string, known []string) string {
	best, bestD := "", 4
	for _, k := range known {
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func sorted(s []string) []string {
	sort.Strings(s)
	return s
}
