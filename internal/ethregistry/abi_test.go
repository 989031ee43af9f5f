package ethregistry

import (
	"encoding/hex"
	"strings"
	"testing"

	"golang.org/x/crypto/sha3"
)

func keccak(s string) []byte {
	h := sha3.NewLegacyKeccak256()
	h.Write([]byte(s))
	return h.Sum(nil)
}

// TestSelectors derives each selector from its signature with Keccak-256 rather than trusting the
// numbers written in the code (and in the issue and the spec).
func TestSelectors(t *testing.T) {
	// Keccak-256 (not SHA3-256) is the one Ethereum uses: the ERC-20 transfer selector is known.
	if got := hex.EncodeToString(keccak("transfer(address,uint256)")[:4]); got != "a9059cbb" {
		t.Fatalf("keccak256(transfer(address,uint256))[:4] = %s, want a9059cbb", got)
	}
	for sig, sel := range map[string][4]byte{
		"getContract(bytes32)":                    selGetContract,
		"getTotalServiceTypeProviders(bytes32)":   selTotal,
		"getServiceEndpointInfo(bytes32,uint256)": selInfo,
	} {
		if want := keccak(sig)[:4]; string(want) != string(sel[:]) {
			t.Errorf("selector of %s is %x in the code, keccak256 gives %x", sig, sel, want)
		}
	}
}

// TestName32 pins the bytes32 names to the storage spec's hex (§1.1).
func TestName32(t *testing.T) {
	for name, want := range map[string]string{
		"ServiceProviderFactory": "5365727669636550726f7669646572466163746f727900000000000000000000",
		"content-node":           "636f6e74656e742d6e6f6465" + strings.Repeat("00", 20),
		"validator":              "76616c696461746f72" + strings.Repeat("00", 23),
		"discovery-node":         "646973636f766572792d6e6f6465" + strings.Repeat("00", 18),
	} {
		w, err := name32(name)
		if err != nil || hex.EncodeToString(w[:]) != want {
			t.Errorf("name32(%q) = %x, %v; want %s", name, w, err, want)
		}
	}
	for _, bad := range []string{"", strings.Repeat("x", 33), "\xff"} {
		if _, err := name32(bad); err == nil {
			t.Errorf("name32(%q): no error", bad)
		}
	}
}

// TestCallData: getServiceEndpointInfo("content-node", 7), written out by hand.
func TestCallData(t *testing.T) {
	name, _ := name32("content-node")
	got := hex.EncodeToString(callData(selInfo, name, uint256(7)))
	want := "748ea82c" + "636f6e74656e742d6e6f6465" + strings.Repeat("00", 20) + strings.Repeat("00", 31) + "07"
	if got != want {
		t.Errorf("call data\n got %s\nwant %s", got, want)
	}
}

// infoHex is a hand-written getServiceEndpointInfo result: owner 0x…aa, endpoint
// "https://cn1.audius.co" (21 bytes), blockNumber 11223344 (0xab4130), delegate 0x…bb.
var infoHex = strings.Join([]string{
	strings.Repeat("00", 12) + strings.Repeat("aa", 20),
	strings.Repeat("00", 31) + "80",
	strings.Repeat("00", 29) + "ab4130",
	strings.Repeat("00", 12) + strings.Repeat("bb", 20),
	strings.Repeat("00", 31) + "15",
	hex.EncodeToString([]byte("https://cn1.audius.co")) + strings.Repeat("00", 11),
}, "")

