package config

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// NATSAuth is how the stages authenticate to NATS and secure the connection. Every field is
// optional; at most one of user/password, token, nkey seed and creds file is set. A user and
// password may also be given in NETMON_NATS_URL (nats://user:password@host:4222), where they are
// masked when shown.
type NATSAuth struct {
	User         string // NETMON_NATS_USER, with NETMON_NATS_PASSWORD
	Password     Secret // NETMON_NATS_PASSWORD (or _FILE)
	Token        Secret // NETMON_NATS_TOKEN (or _FILE)
	NKeySeedFile string // NETMON_NATS_NKEY_SEED_FILE: a file holding an nkey user seed (SU...)
	CredsFile    string // NETMON_NATS_CREDS_FILE: a .creds file (user JWT and seed, operator mode)
	TLSCA        string // NETMON_NATS_TLS_CA: PEM CA bundle to verify the server with
	TLSCert      string // NETMON_NATS_TLS_CERT: PEM client certificate (mutual TLS), with TLSKey
	TLSKey       string // NETMON_NATS_TLS_KEY: its PEM private key
}

// BasicAuth is an HTTP basic-auth user and password; empty when not used.
type BasicAuth struct {
	Username string
	Password Secret
}

// CNPolicy says which addresses a content-node endpoint may reach. Endpoints come from the
// discovery database (the registry, which third parties write), so a fetcher must not be
// aimed at cloud metadata services or, where asked, at internal services. Link-local
// addresses (cloud metadata lives there) and other never-sensible targets are always refused
// unless listed in AllowNetworks; loopback and private networks are allowed unless
// BlockPrivate is set.
type CNPolicy struct {
	BlockPrivate  bool     // NETMON_CN_BLOCK_PRIVATE (false)
	AllowNetworks []string // NETMON_CN_ALLOW_NETWORKS: CIDRs (canonical, such as 10.0.0.0/8) allowed even when blocked
}

// Names of the settings in this file.
const (
	envAckWait       = "NETMON_ACK_WAIT"
	envNATSUser      = "NETMON_NATS_USER"
	envNATSPassword  = "NETMON_NATS_PASSWORD"
	envNATSToken     = "NETMON_NATS_TOKEN"
	envNATSNKey      = "NETMON_NATS_NKEY_SEED_FILE"
	envNATSCreds     = "NETMON_NATS_CREDS_FILE"
	envNATSTLSCA     = "NETMON_NATS_TLS_CA"
	envNATSTLSCert   = "NETMON_NATS_TLS_CERT"
	envNATSTLSKey    = "NETMON_NATS_TLS_KEY"
	envPushUser      = "NETMON_PUSH_GATEWAY_USERNAME"
	envPushPassword  = "NETMON_PUSH_GATEWAY_PASSWORD"
	envBlockPrivate  = "NETMON_CN_BLOCK_PRIVATE"
	envAllowNetworks = "NETMON_CN_ALLOW_NETWORKS"
)

// ackWait reads NETMON_ACK_WAIT: 0 (unset) leaves each stage its own.
func (r *reader) ackWait() time.Duration {
	d := r.duration(envAckWait, 0, false)
	if d != 0 && d < time.Second {
		r.invalid(envAckWait, r.get(envAckWait), "want a duration of at least 1s")
		return 0
	}
	return d
}

