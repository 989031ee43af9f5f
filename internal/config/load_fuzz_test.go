package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
)

// fuzzMarker is added to every secret value (and is every secret file's content) in FuzzLoad, so
// the test can tell a secret from anything else shown.
const fuzzMarker = "Zq9sEcReTmArK"

// FuzzLoad feeds arbitrary environments (NAME=VALUE lines) to Load. Whatever the values, Load
// must not panic, must report problems as Problems starting with a variable's name, and must
// never show a secret: not in its error, the warnings, Redacted, or the Config formatted in any
// way.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"good/all-set.env", "good/security.env", "good/urls.env", "bad/many.env",
		"bad/security.env", "bad/urls.env", "bad/secret-files.env"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("NETMON_DB_URL=postgres://u:p@h/db?password=x&sslpassword=y\nDB_PASSWORD_FILE=/x\nDB_PASSWORD=z")
	f.Add("NETMON_NATS_URL=nats://user:pw@[::1]:4222,tls://h:1\nPUSH_GATEWAY_URL=http://a:b@c:9091/x")
	f.Add("SIGNATURE_SPID=1\nSIGNATURE_SP_DELEGATE_PRIV_KEY=0xZZ\nNETMON_CONTENT_NODES=1=http://[fe80::1%25x]:1,=\n")
	f.Add("ETH_PROVIDER_URL=https://u:p@h:1/v3/k?x=1#f\nETH_REGISTRY_ADDRESS=0xd976d3b4f4e22a238c1A736b6612D22f17b6f64c\nNETMON_ETH_BLOCK=0x10")
	f.Add("NETMON_CN_ALLOW_NETWORKS=::ffff:1.2.3.4/200,1.2.3.4/-1\nNETMON_ACK_WAIT=0.5s\nNETMON_SCHEDULE=* * * * * *")
	f.Fuzz(func(t *testing.T, env string) {
		vars := map[string]string{}
		for _, line := range strings.Split(env, "\n") {
			name, value, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			vars[strings.TrimSpace(name)] = value
		}
		secret := map[string]bool{}
		for _, n := range secretNames {
			secret[n] = true
		}
		for name, value := range vars {
			switch {
			case name == "NETMON_DB_URL" || name == "NETMON_DISCOVERY_DB_URL":
				// A database URL is shown with its passwords masked: mark the passwords.
				if strings.Contains(value, fuzzMarker) {
					return
				}
				vars[name] = markPasswords(value)
			case name == "ETH_PROVIDER_URL":
				// A provider URL is shown as its scheme and host: mark where an API key goes.
				if strings.Contains(value, fuzzMarker) {
					return
				}
				vars[name] = markProvider(value)
			case secret[name]:
				vars[name] = value + fuzzMarker
			case strings.Contains(value, fuzzMarker):
				return // a plain value may be shown; it must not look like a secret
			}
		}
		readFile := func(path string) ([]byte, error) {
			if strings.Contains(path, "missing") {
				return nil, errors.New("no such file")
			}
			return []byte(" " + fuzzMarker + path + "\n"), nil
		}
		c, err := Load(func(name string) (string, bool) {
			v, ok := vars[name]
			return v, ok
		}, readFile)
		var problems Problems
		if err != nil && !errors.As(err, &problems) {
			t.Fatalf("error %T, want Problems: %v", err, err)
		}
		for _, p := range problems {
			if p == "" || !(p[0] >= 'A' && p[0] <= 'Z') {
				t.Fatalf("problem %q does not start with a variable's name", p)
			}
		}
		j, jerr := json.Marshal(c)
		if jerr != nil {
			t.Fatalf("json.Marshal(Config): %v", jerr)
		}
		for what, text := range map[string]string{
			"error":    fmt.Sprint(err),
			"warnings": strings.Join(c.Warnings, "\n"),
			"Redacted": fmt.Sprint(c.Redacted()),
			"%v":       fmt.Sprintf("%v", c),
			"%+v":      fmt.Sprintf("%+v", c),
			"%#v":      fmt.Sprintf("%#v", c),
			"json":     string(j),
			"NMDB":     c.NMDB.String(),
			"FDB":      c.DiscoveryDB.String(),
			"provider": c.Ethereum.ProviderShown(),
		} {
			if strings.Contains(text, fuzzMarker) {
				t.Fatalf("%s shows a secret:\n%s\nenv:\n%s", what, text, env)
			}
		}
		_ = c.Require(Planner)
		_ = c.Require(Aggregator)
	})
}

// markProvider adds the marker to the parts of a provider URL that may hold an API key: the path,
// the query, the user info and the fragment. A URL that does not parse is secret as a whole.
func markProvider(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw + fuzzMarker
	}
	u.Path += "/" + fuzzMarker
	u.RawPath = ""
	u.RawQuery += fuzzMarker
	if u.User != nil {
		u.User = url.UserPassword(u.User.Username()+fuzzMarker, fuzzMarker)
	}
	if u.Fragment != "" {
		u.Fragment += fuzzMarker
		u.RawFragment = ""
	}
	return u.String()
}

// markPasswords adds the marker to the parts of a database URL that are secret: the user-info
// password, the password and sslpassword query parameters, and a fragment (where an unescaped '#'
// in a password puts the rest of it). A URL that does not parse is secret as a whole.
func markPasswords(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw + fuzzMarker
	}
	if pw, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), pw+fuzzMarker)
	}
	if u.RawQuery != "" {
		params := strings.Split(u.RawQuery, "&")
		for i, kv := range params {
			if k, _, _ := strings.Cut(kv, "="); k == "password" || k == "sslpassword" {
				params[i] = kv + fuzzMarker
			}
		}
		u.RawQuery = strings.Join(params, "&")
	}
	if u.Fragment != "" {
		u.Fragment += fuzzMarker
		u.RawFragment = ""
	}
	return u.String()
}
