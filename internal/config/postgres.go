package config

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Postgres is one database connection, given either as parts (the original's DB_* and FDB_*
// variables) or as a full URL (NETMON_DB_URL, NETMON_DISCOVERY_DB_URL), which wins over the parts.
type Postgres struct {
	Host     string // a host name, an IP address, or a Unix socket directory (starting with "/")
	Port     int
	Name     string
	User     string
	Password Secret
	URL      Secret // from NETMON_*_URL; when set, the parts are ignored
}

// IsSet reports whether the database is configured: a URL, or at least a host and a name.
func (p Postgres) IsSet() bool { return p.URL != "" || (p.Host != "" && p.Name != "") }

// ConnString is the URL if one was given, else a postgres:// URL built from the parts with the
// user and password URL-escaped. sslmode and other options are left to the driver's defaults
// unless the given URL sets them.
func (p Postgres) ConnString() string {
	if p.URL != "" {
		return p.URL.Reveal()
	}
	return p.build()
}

// String is ConnString with the password masked, safe to log.
func (p Postgres) String() string { return maskURL(p.ConnString()) }

func (p Postgres) build() string {
	u := url.URL{Scheme: "postgres", Path: "/" + p.Name}
	password := p.Password.Reveal()
	switch {
	case p.User != "" && password != "":
		u.User = url.UserPassword(p.User, password)
	case p.User != "":
		u.User = url.User(p.User)
	case password != "":
		u.User = url.UserPassword("", password) // the driver picks the OS user name
	}
	port := ""
	if p.Port != 0 {
		port = strconv.Itoa(p.Port)
	}
	if p.Host == "" || strings.HasPrefix(p.Host, "/") {
		// A socket directory (or no host at all) cannot be the URL's authority; libpq and pgx
		// take it from the query instead.
		q := url.Values{}
		if p.Host != "" {
			q.Set("host", p.Host)
		}
		if port != "" {
			q.Set("port", port)
		}
		u.RawQuery = q.Encode()
	} else if port != "" {
		u.Host = net.JoinHostPort(p.Host, port)
	} else {
		u.Host = p.Host
	}
	return u.String()
}

// maskURL returns raw with the password of its user info and any password or sslpassword query
// parameter replaced by "***"; without either it is returned unchanged. A value that does not
// parse as a URL is masked entirely.
func maskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || strings.Contains(u.Opaque, "@") {
		return "***" // credentials in an opaque URL cannot be told apart (FuzzLoad found one)
	}
	_, masked := u.User.Password()
	if u.RawQuery != "" {
		params := strings.Split(u.RawQuery, "&")
		for i, kv := range params {
			// A key that only starts like a password parameter is masked too: with its '='
			// missing, the password itself is the tail of the key (FuzzLoad found it).
			if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "password") || strings.HasPrefix(k, "sslpassword") {
				params[i], masked = "password=***", true
				if strings.HasPrefix(k, "ssl") {
					params[i] = "sslpassword=***"
				}
			}
		}
		u.RawQuery = strings.Join(params, "&")
	}
	if u.Fragment != "" || u.RawFragment != "" {
		// No URL here has a meaningful fragment, but an unescaped '#' in a password puts the rest
		// of the password there (FuzzLoad found it).
		u.Fragment, u.RawFragment, masked = "***", "", true
	}
	if !masked {
		return raw
	}
	// Redacted writes the password as "xxxxx"; the escaped user name cannot contain ':' or '@',
	// so the first ":xxxxx@" is the password.
	return strings.Replace(u.Redacted(), ":xxxxx@", ":***@", 1)
}
