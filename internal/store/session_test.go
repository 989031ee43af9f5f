package store

import (
	"context"
	"strings"
	"testing"

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
	for _, c := range []struct{ url, want string }{{url, "off"}, {url + sep + "jit=on", "on"}} {
		s, err := Open(ctx, c.url, 1)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		err = s.pool.QueryRow(ctx, "SHOW jit").Scan(&got)
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s: jit = %s, want %s", c.url, got, c.want)
		}
		d, err := OpenDiscovery(ctx, c.url)
		if err != nil {
			t.Fatal(err)
		}
		err = d.pool.QueryRow(ctx, "SHOW jit").Scan(&got)
		d.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("discovery %s: jit = %s, want %s", c.url, got, c.want)
		}
	}
}
