package simnet

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// The answers are written by hand for speed; they must be the bytes encoding/json writes for the
// same values, wallets that need escaping included.
func TestAnswersEncodeAsEncodingJSON(t *testing.T) {
	hash := "00ff"
	entries := []clockEntry{
		{Wallet: "0xabc", Clock: 7, FilesHash: &hash},
		{Wallet: "", Clock: -1},
		{Wallet: `0x"quoted"\back<tag>&amp`, Clock: -2},
		{Wallet: "0xünï\u2028code\x01\x7f", Clock: 999_999, FilesHash: &hash},
	}
	type plain struct {
		Wallet string `json:"walletPublicKey"`
		Clock  int64  `json:"clock"`
	}
	type hashed struct {
		Wallet    string  `json:"walletPublicKey"`
		Clock     int64   `json:"clock"`
		FilesHash *string `json:"filesHash"`
	}
	var ps []plain
	var hs []hashed
	for _, e := range entries {
		ps = append(ps, plain{e.Wallet, e.Clock})
		hs = append(hs, hashed{e.Wallet, e.Clock, e.FilesHash})
	}
	for _, c := range []struct {
		entries    []clockEntry
		withHashes bool
		want       any
	}{
		{entries, false, ps},
		{entries, true, hs},
		{nil, false, []plain{}},
	} {
		want, err := json.Marshal(map[string]any{"users": c.want})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendClockData(nil, c.entries, c.withHashes); string(got) != string(want) {
			t.Errorf("withHashes %v:\n got %s\nwant %s", c.withHashes, got, want)
		}
	}

	at := time.Date(2026, 12, 5, 16, 30, 1, 234_000_000, time.UTC)
	fn := &fakeNode{signer: "0xDelegate<&>", opts: Options{Now: func() time.Time { return at }}}
	data := []byte(`{"users":[{"walletPublicKey":"0xabc","clock":7}]}`)
	got := fn.envelope(data)
	var env struct {
		Data      json.RawMessage `json:"data"`
		Signer    string          `json:"signer"`
		Timestamp string          `json:"timestamp"`
		Signature string          `json:"signature"`
	}
	if err := json.Unmarshal(got, &env); err != nil {
		t.Fatalf("envelope %s: %v", got, err)
	}
	if env.Timestamp != "2026-12-05T16:30:01.234Z" || len(env.Signature) != 2+130 || string(env.Data) != string(data) {
		t.Errorf("envelope %s", got)
	}
	want, _ := json.Marshal(env)
	if string(got) != string(want) {
		t.Errorf("envelope:\n got %s\nwant %s", got, want)
	}
}

// A request body is read by hand only in netmon's compact shape; whatever it reads is what
// encoding/json reads, and every other body goes to encoding/json.
func TestCompactWallets(t *testing.T) {
	for _, c := range []struct {
		body string
		fast bool
	}{
		{`{"walletPublicKeys":["0xab","0xCD",""]}`, true},
		{`{"walletPublicKeys":[]}`, true},
		{`{"walletPublicKeys":["0xab",]}`, false},
		{`{"walletPublicKeys":["0xab""0xcd"]}`, false},
		{`{"walletPublicKeys":["a\"b"]}`, false},
		{`{"walletPublicKeys":["a\u0062"]}`, false},
		{`{"walletPublicKeys":["ü"]}`, false},
		{`{"walletPublicKeys":["0xab"],"x":["y"]}`, false},
		{`{"walletPublicKeys":[1]}`, false},
		{`{"walletPublicKeys":["0xab"`, false},
		{`{"walletPublicKeys":null}`, false},
		{`{"walletPublicKeys": ["0xab"]}`, false},
	} {
		got, ok := compactWallets([]byte(c.body))
		if ok != c.fast {
			t.Errorf("%s: read by hand %v, want %v", c.body, ok, c.fast)
		}
		if !ok {
			continue
		}
		var want struct {
			Wallets []string `json:"walletPublicKeys"`
		}
		if err := json.Unmarshal([]byte(c.body), &want); err != nil {
			t.Errorf("%s: read by hand, but encoding/json: %v", c.body, err)
		} else if !slices.Equal(got, want.Wallets) {
			t.Errorf("%s: %q, encoding/json %q", c.body, got, want.Wallets)
		}
	}
}
