package contentnode

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
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
	} {
		f.Add([]byte(s.body), s.wallets)
	}
	f.Fuzz(func(t *testing.T, body []byte, walletList string) {
		wallets := strings.Split(walletList, ",")
		if len(wallets) > 64 {
			wallets = wallets[:64]
		}
		ans, err := decodeClocks(body, wallets)
		if err != nil {
			if ans.Clocks != nil {
				t.Fatalf("error %v with clocks %v", err, ans.Clocks)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted a body that is not JSON: %q", body)
		}
		requested := map[string]bool{}
		for _, w := range wallets {
			requested[strings.ToLower(w)] = true
		}
		for w, c := range ans.Clocks {
			if !requested[w] {
				t.Fatalf("answer for %q, which was not requested (%q)", w, walletList)
			}
			if c < -1 {
				t.Fatalf("clock %d for %q: below -1 accepted", c, w)
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
		if n := len(generic.Data.Users); n != len(ans.Clocks)+ans.Unrequested+ans.Duplicates {
			t.Fatalf("%d entries but %d kept + %d unrequested + %d duplicates", n, len(ans.Clocks), ans.Unrequested, ans.Duplicates)
		}
		for _, u := range generic.Data.Users {
			if strings.ContainsAny(u.Clock.String(), ".eE") {
				t.Fatalf("accepted a clock that is not an integer: %s", u.Clock)
			}
		}
		again, err := decodeClocks(body, wallets)
		if err != nil || len(again.Clocks) != len(ans.Clocks) {
			t.Fatalf("decoding is not deterministic: %v", err)
		}
	})
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
	} {
		f.Add([]byte(s.body), s.cids)
	}
	f.Fuzz(func(t *testing.T, body []byte, cidList string) {
		cids := strings.Split(cidList, ",")
		if len(cids) > 64 {
			cids = cids[:64]
		}
		out, err := decodeCIDs(body, cids)
		if err != nil {
			if out != nil {
				t.Fatalf("error %v with answers %v", err, out)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted a body that is not JSON: %q", body)
		}
		requested := map[string]bool{}
		for _, c := range cids {
			requested[c] = true
		}
		for c := range out {
			if !requested[c] {
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
