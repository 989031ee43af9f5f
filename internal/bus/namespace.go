package bus

import "strings"

// Namespace separates installations that share one NATS server: every stream, durable consumer,
// key-value bucket and subject of a namespace carries its name, so two namespaces never see each
// other's messages. The empty namespace is netmon's own names, unchanged (NETMON_WORK,
// netmon.work.<run>.<sp>, ...); namespace "blue" has blue_NETMON_WORK, blue.netmon.work.<run>.<sp>,
// the durable blue_loader and the bucket blue_netmon_state.
//
// Package message and the stages' logic know only the names without a namespace: Conn adds the
// namespace to everything it sends, creates and reads, and takes it off every subject it hands
// back (Delivery.Subject, Stored.Subject), so nothing outside bus ever sees it.
// What a namespace may be is checked where it is configured (NETMON_NAMESPACE, package config).
type Namespace string

// subject is s in the namespace.
func (ns Namespace) subject(s string) string {
	if ns == "" {
		return s
	}
	return string(ns) + "." + s
}

// subjects is every subject of ss in the namespace.
func (ns Namespace) subjects(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = ns.subject(s)
	}
	return out
}

// local is subject s of the namespace without it; a subject outside the namespace is returned
// unchanged (it then parses as no netmon subject).
func (ns Namespace) local(s string) string {
	if ns == "" {
		return s
	}
	return strings.TrimPrefix(s, string(ns)+".")
}

// name is a stream, consumer or bucket name in the namespace.
func (ns Namespace) name(n string) string {
	if ns == "" {
		return n
	}
	return string(ns) + "_" + n
}
