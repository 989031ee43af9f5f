package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/audius-netmon/netmon/internal/ethregistry"
)

// Content-node sources (NETMON_CONTENT_NODES_SOURCE).
const (
	SourceDiscovery = "discovery" // the discovery database's ursm_content_nodes
	SourceStatic    = "static"    // NETMON_CONTENT_NODES
	SourceEthereum  = "ethereum"  // the Audius registry on Ethereum (internal/ethregistry)
)

// Ethereum is where the Ethereum registry source reads the content-node list: the original's
// final version's ETH_* variables, and the block to read at.
type Ethereum struct {
	ProviderURL Secret // ETH_PROVIDER_URL: an http(s) JSON-RPC endpoint; it may carry an API key
	Registry    string // ETH_REGISTRY_ADDRESS: the Audius Registry contract, 0x and 40 hex digits
	Block       int64  // NETMON_ETH_BLOCK: 0 (latest) reads at the chain head of each run
}

// IsSet reports whether both the provider and the registry are given.
func (e Ethereum) IsSet() bool { return e.ProviderURL != "" && e.Registry != "" }

// ProviderShown is the provider URL as `netmon check` and logs may show it: its scheme and host
// only, with "/***" when it has anything more (a path, a query or user info may hold an API key,
// as Infura's /v3/KEY and Alchemy's /v2/KEY do).
func (e Ethereum) ProviderShown() string {
	if e.ProviderURL == "" {
		return ""
	}
	u, err := url.Parse(e.ProviderURL.Reveal())
	if err != nil || u.Host == "" || strings.ContainsAny(u.Host, "@") {
		return "***"
	}
	shown := u.Scheme + "://" + u.Host
	if u.User != nil || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		shown += "/***"
	}
	return shown
}

// RegistryOptions are the ethregistry.Options of these settings (its defaults for the rest), for
// every reader of the registry: the planner's content-node list, and the storage network's nodes.
func (e Ethereum) RegistryOptions() (ethregistry.Options, error) {
	registry, err := ethregistry.ParseAddress(e.Registry)
	if err != nil {
		return ethregistry.Options{}, fmt.Errorf("ETH_REGISTRY_ADDRESS: %w", err)
	}
	return ethregistry.Options{URL: e.ProviderURL.Reveal(), Registry: registry, Block: e.Block}, nil
}

// ethereumNames are the variables of the Ethereum source.
var ethereumNames = []string{"ETH_PROVIDER_URL", "ETH_REGISTRY_ADDRESS", "NETMON_ETH_BLOCK"}

// ethereum reads the Ethereum source's settings, checking each value that is given.
func (r *reader) ethereum() Ethereum {
	e := Ethereum{ProviderURL: r.secret("ETH_PROVIDER_URL"), Registry: r.get("ETH_REGISTRY_ADDRESS")}
	if e.ProviderURL != "" {
		if msg := httpURLProblem(e.ProviderURL.Reveal()); msg != "" {
			r.invalidSecret("ETH_PROVIDER_URL", msg+" (netmon speaks JSON-RPC over HTTP)")
			e.ProviderURL = ""
		}
	}
	if e.Registry != "" {
		a, err := ethregistry.ParseAddress(e.Registry)
		switch {
		case err != nil:
			r.invalid("ETH_REGISTRY_ADDRESS", e.Registry, err.Error())
			e.Registry = ""
		case a.IsZero():
			r.invalid("ETH_REGISTRY_ADDRESS", e.Registry, "the zero address is no contract")
			e.Registry = ""
		}
	}
	if v := r.get("NETMON_ETH_BLOCK"); v != "" && !strings.EqualFold(v, "latest") {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			r.invalid("NETMON_ETH_BLOCK", v, "want latest or a block number > 0")
		} else {
			e.Block = n
		}
	}
	return e
}

// nodeSource reads NETMON_CONTENT_NODES_SOURCE. Unset, it is ethereum when ETH_PROVIDER_URL and
// ETH_REGISTRY_ADDRESS are both given (as in the original's final .env), else discovery.
func (r *reader) nodeSource() string {
	def := SourceDiscovery
	if r.given("ETH_PROVIDER_URL") && r.given("ETH_REGISTRY_ADDRESS") {
		def = SourceEthereum
	}
	return r.oneOf("NETMON_CONTENT_NODES_SOURCE", def, []string{SourceDiscovery, SourceStatic, SourceEthereum}, "")
}

// checkEthereum requires the provider and the registry for the Ethereum source, reports one
// given without the other, and warns about settings the chosen source does not use.
func (r *reader) checkEthereum(c *Config) {
	provider, registry := r.given("ETH_PROVIDER_URL"), r.given("ETH_REGISTRY_ADDRESS")
	switch {
	case c.ContentNodeSource == SourceEthereum:
		if !provider {
			r.problemf("ETH_PROVIDER_URL is empty: NETMON_CONTENT_NODES_SOURCE=ethereum reads the registry through this JSON-RPC provider")
		}
		if !registry {
			r.problemf("ETH_REGISTRY_ADDRESS is empty: NETMON_CONTENT_NODES_SOURCE=ethereum needs the Audius Registry contract's address")
		}
	case r.get("NETMON_CONTENT_NODES_SOURCE") == "" && provider != registry:
		set, unset := "ETH_PROVIDER_URL", "ETH_REGISTRY_ADDRESS"
		if registry {
			set, unset = unset, set
		}
		r.problemf("%s is empty but %s is set: set both to read the content-node list from the Ethereum registry, or set NETMON_CONTENT_NODES_SOURCE=discovery", unset, set)
	case c.Storage.NodeSource == SourceEthereum:
		// Storage runs read the registry.
	default:
		for _, name := range ethereumNames {
			if r.given(name) {
				r.warnf("%s is set but not used: NETMON_CONTENT_NODES_SOURCE is %s", name, c.ContentNodeSource)
			}
		}
	}
}

// given reports whether a variable (or, for a secret, its _FILE form) has a value, good or bad.
func (r *reader) given(name string) bool {
	return r.get(name) != "" || r.get(name+"_FILE") != ""
}

func blockShown(b int64) string {
	if b == 0 {
		return "latest"
	}
	return strconv.FormatInt(b, 10)
}
