package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/audius-netmon/netmon/internal/store"
)

// TestDiscoveryUsers reads hand-written users rows as the planner does: current rows only, in
// user_id order, a user_id with several current rows once, NULLs as nil, an empty wallet as "",
// ids at the bounds of discovery's integer columns; and a discovery without a users table is an
// error, not a crash.
func TestDiscoveryUsers(t *testing.T) {
	ctx := context.Background()
	url, conn := discoveryDB(t, `INSERT INTO users (user_id, is_current, txhash, wallet, creator_node_endpoint, primary_id, secondary_ids) VALUES
		(7, true, 'a', '0xAA', 'https://a,https://b', 1, '{2,3}'),
		(7, true, 'b', '0xAA', 'https://a,https://b', 1, '{2,3}'),
		(2147483647, true, '', '', '', -2147483648, '{2147483647}'),
		(3, false, '', '0xCC', 'https://c', 1, '{2,3}'),
		(3, true, '', NULL, NULL, NULL, NULL),
		(5, true, '', ' 0xDD ', 'https://d', 4, '{}')`)
	disc, err := store.OpenDiscovery(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer disc.Close()
	show := func(s *string) string {
		if s == nil {
			return "NULL"
		}
		return fmt.Sprintf("%q", *s)
	}
	showInt := func(n *int64) string {
		if n == nil {
			return "NULL"
		}
		return fmt.Sprint(*n)
	}
	var got []string
	read := func() error {
		got = nil
		return disc.Read(ctx, func(s *store.Snapshot) error {
			return s.Users(ctx, func(u store.DiscoveryUser) error {
				got = append(got, fmt.Sprintf("%d %s %s %s %s %s", u.UserID, show(u.Wallet), show(u.ReplicaSet),
					showInt(u.Primary), showInt(u.Secondary1), showInt(u.Secondary2)))
				return nil
			})
		})
	}
	if err := read(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"3 NULL NULL NULL NULL NULL",
		`5 " 0xDD " "https://d" 4 NULL NULL`,
		`7 "0xAA" "https://a,https://b" 1 2 3`, // two current rows, passed once
		`2147483647 "" "" -2147483648 2147483647 NULL`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("users (-want +got):\n%s", diff)
	}

	if _, err := conn.Exec(ctx, "ALTER TABLE users RENAME TO users_gone"); err != nil {
		t.Fatal(err)
	}
	if err := read(); err == nil || !strings.Contains(err.Error(), "discovery: users") || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("reading without a users table: %v, want the database's error", err)
	}
}
