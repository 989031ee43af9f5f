package store

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/audius-netmon/netmon/internal/testenv"
)

// The NM DB's and discovery's sessions run without JIT compilation unless the URL asks for it
// (Open, OpenDiscovery).
func TestSessionsWithoutJIT(t *testing.T) {
	ctx := context.Background()
	url := testenv.Database(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	jit := func(pool *pgxpool.Pool) string {
		t.Helper()
		var got string
		if err := pool.QueryRow(ctx, "SHOW jit").Scan(&got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	for _, c := range []struct{ url, want string }{{url, "off"}, {url + sep + "jit=on", "on"}} {
		s, err := Open(ctx, c.url, 1)
		if err != nil {
			t.Fatal(err)
		}
		got := jit(s.pool)
		s.Close()
		d, err := OpenDiscovery(ctx, c.url)
		if err != nil {
			t.Fatal(err)
		}
		gotDiscovery := jit(d.pool)
		d.Close()
		if got != c.want || gotDiscovery != c.want {
			t.Errorf("%s: jit = %s in the NM DB's sessions, %s in discovery's; want %s", c.url, got, gotDiscovery, c.want)
		}
	}
}