// natsAuth reads the NATS credentials and TLS files. Files are only checked to be readable here;
// the NATS client parses them when it connects.
func (r *reader) natsAuth() NATSAuth {
	a := NATSAuth{
		User:         r.get(envNATSUser),
		Password:     r.secret(envNATSPassword),
		Token:        r.secret(envNATSToken),
		NKeySeedFile: r.file(envNATSNKey),
		CredsFile:    r.file(envNATSCreds),
		TLSCA:        r.file(envNATSTLSCA),
		TLSCert:      r.file(envNATSTLSCert),
		TLSKey:       r.file(envNATSTLSKey),
	}
	userSet := a.User != ""
	passSet := r.get(envNATSPassword) != "" || r.get(envNATSPassword+"_FILE") != ""
	switch {
	case userSet && !passSet:
		r.problemf("%s is empty but %s=%q is set: set both, or neither", envNATSPassword, envNATSUser, a.User)
	case passSet && !userSet:
		r.problemf("%s is empty but %s is set: set both, or neither", envNATSUser, envNATSPassword)
	}
	var methods []string
	if userSet || passSet {
		methods = append(methods, envNATSUser)
	}
	if r.get(envNATSToken) != "" || r.get(envNATSToken+"_FILE") != "" {
		methods = append(methods, envNATSToken)
	}
	if r.get(envNATSNKey) != "" {
		methods = append(methods, envNATSNKey)
	}
	if r.get(envNATSCreds) != "" {
		methods = append(methods, envNATSCreds)
	}
	if len(methods) > 1 {
		r.problemf("%s is set together with %s: authenticate to NATS one way only", methods[0], strings.Join(methods[1:], ", "))
	}
	certSet, keySet := r.get(envNATSTLSCert) != "", r.get(envNATSTLSKey) != ""
	switch {
	case certSet && !keySet:
		r.problemf("%s is empty but %s is set: a client certificate needs its key", envNATSTLSKey, envNATSTLSCert)
	case keySet && !certSet:
		r.problemf("%s is empty but %s is set: set the client certificate too", envNATSTLSCert, envNATSTLSKey)
	}
	return a
}

// pushAuth reads the Pushgateway's basic-auth user and password, which come together.
func (r *reader) pushAuth() BasicAuth {
	a := BasicAuth{Username: r.get(envPushUser), Password: r.secret(envPushPassword)}
	passSet := r.get(envPushPassword) != "" || r.get(envPushPassword+"_FILE") != ""
	switch {
	case a.Username != "" && !passSet:
		r.problemf("%s is empty but %s=%q is set: set both, or neither", envPushPassword, envPushUser, a.Username)
	case passSet && a.Username == "":
		r.problemf("%s is empty but %s is set: set both, or neither", envPushUser, envPushPassword)
	}
	return a
}

// endpointPolicy reads which networks content-node endpoints may reach.
func (r *reader) endpointPolicy() CNPolicy {
	p := CNPolicy{BlockPrivate: r.boolean(envBlockPrivate, false)}
	for _, piece := range pieces(r.get(envAllowNetworks)) {
		if pfx, err := netip.ParsePrefix(piece); err == nil {
			p.AllowNetworks = append(p.AllowNetworks, pfx.Masked().String())
			continue
		}
		if addr, err := netip.ParseAddr(piece); err == nil {
			p.AllowNetworks = append(p.AllowNetworks, netip.PrefixFrom(addr, addr.BitLen()).String())
			continue
		}
		r.problemf("%s entry %q: want an IP address or a CIDR such as 10.1.0.0/16 (comma-separated)", envAllowNetworks, piece)
	}
	return p
}

// file reads a path setting and checks that the file can be read (its content is not kept).
func (r *reader) file(name string) string {
	path := r.get(name)
	if path == "" {
		return ""
	}
	if _, err := r.readFile(path); err != nil {
		r.problemf("%s=%q: cannot read the file: %v", name, path, err)
		return ""
	}
	return path
}

// addSecurity adds this file's settings to a Redacted map.
func addSecurity(m map[string]string, c Config) {
	m[envAckWait] = ""
	if c.AckWait != 0 {
		m[envAckWait] = c.AckWait.String()
	}
	m[envNATSUser] = c.NATSAuth.User
	m[envNATSPassword] = c.NATSAuth.Password.String()
	m[envNATSToken] = c.NATSAuth.Token.String()
	m[envNATSNKey] = c.NATSAuth.NKeySeedFile
	m[envNATSCreds] = c.NATSAuth.CredsFile
	m[envNATSTLSCA] = c.NATSAuth.TLSCA
	m[envNATSTLSCert] = c.NATSAuth.TLSCert
	m[envNATSTLSKey] = c.NATSAuth.TLSKey
	m[envPushUser] = c.PushAuth.Username
	m[envPushPassword] = c.PushAuth.Password.String()
	m[envBlockPrivate] = strconv.FormatBool(c.EndpointPolicy.BlockPrivate)
	m[envAllowNetworks] = strings.Join(c.EndpointPolicy.AllowNetworks, ",")
}
