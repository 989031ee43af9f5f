package simnet

import (
	"math/big"
	"math/rand/v2"
	"testing"
)

// bigBase58 is the textbook big-integer base58 encoding, to check the limb version against.
func bigBase58(b []byte) string {
	x := new(big.Int).SetBytes(b)
	var out []byte
	m := new(big.Int)
	for x.Sign() > 0 {
		x.DivMod(x, big.NewInt(58), m)
		out = append(out, base58Alphabet[m.Int64()])
	}
	for _, c := range b {
		if c != 0 {
			break
		}
		out = append(out, '1')
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}

func TestBase58(t *testing.T) {
	// Published vectors (Bitcoin base58 test suite).
	for in, want := range map[string]string{
		"":                         "",
		"hello world":              "StV1DL6CwTryKyV",
		"\x00\x00\x28\x7f\xb4\xcd": "11233QC4",
		"\x00":                     "1",
	} {
		if got := string(appendBase58(nil, []byte(in))); got != want {
			t.Errorf("base58(%q) = %q, want %q", in, got, want)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		b := make([]byte, r.IntN(40))
		for k := range b {
			b[k] = byte(r.IntN(256))
			if r.IntN(8) == 0 {
				b[k] = 0
			}
		}
		want := bigBase58(b)
		if got := string(appendBase58(nil, b)); got != want {
			t.Fatalf("base58(%x) = %q, want %q", b, got, want)
		}
		back := make([]byte, len(b))
		if !decodeBase58(back, want) || string(back) != string(b) {
			t.Fatalf("decode(%q) = %x, want %x", want, back, b)
		}
	}
}

func TestCIDsDecodeOnlyForTheirNetwork(t *testing.T) {
	sh := DefaultShares()
	sh.MissingCID = 0
	n, err := Build(Scenario{Seed: 3, NodeCount: 5, UserCount: 100, Shares: &sh})
	if err != nil {
		t.Fatal(err)
	}
	other, err := Build(Scenario{Seed: 4, NodeCount: 5, UserCount: 100, Shares: &sh})
	if err != nil {
		t.Fatal(err)
	}
	r := cidRef{owner: 42, track: 1, seg: 7, kind: kindSegment}
	c := n.cidString(r)
	if len(c) != 46 || c[:2] != "Qm" {
		t.Fatalf("CID %q is not CIDv0-shaped", c)
	}
	if got, ok := n.decodeCID(c); !ok || got != r {
		t.Fatalf("decode(%q) = %+v, %v; want %+v", c, got, ok, r)
	}
	if _, ok := other.decodeCID(c); ok {
		t.Fatalf("a CID of seed 3 decodes in seed 4's network")
	}
	if _, ok := n.decodeCID(string(n.appendCID(nil, r, true))); ok {
		t.Fatalf("a history CID decodes")
	}
}
