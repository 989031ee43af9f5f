package contentnode

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The scanner must take what real nodes send, or every answer pays for encoding/json again; what
// it takes must mean what encoding/json makes of it (the fuzz targets check that on any body).
func TestScanTakesNodeAnswers(t *testing.T) {
	wallets := benchWallets(50)
	for name, body := range map[string]string{
		"bench body": string(benchClockBody(wallets)),
		"empty":      `{"data":{"users":[]},"signer":"0x1","timestamp":"2022-10-11T00:00:00.000Z","signature":"0x2"}`,
		"indented":   "{\n  \"data\": {\n    \"users\": [\n      { \"walletPublicKey\": \"0xab\", \"clock\": 3 },\r\n\t{\"walletPublicKey\":\"0xCD\",\"clock\":-1}\n    ]\n  }\n}\n",
		"filesHash":  `{"data":{"users":[{"walletPublicKey":"0xab","clock":3,"filesHash":"a1"},{"walletPublicKey":"0xcd","clock":-1,"filesHash":null}]}}`,
		"fields":     `{"signer":"0x1","data":{"users":[{"clock":0,"walletPublicKey":"0xab"}]},"ok":true}`,
		"-0":         `{"data":{"users":[{"walletPublicKey":"0xab","clock":-0}]}}`,
		"large":      `{"data":{"users":[{"walletPublicKey":"0xab","clock":999999999999999999}]}}`,
	} {
		t.Run(name, func(t *testing.T) {
			req := append([]string{"0xab", "0xcd"}, wallets...)
			m := newClockMatch(req)
			if !m.scan([]byte(body)) {
				t.Fatalf("the scanner gave up on %q", body)
			}
			want, err := newClockMatch(req).decodeJSON([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, m.answer()); diff != "" {
				t.Errorf("scanner and encoding/json differ (-json +scanner):\n%s", diff)
			}
		})
	}
	cids := `{"data":{"cids":[{"cid":"QmA","exists":true},{"cid":"QmB","exists":false},{"cid":"QmZ","exists":true}]},"signer":"0x1"}`
	out, ok := scanCIDs([]byte(cids), map[string]string{"QmA": "QmA", "QmB": "QmB"}, 2)
	if !ok {
		t.Fatalf("the scanner gave up on %q", cids)
	}
	if diff := cmp.Diff(map[string]bool{"QmA": true, "QmB": false}, out); diff != "" {
		t.Errorf("cids (-want +got):\n%s", diff)
	}
}

// What the scanner leaves to encoding/json: anything it could get wrong by being simple.
func TestScanGivesUp(t *testing.T) {
	users := func(s string) string { return `{"data":{"users":[` + s + `]}}` }
	for name, body := range map[string]string{
		"key case":         users(`{"WalletPublicKey":"0xab","clock":1}`),
		"key case, data":   `{"Data":{"users":[]}}`,
		"key v2 fold":      users(`{"wallet_public_key":"0xab","clock":1}`),
		"repeated key":     users(`{"walletPublicKey":"0xab","clock":1,"clock":2}`),
		"repeated data":    `{"data":{"users":[]},"data":{"users":[]}}`,
		"escape in wallet": users(`{"walletPublicKey":"0x\u0041b","clock":1}`),
		"non-ASCII wallet": users(`{"walletPublicKey":"0xé","clock":1}`),
		"escape in key":    users(`{"walletPublicKe\u0079":"0xab","clock":1}`),
		"object value":     `{"data":{"users":[]},"extra":{}}`,
		"number value":     `{"data":{"users":[]},"extra":1}`,
		"fraction":         users(`{"walletPublicKey":"0xab","clock":1.0}`),
		"exponent":         users(`{"walletPublicKey":"0xab","clock":1e2}`),
		"leading zero":     users(`{"walletPublicKey":"0xab","clock":01}`),
		"below -1":         users(`{"walletPublicKey":"0xab","clock":-2}`),
		"19 digits":        users(`{"walletPublicKey":"0xab","clock":1000000000000000000}`),
		"no clock":         users(`{"walletPublicKey":"0xab"}`),
		"null entry":       users(`null`),
		"trailing comma":   users(`{"walletPublicKey":"0xab","clock":1},`),
		"trailing data":    users(``) + `x`,
		"no users":         `{"data":{}}`,
		"truncated":        `{"data":{"users":[{"walletPublicKey":"0xab","clock":1}`,
	} {
		if newClockMatch([]string{"0xab"}).scan([]byte(body)) {
			t.Errorf("%s: the scanner took %q", name, body)
		}
	}
}
