package contentnode

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The content node's answers are hostile input: a node (or whoever controls its endpoint in the
// registry) can send anything. These fuzz targets check that the decoders never panic, accept only
// well-formed answers, and never let an answer say more than what was asked. `go test` runs their
// seeds and testdata/fuzz corpora; `make chaos` fuzzes each for a few seconds.

func FuzzDecodeClocks(f *testing.F) {
	for _, s := range []struct{ body, wallets string }{
		{`{"data":{"users":[{"walletPublicKey":"0xAb","clock":3},{"walletPublicKey":"0xcd","clock":-1}]}}`, "0xab,0xCD"},
		{`{"data":{"users":[{"walletPublicKey":"0xab","clock":3},{"walletPublicKey":"0xab","clock":4},{"walletPublicKey":"0xee","clock":1}]}}`, "0xab"},
		{`{"data":{"users":[]}}`, ""},
		{`{"data":{"users":[{"walletPublicKey":"0xab","clock":1.5}]}}`, "0xab"},
		{`{"data":{"users":[{"walletPublicKey":"0xab","clock":1e3}]}}`, "0xab"},
		{`{"data":{"users":[{"walletPublicKey":"0xab","clock":"7"}]}}`, "0xab"},
		{`{"data":{"users":[{"walletPublicKey":"0xab","clock":-2}]}}`, "0xab"},
		{`{"data":{"users":[{"walletPublicKey":"0xab","clock":99999999999999999999}]}}`, "0xab"},
		{`{"data":{"users":[{"walletPublicKey":null,"clock":1}]}}`, "0xab"},
		{`{"data":{"users":[{"walletPublicKey":"0xab"}]}}`, "0xab"},
		{`{"data":{"users":null}}`, "0xab"},
		{`{"data":null}`, "0xab"},
		{`{"data":{"users":[{"walletPublicKey":"0xab","clock":1}]},"data":{"users":[]}}`, "0xab"},
		{`{"data":{"users":[{"walletPublicKey":"0xab","clock":1}`, "0xab"},
		{`<html>busy</html>`, "0xab"},
		{`{"data":{"users":[{"walletPublicKey":"0xAB\u0000","clock":0}]}}`, "0xab"},
		{"{\"data\":{\"users\":[{\"walletPublicKey\":\"\xff\xfe\",\"clock\":0}]}}", "\xff\xfe"},
		// Where the one-pass scanner gives up or must agree with encoding/json.
		{`{"data":{"users":[{"WalletPublicKey":"0xab","clock":1}]}}`, "0xab"},
		{`{"data":{"users":[{"walletPublicKey":"0xab","CLOCK":1,"clock":2}]}}`, "0xab"},
		{`{"data":{"users":[{"walletPublicKey":"0xab","clock":1,"clock":2}]}}`, "0xab"},
		{`{"data":{"users":[{"walletPublicKey":"0xab","walletPublicKey":"0xcd","clock":2}]}}`, "0xab,0xcd"},
		{`{"data":{"users":[{"walletPublicKey":"0x\u0041B","clock":1}]}}`, "0xab"},
		{`{"data":{"users":[{"walletPublicKey":"0xK","clock":1}]}}`, "0x\u212a"},
		{`{"data":{"users":[{"walletPublicKey":"0xAB","clock":-0,"filesHash":null}]},"signer":"0x1","data2":"x"}`, "0xAb,0xab,0xcd"},
		{` {"data" : {"users" : [ {"clock" : 7 , "walletPublicKey" : "0xab" } ] } } `, "0xab"},
		{`{"data":{"users":[]},"Data":{"users":[{"walletPublicKey":"0xab","clock":1}]}}`, "0xab"},
		{`{"data":{"users":[{"walletPublicKey":"0xab","clock":999999999999999999},{"walletPublicKey":"0xcd","clock":1000000000000000000}]}}`, "0xab,0xcd"},
	} {
		f.Add([]byte(s.body), s.wallets)
	}
	f.Fuzz(func(t *testing.T, body []byte, walletList string) {
		wallets := strings.Split(walletList, ",")
		if len(wallets) > 64 {
			wallets = wallets[:64]
		}
		if got, want := listBody("walletPublicKeys", wallets), mustMarshal(t, map[string][]string{"walletPublicKeys": wallets}); !bytes.Equal(got, want) {
			t.Fatalf("request body %q, json.Marshal writes %q", got, want)
		}
		// The scanner's answer, when it takes the body, is encoding/json's; decodeClocks is
		// encoding/json's answer and error whatever the body.
		ref, refErr := newClockMatch(wallets).decodeJSON(body)
		if m := newClockMatch(wallets); m.scan(body) {
			if refErr != nil {
				t.Fatalf("the scanner took %q, which encoding/json refuses: %v", body, refErr)
			}
			if diff := cmp.Diff(ref, m.answer()); diff != "" {
				t.Fatalf("scanner and encoding/json differ on %q (-json +scanner):\n%s", body, diff)
			}
		}
		ans, err := decodeClocks(body, wallets)
		if (err == nil) != (refErr == nil) || err != nil && err.Error() != refErr.Error() {
			t.Fatalf("error %v, encoding/json's %v", err, refErr)
		}
		if err != nil {
			if ans.Clocks != nil {
				t.Fatalf("error %v with clocks %v", err, ans.Clocks)
			}
			return
		}
		if diff := cmp.Diff(ref, ans); diff != "" {
			t.Fatalf("answer differs from encoding/json's (-json +got):\n%s", diff)
		}
		if !json.Valid(body) {
			t.Fatalf("accepted a body that is not JSON: %q", body)
		}
		if len(ans.Clocks) != len(wallets) {
			t.Fatalf("%d clocks for %d wallets", len(ans.Clocks), len(wallets))
		}
		// One answer per lower-cased wallet, each a node's clock or NoAnswer.
		byWallet := map[string]int64{}
		missing := 0
		for i, w := range wallets {
			c := ans.Clocks[i]
			if c < -1 && c != NoAnswer {
				t.Fatalf("clock %d for %q: below -1 accepted", c, w)
			}
			if c == NoAnswer {
				missing++
			}
			k := strings.ToLower(w)
			if prev, ok := byWallet[k]; ok && prev != c {
				t.Fatalf("%q has clocks %d and %d", k, prev, c)
			}
			byWallet[k] = c
		}
		if missing != ans.Missing {
			t.Fatalf("Missing = %d, %d NoAnswer clocks", ans.Missing, missing)
		}
		kept := 0
		for _, c := range byWallet {
			if c != NoAnswer {
				kept++
			}
		}
		// Every entry is accounted for: kept, unrequested, or a repeat.
		var generic struct {
			Data struct {
				Users []struct {
					Clock json.Number `json:"clock"`
				} `json:"users"`
			} `json:"data"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&generic); err != nil {
			t.Fatalf("accepted %q, which does not decode generically: %v", body, err)
		}
		if n := len(generic.Data.Users); n != kept+ans.Unrequested+ans.Duplicates {
			t.Fatalf("%d entries but %d kept + %d unrequested + %d duplicates", n, kept, ans.Unrequested, ans.Duplicates)
		}
		for _, u := range generic.Data.Users {
			if strings.ContainsAny(u.Clock.String(), ".eE") {
				t.Fatalf("accepted a clock that is not an integer: %s", u.Clock)
			}
		}
		again, err := decodeClocks(body, wallets)
		if err != nil || !slices.Equal(again.Clocks, ans.Clocks) {
			t.Fatalf("decoding is not deterministic: %v", err)
		}
	})
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzDecodeCIDs(f *testing.F) {
	for _, s := range []struct{ body, cids string }{
		{`{"data":{"cids":[{"cid":"Qm1","exists":true},{"cid":"Qm2","exists":false}]}}`, "Qm1,Qm2"},
		{`{"data":{"cids":[{"cid":"Qm1","exists":true},{"cid":"Qm1","exists":false},{"cid":"Qm9","exists":true}]}}`, "Qm1"},
		{`{"data":{"cids":[{"cid":"qm1","exists":true}]}}`, "Qm1"},
		{`{"data":{"cids":[{"cid":"Qm1","exists":"true"}]}}`, "Qm1"},
		{`{"data":{"cids":[{"cid":"Qm1"}]}}`, "Qm1"},
		{`{"data":{"cids":[{"cid":1,"exists":true}]}}`, "Qm1"},
		{`{"data":{}}`, "Qm1"},
		{`[]`, ""},
		{`{"data":{"cids":[{"CID":"Qm1","exists":true}]}}`, "Qm1"},
		{`{"data":{"cids":[{"cid":"Qm1","exists":true,"exists":false}]},"signer":"0x1"}`, "Qm1"},
		{`{"data":{"cids":[{"cid":"Qm\u0031","exists":true},{"cid":"Qm2","exists":false}]}}`, "Qm1,Qm2,<&>"},
	} {
		f.Add([]byte(s.body), s.cids)
	}
	f.Fuzz(func(t *testing.T, body []byte, cidList string) {
		cids := strings.Split(cidList, ",")
		if len(cids) > 64 {
			cids = cids[:64]
		}
		if got, want := listBody("cids", cids), mustMarshal(t, map[string][]string{"cids": cids}); !bytes.Equal(got, want) {
			t.Fatalf("request body %q, json.Marshal writes %q", got, want)
		}
		requested := map[string]string{}
		for _, c := range cids {
			requested[c] = c
		}
		ref, refErr := decodeCIDsJSON(body, requested, len(cids))
		if scanned, ok := scanCIDs(body, requested, len(cids)); ok {
			if refErr != nil {
				t.Fatalf("the scanner took %q, which encoding/json refuses: %v", body, refErr)
			}
			if diff := cmp.Diff(ref, scanned); diff != "" {
				t.Fatalf("scanner and encoding/json differ on %q (-json +scanner):\n%s", body, diff)
			}
		}
		out, err := decodeCIDs(body, cids)
		if (err == nil) != (refErr == nil) || err != nil && err.Error() != refErr.Error() {
			t.Fatalf("error %v, encoding/json's %v", err, refErr)
		}
		if err != nil {
			if out != nil {
				t.Fatalf("error %v with answers %v", err, out)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted a body that is not JSON: %q", body)
		}
		if diff := cmp.Diff(ref, out); diff != "" {
			t.Fatalf("answer differs from encoding/json's (-json +got):\n%s", diff)
		}
		for c := range out {
			if _, ok := requested[c]; !ok {
				t.Fatalf("answer for %q, which was not requested (%q)", c, cidList)
			}
		}
	})
}

func FuzzRetryAfter(f *testing.F) {
	for _, h := range []string{"", "0", "1", "-5", "120", "86401", "99999999999999999999", "Wed, 21 Oct 2015 07:28:00 GMT",
		"Sun, 06 Nov 2044 08:49:37 GMT", " 3 ", "1.5", "soon"} {
		f.Add(h)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, h string) {
		// A date far ahead is not capped here (the fetcher caps every wait); delay seconds are,
		// at a day. Nothing is ever negative.
		d := retryAfter(h, now)
		if d < 0 {
			t.Fatalf("retryAfter(%q) = %s, negative", h, d)
		}
		if _, err := time.ParseDuration(strings.TrimSpace(h) + "s"); err == nil && d > 24*time.Hour {
			t.Fatalf("retryAfter(%q) = %s, more than a day", h, d)
		}
	})
}
