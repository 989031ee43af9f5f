package ethregistry

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"
)

// The contract ABI, as far as netmon uses it: three calls and their results. Decoding is strict:
// a result is accepted only in the exact form Solidity's encoder writes (the canonical encoding:
// sizes, offsets and zero padding as they must be), so whatever else an RPC provider answers is
// reported as garbage rather than read as something it is not. FuzzDecode checks that every
// accepted result is the canonical encoding of what was decoded.

const word = 32 // an ABI slot

// Selectors: the first 4 bytes of Keccak-256 of each signature (abi_test.go derives them).
var (
	selGetContract = [4]byte{0xe1, 0x6c, 0x7d, 0x98} // Registry.getContract(bytes32)
	selTotal       = [4]byte{0x62, 0x3f, 0xa6, 0x31} // ServiceProviderFactory.getTotalServiceTypeProviders(bytes32)
	selInfo        = [4]byte{0x74, 0x8e, 0xa8, 0x2c} // ServiceProviderFactory.getServiceEndpointInfo(bytes32,uint256)
)

// MaxEndpointLen is the longest endpoint string accepted (a URL; real ones are under 100 bytes).
const MaxEndpointLen = 2048

// name32 is a name as the contracts take a bytes32 name: its UTF-8 bytes, right-padded with zeros.
func name32(name string) ([word]byte, error) {
	var w [word]byte
	if name == "" || len(name) > word || !utf8.ValidString(name) {
		return w, fmt.Errorf("name %q: want 1 to 32 bytes of UTF-8", name)
	}
	copy(w[:], name)
	return w, nil
}

// uint256 is v as a big-endian 32-byte word.
func uint256(v uint64) [word]byte {
	var w [word]byte
	binary.BigEndian.PutUint64(w[word-8:], v)
	return w
}

// callData is the input of a call: the selector, then each argument word.
func callData(sel [4]byte, args ...[word]byte) []byte {
	b := make([]byte, 0, 4+word*len(args))
	b = append(b, sel[:]...)
	for _, a := range args {
		b = append(b, a[:]...)
	}
	return b
}

// decodeAddress reads a result that is one address.
func decodeAddress(b []byte) (Address, error) {
	if len(b) != word {
		return Address{}, fmt.Errorf("want one 32-byte word (an address), got %d bytes", len(b))
	}
	return addressWord(b)
}

// decodeUint reads a result that is one uint256. fits is false when the value needs more than
// 64 bits; v is then meaningless.
func decodeUint(b []byte) (v uint64, fits bool, err error) {
	if len(b) != word {
		return 0, false, fmt.Errorf("want one 32-byte word (a uint256), got %d bytes", len(b))
	}
	v, fits = uintWord(b)
	return v, fits, nil
}

// endpointInfo is getServiceEndpointInfo's result: (address owner, string endpoint, uint256
// blockNumber, address delegateOwnerWallet).
type endpointInfo struct {
	Owner       Address
	Endpoint    string
	BlockNumber int64
	Delegate    Address
}

// decodeEndpointInfo reads getServiceEndpointInfo's result. Its canonical layout is four head
// words (owner, the string's offset 0x80, blockNumber, delegateOwnerWallet), then the string's
// length and its bytes, zero-padded to a whole word. The endpoint must be valid UTF-8 without NUL
// or other control characters and at most MaxEndpointLen bytes: it becomes a URL, a protobuf
// string and a Postgres text value, none of which could hold it otherwise.
func decodeEndpointInfo(b []byte) (endpointInfo, error) {
	var info endpointInfo
	if len(b) < 5*word {
		return info, fmt.Errorf("want at least 160 bytes (a tuple of address, string, uint256, address), got %d", len(b))
	}
	var err error
	if info.Owner, err = addressWord(b[0:word]); err != nil {
		return info, fmt.Errorf("owner: %w", err)
	}
	if off, fits := uintWord(b[word : 2*word]); !fits || off != 4*word {
		return info, fmt.Errorf("endpoint: want its offset 128, got %s", wordText(b[word:2*word]))
	}
	bn, fits := uintWord(b[2*word : 3*word])
	if !fits || bn > math.MaxInt64 {
		return info, fmt.Errorf("blockNumber: %s is not a block number", wordText(b[2*word:3*word]))
	}
	info.BlockNumber = int64(bn)
	if info.Delegate, err = addressWord(b[3*word : 4*word]); err != nil {
		return info, fmt.Errorf("delegateOwnerWallet: %w", err)
	}
	n, fits := uintWord(b[4*word : 5*word])
	if !fits || n > MaxEndpointLen {
		return info, fmt.Errorf("endpoint: length %s, more than %d bytes", wordText(b[4*word:5*word]), MaxEndpointLen)
	}
	padded := (n + word - 1) / word * word
	if uint64(len(b)) != 5*word+padded {
		return info, fmt.Errorf("endpoint: a %d-byte string needs a %d-byte tuple, got %d bytes (cut short or trailing data)",
			n, 5*word+padded, len(b))
	}
	s := b[5*word : 5*word+n]
	for _, c := range b[5*word+n:] {
		if c != 0 {
			return info, fmt.Errorf("endpoint: padding after the string is not zero")
		}
	}
	if !utf8.Valid(s) {
		return info, fmt.Errorf("endpoint: not valid UTF-8")
	}
	for _, r := range string(s) {
		if r < 0x20 || r == 0x7f {
			return info, fmt.Errorf("endpoint %q: has a control character", s)
		}
	}
	info.Endpoint = string(s)
	return info, nil
}

// addressWord reads an address word: 12 zero bytes, then the 20 address bytes.
func addressWord(w []byte) (Address, error) {
	var a Address
	for _, c := range w[:word-20] {
		if c != 0 {
			return a, fmt.Errorf("%s is not an address (its top 12 bytes are not zero)", wordText(w))
		}
	}
	copy(a[:], w[word-20:])
	return a, nil
}

// uintWord reads a uint256 word; fits is false when it needs more than 64 bits.
func uintWord(w []byte) (v uint64, fits bool) {
	for _, c := range w[:word-8] {
		if c != 0 {
			return 0, false
		}
	}
	return binary.BigEndian.Uint64(w[word-8:]), true
}

// wordText shows a word in errors: its value when it fits in 64 bits, else its hex.
func wordText(w []byte) string {
	if v, fits := uintWord(w); fits {
		return fmt.Sprint(v)
	}
	return fmt.Sprintf("0x%x", w)
}
