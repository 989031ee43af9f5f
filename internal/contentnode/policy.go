package contentnode

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Policy says which addresses a content-node endpoint may reach. Endpoints come from the
// discovery database, that is from the registry, which third parties write: without a policy a
// registry entry could aim the fetchers at a cloud metadata service (169.254.169.254) or at
// internal services next to them (server-side request forgery).
//
// Always refused: link-local addresses (169.254.0.0/16, fe80::/10: cloud metadata services live
// there), the AWS IPv6 and Alibaba metadata addresses, unspecified, multicast, broadcast and
// reserved addresses. With BlockPrivate, loopback, private (RFC 1918, fc00::/7) and shared
// (100.64.0.0/10) addresses are refused too. Allow lists networks that are allowed whatever the
// rules say. The zero Policy allows loopback and private networks, which the simulated network,
// the demo and the tests use.
//
// The rules are checked on the endpoint URL (scheme, user info, a literal address), on every
// redirect, and on every address actually dialled, so a host name that resolves to a refused
// address is refused too.
type Policy struct {
	BlockPrivate bool
	Allow        []netip.Prefix
}

// BlockedError is why the Policy refused an endpoint or an address.
type BlockedError struct {
	Addr netip.Addr // the refused address; invalid when the URL itself was refused
	Why  string
}

func (e *BlockedError) Error() string {
	if e.Addr.IsValid() {
		return fmt.Sprintf("address %s refused: %s", e.Addr, e.Why)
	}
	return "endpoint refused: " + e.Why
}

// Addresses refused whatever BlockPrivate says, beyond what netip classifies.
var alwaysBlocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),          // "this network"
	netip.MustParsePrefix("240.0.0.0/4"),        // reserved, and broadcast
	netip.MustParsePrefix("fd00:ec2::254/128"),  // AWS instance metadata over IPv6
	netip.MustParsePrefix("100.100.100.200/32"), // Alibaba Cloud metadata
	netip.MustParsePrefix("192.0.0.192/32"),     // Oracle Cloud legacy metadata
}

// Shared address space (carrier-grade NAT), refused with BlockPrivate like private networks.
var sharedSpace = netip.MustParsePrefix("100.64.0.0/10")

// NAT64's well-known prefix carries an IPv4 address in its last 32 bits.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// CheckAddr says whether a may be dialled: nil, or a *BlockedError.
func (p Policy) CheckAddr(a netip.Addr) error {
	if !a.IsValid() {
		return &BlockedError{Why: "not an IP address"}
	}
	a = a.Unmap().WithZone("")
	for _, n := range p.Allow {
		if n.Contains(a) {
			return nil
		}
	}
	if nat64.Contains(a) {
		b := a.As16()
		if err := p.CheckAddr(netip.AddrFrom4([4]byte(b[12:]))); err != nil {
			return &BlockedError{Addr: a, Why: "NAT64 address of a refused one: " + err.(*BlockedError).Why}
		}
	}
	for _, n := range alwaysBlocked {
		if n.Contains(a) {
			return &BlockedError{Addr: a, Why: "reserved or cloud-metadata address"}
		}
	}
	switch {
	case a.IsUnspecified():
		return &BlockedError{Addr: a, Why: "unspecified address"}
	case a.IsLinkLocalUnicast():
		return &BlockedError{Addr: a, Why: "link-local address (cloud metadata services live there)"}
	case a.IsMulticast():
		return &BlockedError{Addr: a, Why: "multicast address"}
	case !p.BlockPrivate:
		return nil
	case a.IsLoopback():
		return &BlockedError{Addr: a, Why: "loopback address (NETMON_CN_BLOCK_PRIVATE)"}
	case a.IsPrivate(), sharedSpace.Contains(a):
		return &BlockedError{Addr: a, Why: "private address (NETMON_CN_BLOCK_PRIVATE)"}
	}
	return nil
}

// CheckEndpoint says whether an endpoint URL may be called: an http or https URL with a host and
// no user info, whose host, if it is a literal address, has no IPv6 zone and passes CheckAddr. Host names are checked
// when dialled. The error is a *BlockedError.
func (p Policy) CheckEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	switch {
	case err != nil:
		return &BlockedError{Why: "not a URL"}
	case u.Scheme != "http" && u.Scheme != "https":
		return &BlockedError{Why: "not an http(s) URL"}
	case u.Host == "" || u.Hostname() == "":
		return &BlockedError{Why: "no host"}
	case u.User != nil:
		return &BlockedError{Why: "user info in the URL"}
	case u.Opaque != "":
		return &BlockedError{Why: "not an http(s) URL with a host"}
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return &BlockedError{Addr: a, Why: "IPv6 zone in the host (it names a local interface)"}
		}
		return p.CheckAddr(a)
	}
	if strings.ContainsAny(host, "%/\\ ") {
		return &BlockedError{Why: "malformed host"}
	}
	return nil
}

// control checks every address the dialer is about to connect to.
func (p Policy) control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return &BlockedError{Why: "dial address " + address + " has no port"}
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return &BlockedError{Why: "dial address " + host + " is not an IP address"}
	}
	return p.CheckAddr(a)
}

// maxRedirects bounds the redirects a content-node call follows.
const maxRedirects = 3

// NewHTTPClient returns an HTTP client for content-node calls that enforces p on every
// connection and redirect. Idle connections are kept per node, so batches to the same node reuse
// them. The caller bounds each call with its context.
func NewHTTPClient(p Policy) *http.Client {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: p.control}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			return p.CheckEndpoint(req.URL.String())
		},
	}
}

// isBlocked reports whether err comes from the Policy.
func isBlocked(err error) bool {
	var be *BlockedError
	return errors.As(err, &be)
}