func TestDecodeEndpointInfo(t *testing.T) {
	b, _ := hex.DecodeString(infoHex)
	got, err := decodeEndpointInfo(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Owner.String() != "0x"+strings.Repeat("aa", 20) || got.Endpoint != "https://cn1.audius.co" ||
		got.BlockNumber != 11223344 || got.Delegate.String() != "0x"+strings.Repeat("bb", 20) {
		t.Errorf("decoded %+v", got)
	}

	// A deregistered SP: the contract's empty record.
	empty, _ := hex.DecodeString(strings.Repeat("00", 32) + strings.Repeat("00", 31) + "80" + strings.Repeat("00", 96))
	if got, err := decodeEndpointInfo(empty); err != nil || got != (endpointInfo{}) {
		t.Errorf("empty record: %+v, %v", got, err)
	}

	word := func(i int) (int, int) { return 64 * i, 64 * (i + 1) }
	set := func(i int, w string) string {
		a, b := word(i)
		return infoHex[:a] + w + infoHex[b:]
	}
	for name, bad := range map[string]string{
		"empty":                 "",
		"one word":              infoHex[:64],
		"cut short":             infoHex[:len(infoHex)-64],
		"cut mid-word":          infoHex[:len(infoHex)-2],
		"trailing word":         infoHex + strings.Repeat("00", 32),
		"offset not 0x80":       set(1, strings.Repeat("00", 31)+"a0"),
		"offset huge":           set(1, strings.Repeat("ff", 32)),
		"owner not an address":  set(0, "01"+strings.Repeat("00", 11)+strings.Repeat("aa", 20)),
		"delegate not address":  set(3, strings.Repeat("00", 11)+"01"+strings.Repeat("bb", 20)),
		"block number huge":     set(2, "01"+strings.Repeat("00", 31)),
		"length past the data":  set(4, strings.Repeat("00", 31)+"40"),
		"length huge":           set(4, strings.Repeat("ff", 32)),
		"length over the limit": set(4, strings.Repeat("00", 30)+"0801"),
		"padding not zero":      infoHex[:len(infoHex)-2] + "01",
		"not UTF-8":             set(5, hex.EncodeToString([]byte("https://cn1.audius.\xff\xfe"))+strings.Repeat("00", 11)),
		"NUL":                   set(5, hex.EncodeToString([]byte("https://cn1.audius.c\x00"))+strings.Repeat("00", 11)),
		"newline":               set(5, hex.EncodeToString([]byte("https://cn1.audius.c\n"))+strings.Repeat("00", 11)),
	} {
		b, err := hex.DecodeString(bad)
		if err != nil {
			t.Fatalf("%s: bad test hex: %v", name, err)
		}
		if got, err := decodeEndpointInfo(b); err == nil {
			t.Errorf("%s: accepted as %+v", name, got)
		}
	}
}

func TestDecodeWords(t *testing.T) {
	w := func(h string) []byte {
		b, _ := hex.DecodeString(h)
		return b
	}
	if a, err := decodeAddress(w(strings.Repeat("00", 12) + strings.Repeat("12", 20))); err != nil || a.String() != "0x"+strings.Repeat("12", 20) {
		t.Errorf("decodeAddress: %v, %v", a, err)
	}
	for _, bad := range []string{"", strings.Repeat("00", 31), strings.Repeat("00", 33), "ff" + strings.Repeat("00", 31)} {
		if _, err := decodeAddress(w(bad)); err == nil {
			t.Errorf("decodeAddress(%s): no error", bad)
		}
	}
	if v, fits, err := decodeUint(w(strings.Repeat("00", 30) + "0102")); err != nil || !fits || v != 258 {
		t.Errorf("decodeUint: %d %v %v", v, fits, err)
	}
	if _, fits, err := decodeUint(w("01" + strings.Repeat("00", 31))); err != nil || fits {
		t.Errorf("decodeUint of 2^248: fits %v, %v", fits, err)
	}
	if _, _, err := decodeUint(w("00")); err == nil {
		t.Error("decodeUint of one byte: no error")
	}
}

func TestParseAddress(t *testing.T) {
	// EIP-55's own examples, and the production Registry of spec §9.1.
	for _, s := range []string{
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
		"0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
		"0xd976d3b4f4e22a238c1A736b6612D22f17b6f64C",
		"0xd976d3b4f4e22a238c1a736b6612d22f17b6f64c", "0XD976D3B4F4E22A238C1A736B6612D22F17B6F64C",
	} {
		a, err := ParseAddress(s)
		if err != nil {
			t.Errorf("ParseAddress(%s): %v", s, err)
		} else if a.String() != strings.ToLower("0x"+s[2:]) {
			t.Errorf("ParseAddress(%s).String() = %s", s, a)
		}
	}
	for _, s := range []string{
		"0xd976d3b4f4e22a238c1A736b6612D22f17b6f64c", // one letter's case flipped
		"d976d3b4f4e22a238c1a736b6612d22f17b6f64c", "0xd976", "0xg976d3b4f4e22a238c1a736b6612d22f17b6f64c", "",
	} {
		if _, err := ParseAddress(s); err == nil {
			t.Errorf("ParseAddress(%s): no error", s)
		}
	}
	_, err := ParseAddress("0xd976d3b4f4e22a238c1A736b6612D22f17b6f64c")
	if err == nil || !strings.Contains(err.Error(), "0xd976d3b4f4e22a238c1A736b6612D22f17b6f64C") {
		t.Errorf("a bad checksum's error should give the right one: %v", err)
	}
}
