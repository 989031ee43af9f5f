package simnet

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseFaults reads the command-line form of node faults: comma-separated SP=KIND[+KIND...], e.g.
//
//	3=down,4=slow:200ms:2s,5=failfirst:1+reorder,6=deregistered,7=noendpoint,8=ratelimit:100:60s
//
// Kinds: down, hang, readonly, failfirst[:N], slow[:MEDIAN[:P99]], ratelimit[:REQUESTS[:WINDOW]],
// truncated, malformed, oversized[:BYTES], reorder, duplicate, unrequested, noendpoint,
// deregistered. Each SP may appear once.
func ParseFaults(spec string) ([]NodeSpec, error) {
	return parseNodeItems(spec, "faults", "SP", func(sp int64) NodeSpec { return NodeSpec{SPID: sp} }, applyFault)
}

// parseNodeItems reads comma-separated ID=KIND[+KIND...] items, each id once: mk makes an item's
// value, apply applies each of its kinds. what names the flag and idName the id in errors.
func parseNodeItems[T any](spec, what, idName string, mk func(int64) T, apply func(*T, string) error) ([]T, error) {
	var out []T
	seen := map[int64]bool{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		idText, kinds, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("%s: %q is not %s=KIND", what, item, idName)
		}
		id, err := strconv.ParseInt(strings.TrimSpace(idText), 10, 64)
		if err != nil || id <= 0 {
			return nil, fmt.Errorf("%s: %q: %s id must be a positive integer", what, item, idName)
		}
		if seen[id] {
			return nil, fmt.Errorf("%s: %s %d listed twice", what, idName, id)
		}
		seen[id] = true
		v := mk(id)
		for _, kind := range strings.Split(kinds, "+") {
			if err := apply(&v, strings.TrimSpace(kind)); err != nil {
				return nil, fmt.Errorf("%s: %s %d: %w", what, idName, id, err)
			}
		}
		out = append(out, v)
	}
	return out, nil
}

func applyFault(ns *NodeSpec, kind string) error {
	name, argText, _ := strings.Cut(kind, ":")
	var args []string
	if argText != "" {
		args = strings.Split(argText, ":")
	}
	f := &ns.Faults
	dur := func(i int, def time.Duration) (Duration, error) {
		if i >= len(args) {
			return Duration(def), nil
		}
		d, err := time.ParseDuration(args[i])
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("%s: %q is not a positive duration", name, args[i])
		}
		return Duration(d), nil
	}
	num := func(i int, def int64) (int64, error) {
		if i >= len(args) {
			return def, nil
		}
		v, err := strconv.ParseInt(args[i], 10, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("%s: %q is not a non-negative integer", name, args[i])
		}
		return v, nil
	}
	maxArgs := 0
	var err error
	switch name {
	case "down":
		f.Down = true
	case "hang":
		f.Hang = true
	case "readonly":
		f.ReadOnly = true
	case "truncated":
		f.Truncated = true
	case "malformed":
		f.Malformed = true
	case "reorder":
		f.Reorder = true
	case "duplicate":
		f.Duplicate = true
	case "unrequested":
		f.Unrequested = true
	case "noendpoint":
		ns.NoEndpoint = true
	case "deregistered":
		ns.Deregistered = true
	case "failfirst":
		maxArgs = 1
		var v int64
		v, err = num(0, 1)
		f.FailFirst = int(v)
	case "oversized":
		maxArgs = 1
		f.Oversized = true
		f.OversizedBytes, err = num(0, 0)
	case "slow":
		maxArgs = 2
		l := &Latency{}
		if l.Median, err = dur(0, 100*time.Millisecond); err == nil {
			l.P99, err = dur(1, 4*time.Duration(l.Median))
		}
		f.Latency = l
	case "ratelimit":
		maxArgs = 2
		rl := &RateLimit{}
		var v int64
		if v, err = num(0, defaultRateRequests); err == nil {
			rl.Requests = int(v)
			rl.Window, err = dur(1, defaultRateWindow)
		}
		f.RateLimit = rl
	default:
		return fmt.Errorf("unknown fault %q", name)
	}
	if err != nil {
		return err
	}
	if len(args) > maxArgs {
		return fmt.Errorf("%s takes at most %d arguments", name, maxArgs)
	}
	return nil
}

// WithNodes returns s with the given node specs merged in: a spec replaces the scenario's node
// with the same SP id, or is added.
func (s Scenario) WithNodes(specs []NodeSpec) Scenario {
	nodes := append([]NodeSpec(nil), s.Nodes...)
	for _, ns := range specs {
		replaced := false
		for i := range nodes {
			if nodes[i].SPID == ns.SPID {
				ns.Endpoint = nodes[i].Endpoint
				nodes[i] = ns
				replaced = true
			}
		}
		if !replaced {
			nodes = append(nodes, ns)
		}
	}
	s.Nodes = nodes
	return s
}

// String describes a node's kind and faults in ParseFaults' form ("" for a healthy node).
func (ns NodeSpec) String() string {
	var k []string
	add := func(b bool, s string) {
		if b {
			k = append(k, s)
		}
	}
	f := ns.Faults
	add(ns.NoEndpoint, "noendpoint")
	add(ns.Deregistered, "deregistered")
	add(f.Down, "down")
	add(f.Hang, "hang")
	add(f.ReadOnly, "readonly")
	add(f.FailFirst > 0, "failfirst:"+strconv.Itoa(f.FailFirst))
	if f.Latency != nil {
		k = append(k, fmt.Sprintf("slow:%s:%s", time.Duration(f.Latency.Median), time.Duration(f.Latency.P99)))
	}
	if f.RateLimit != nil {
		k = append(k, fmt.Sprintf("ratelimit:%d:%s", f.RateLimit.Requests, time.Duration(f.RateLimit.Window)))
	}
	add(f.Truncated, "truncated")
	add(f.Malformed, "malformed")
	add(f.Oversized, "oversized")
	add(f.Reorder, "reorder")
	add(f.Duplicate, "duplicate")
	add(f.Unrequested, "unrequested")
	return strings.Join(k, "+")
}

// ParseRegistryFaults reads the command-line form of the fake registry's faults: comma-separated
// kinds, e.g. revert, garbage, short, huge, slow:500ms.
func ParseRegistryFaults(spec string) (RegistryFaults, error) {
	var f RegistryFaults
	for _, kind := range strings.Split(spec, ",") {
		name, arg, hasArg := strings.Cut(strings.TrimSpace(kind), ":")
		switch {
		case name == "":
		case name == "revert" && !hasArg:
			f.Revert = true
		case name == "garbage" && !hasArg:
			f.Garbage = true
		case name == "short" && !hasArg:
			f.ShortTuple = true
		case name == "huge" && !hasArg:
			f.HugeN = true
		case name == "slow":
			d, err := time.ParseDuration(arg)
			if err != nil || d <= 0 {
				return f, fmt.Errorf("registry faults: slow:%s: want a positive duration such as slow:500ms", arg)
			}
			f.Latency = Duration(d)
		default:
			return f, fmt.Errorf("registry faults: %q: want revert, garbage, short, huge or slow:DURATION", kind)
		}
	}
	return f, nil
}
