package ethregistry

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// A registry result is hostile input: the provider, or whoever controls it, can answer anything.
// FuzzDecode checks that the decoders never panic and accept a result only when it is exactly the
// canonical ABI encoding of what they decoded (so nothing is read from bytes a real contract
// would not write), and that an accepted endpoint is text netmon can carry (valid UTF-8, no
// control characters, at most MaxEndpointLen bytes). `go test` runs the seeds and the
// testdata/fuzz corpus; `make chaos` fuzzes it for a few seconds more.
func FuzzDecode(f *testing.F) {
	seed := func(h string) {
		b, err := hex.DecodeString(h)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed(infoHex)
	seed(strings.Repeat("00", 32) + strings.Repeat("00", 31) + "80" + strings.Repeat("00", 96))
	seed(infoHex[:len(infoHex)-64])
	seed(infoHex + strings.Repeat("00", 32))
	seed(strings.Repeat("00", 12) + strings.Repeat("12", 20))
	seed(strings.Repeat("00", 31) + "07")
	seed("1234")
	seed("")
	f.Fuzz(func(t *testing.T, b []byte) {
		if info, err := decodeEndpointInfo(b); err == nil {
			if got := canonicalInfo(info); !bytes.Equal(got, b) {
				t.Fatalf("accepted %x, but its canonical encoding is %x", b, got)
			}
			if !utf8.ValidString(info.Endpoint) || len(info.Endpoint) > MaxEndpointLen ||
				strings.ContainsFunc(info.Endpoint, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("accepted endpoint %q", info.Endpoint)
			}
			// A protobuf string and a JSON string take it as it is.
			if j, err := json.Marshal(info.Endpoint); err != nil || !utf8.Valid(j) {
				t.Fatalf("endpoint %q does not marshal: %v", info.Endpoint, err)
			}
		}
		if a, err := decodeAddress(b); err == nil {
			w := make([]byte, 32)
			copy(w[12:], a[:])
			if !bytes.Equal(w, b) {
				t.Fatalf("accepted address %x as %s", b, a)
			}
		}
		if v, fits, err := decodeUint(b); err == nil && fits {
			w := make([]byte, 32)
			binary.BigEndian.PutUint64(w[24:], v)
			if !bytes.Equal(w, b) {
				t.Fatalf("accepted uint %x as %d", b, v)
			}
		}
		// The JSON-RPC layer's readers, on the same bytes as a JSON value.
		_, _ = hexBytes(b)
		_, _ = hexQuantity(b)
	})
}

// canonicalInfo is Solidity's encoding of the tuple, written here from the ABI spec.
func canonicalInfo(info endpointInfo) []byte {
	word := func(v uint64) []byte {
		w := make([]byte, 32)
		binary.BigEndian.PutUint64(w[24:], v)
		return w
	}
	addr := func(a Address) []byte { return append(make([]byte, 12), a[:]...) }
	var out []byte
	out = append(out, addr(info.Owner)...)
	out = append(out, word(128)...)
	out = append(out, word(uint64(info.BlockNumber))...)
	out = append(out, addr(info.Delegate)...)
	out = append(out, word(uint64(len(info.Endpoint)))...)
	out = append(out, info.Endpoint...)
	for len(out)%32 != 0 {
		out = append(out, 0)
	}
	return out
}
