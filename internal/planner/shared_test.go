package planner

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/audius-netmon/netmon/internal/simnet"
	"github.com/audius-netmon/netmon/internal/store"
	"github.com/audius-netmon/netmon/internal/testenv"
)

func TestWalletKeyBytes(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"0xabc", "0xabc"},
		{"0xAbC", "0xabc"},
		{"  0XDEF ", "0xdef"},
		{"", ""},
		{"   ", ""},
		{"\t0xA", "\t0xa"}, // only spaces are trimmed, as btrim(wallet) and WalletKey do
		{" ÜNÏ cöDÉ ", "ünï cödé"},
		{"0x[AZ]@`{", "0x[az]@`{"}, // the bytes around A-Z stay
	} {
		var buf []byte
		if got := string(walletKeyBytes(&buf, []byte(c.in))); got != c.want {
			t.Errorf("walletKeyBytes(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := store.WalletKey(&c.in); got != c.want {
			t.Errorf("WalletKey(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// The buffer is reused and the wallet is never written to.
	buf := make([]byte, 0, 64)
	in := []byte("0xAB")
	if got := string(walletKeyBytes(&buf, in)); got != "0xab" || string(in) != "0xAB" || cap(buf) != 64 {
		t.Errorf("walletKeyBytes(0xAB) = %q, wallet now %q, buffer cap %d", got, in, cap(buf))
	}
}

// TestFindSharedWallets runs findSharedWallets over hand-written users rows: a wallet is in the set
// when two current rows have it as WalletKey makes it, whatever case or spaces each row has (one
// user's rows included: the set may hold wallets of one user, never miss one of several).
func TestFindSharedWallets(t *testing.T) {
	ctx := context.Background()
	sn, err := simnet.Build(simnet.Scenario{Seed: 1, NodeCount: 1, UserCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	url := testenv.Database(t)
	if err := sn.SeedDiscovery(ctx, url); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DELETE FROM users"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		user    int64
		current bool
		txhash  string
		wallet  *string
	}{
		// User 1 has two current rows with one wallet: in the set (remembered, harmless).
		{1, true, "a", ptr("0xAA")},
		{1, true, "b", ptr(" 0xaa")},
		// Users 2 and 3: the same wallet in another case and with spaces: shared.
		{2, true, "", ptr(" 0xBB")},
		{3, true, "", ptr("0xbb  ")},
		// User 4's other row is not current: 0xcc is not shared.
		{4, true, "", ptr("0xcc")},
		{5, false, "", ptr("0xCC")},
		{5, true, "", ptr("0xdd")},
		// No wallet: NULL, empty, spaces only, however many users.
		{6, true, "", nil},
		{7, true, "", nil},
		{8, true, "", ptr("")},
		{9, true, "", ptr("  ")},
		// Unicode lower-casing, as WalletKey does it: shared.
		{10, true, "", ptr("ÜX")},
		{11, true, "", ptr("üx")},
		// User 12's second current row has user 13's wallet: shared.
		{12, true, "a", ptr("0xee")},
		{12, true, "b", ptr("0xff")},
		{13, true, "", ptr("0xFF")},
	} {
		if _, err := conn.Exec(ctx, `INSERT INTO users (user_id, is_current, txhash, wallet) VALUES ($1, $2, $3, $4)`,
			r.user, r.current, r.txhash, r.wallet); err != nil {
			t.Fatal(err)
		}
	}
	disc, err := store.OpenDiscovery(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer disc.Close()
	var s sharedWallets
	if err := disc.Read(ctx, func(snap *store.Snapshot) error {
		s, err = findSharedWallets(ctx, snap)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{"0xaa": true, "0xbb": true, "0xcc": false, "0xdd": false, "": false,
		"üx": true, "0xee": false, "0xff": true} {
		if got := s.has(key); got != want {
			t.Errorf("has(%q) = %v, want %v", key, got, want)
		}
	}
	if len(s.hashes) != 4 {
		t.Errorf("%d shared wallets, want 4 (0xaa, 0xbb, üx, 0xff)", len(s.hashes))
	}
}

func ptr[T any](v T) *T { return &v }
