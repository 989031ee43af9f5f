package store

import (
	"context"
	"strings"
	"testing"

	"github.com/audius-netmon/netmon/internal/testenv"
)

// The NM DB's sessions run without JIT compilation unless the URL asks for it (Open).
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
	}
}
