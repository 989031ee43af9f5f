package config

import (
	"net/url"
	"testing"
)

func TestPostgres(t *testing.T) {
	for _, tc := range []struct {
		name        string
		db          Postgres
		conn, shown string
		set         bool
	}{
		{
			name:  "parts, password with URL characters",
			db:    Postgres{Host: "db", Port: 5432, Name: "netmon", User: "netmon", Password: "p@ss:w/rd s3cr3t"},
			conn:  "postgres://netmon:p%40ss%3Aw%2Frd%20s3cr3t@db:5432/netmon",
			shown: "postgres://netmon:***@db:5432/netmon",
			set:   true,
		},
		{
			name:  "no password",
			db:    Postgres{Host: "discovery", Port: 5433, Name: "audius_discovery", User: "reader"},
			conn:  "postgres://reader@discovery:5433/audius_discovery",
			shown: "postgres://reader@discovery:5433/audius_discovery",
			set:   true,
		},
		{
			name:  "no user, no password",
			db:    Postgres{Host: "db", Port: 5432, Name: "netmon"},
			conn:  "postgres://db:5432/netmon",
			shown: "postgres://db:5432/netmon",
			set:   true,
		},
		{
			name:  "password without a user",
			db:    Postgres{Host: "db", Port: 5432, Name: "netmon", Password: "s3cr3t"},
			conn:  "postgres://:s3cr3t@db:5432/netmon",
			shown: "postgres://:***@db:5432/netmon",
			set:   true,
		},
		{
			name:  "IPv6 host",
			db:    Postgres{Host: "::1", Port: 5432, Name: "netmon"},
			conn:  "postgres://[::1]:5432/netmon",
			shown: "postgres://[::1]:5432/netmon",
			set:   true,
		},
		{
			name:  "Unix socket directory goes in the query",
			db:    Postgres{Host: "/var/run/postgresql", Port: 5432, Name: "netmon", User: "netmon"},
			conn:  "postgres://netmon@/netmon?host=%2Fvar%2Frun%2Fpostgresql&port=5432",
			shown: "postgres://netmon@/netmon?host=%2Fvar%2Frun%2Fpostgresql&port=5432",
			set:   true,
		},
		{
			name:  "no port",
			db:    Postgres{Host: "db", Name: "netmon"},
			conn:  "postgres://db/netmon",
			shown: "postgres://db/netmon",
			set:   true,
		},
		{
			name:  "URL wins over the parts and keeps its options",
			db:    Postgres{Host: "ignored", Port: 1, Name: "ignored", URL: "postgres://netmon:s3cr3t@db:5432/netmon?sslmode=require"},
			conn:  "postgres://netmon:s3cr3t@db:5432/netmon?sslmode=require",
			shown: "postgres://netmon:***@db:5432/netmon?sslmode=require",
			set:   true,
		},
		{
			name:  "password in the URL's query",
			db:    Postgres{URL: "postgresql://netmon@db/netmon?sslmode=disable&password=s3cr3t"},
			conn:  "postgresql://netmon@db/netmon?sslmode=disable&password=s3cr3t",
			shown: "postgresql://netmon@db/netmon?sslmode=disable&password=***",
			set:   true,
		},
		{
			name:  "a URL that does not parse is masked whole",
			db:    Postgres{URL: "postgres://netmon:s3cr3t@db:port/netmon"},
			conn:  "postgres://netmon:s3cr3t@db:port/netmon",
			shown: "***",
			set:   true,
		},
		{
			name: "host without a name is not set",
			db:   Postgres{Host: "db", Port: 5432},
			conn: "postgres://db:5432/", shown: "postgres://db:5432/",
			set: false,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.db.ConnString(); got != tc.conn {
				t.Errorf("ConnString() = %q, want %q", got, tc.conn)
			}
			if got := tc.db.String(); got != tc.shown {
				t.Errorf("String() = %q, want %q", got, tc.shown)
			}
			if got := tc.db.IsSet(); got != tc.set {
				t.Errorf("IsSet() = %v, want %v", got, tc.set)
			}
		})
	}
}

// TestPostgresPasswordRoundTrip: whatever the password, the driver reads back the same one.
func TestPostgresPasswordRoundTrip(t *testing.T) {
	for _, pw := range []string{"plain", "p@ss:w/rd?#%&=+ ", "ünïcødé", `'"\`} {
		db := Postgres{Host: "db", Port: 5432, Name: "netmon", User: "u@x", Password: Secret(pw)}
		u, err := url.Parse(db.ConnString())
		if err != nil {
			t.Fatalf("%q: %v", pw, err)
		}
		got, _ := u.User.Password()
		if got != pw || u.User.Username() != "u@x" {
			t.Errorf("password %q read back as %q, user %q", pw, got, u.User.Username())
		}
	}
}
