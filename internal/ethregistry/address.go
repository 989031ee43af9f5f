package ethregistry

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/sha3"
)

// Address is a 20-byte Ethereum account or contract address.
type Address [20]byte

// String is the address as 0x and 40 lower-case hex digits, the form netmon stores and compares.
func (a Address) String() string { return "0x" + hex.EncodeToString(a[:]) }

// IsZero reports whether the address is 0x0000…0000 (what the registry answers for "none").
func (a Address) IsZero() bool { return a == Address{} }

// ParseAddress reads 0x and 40 hex digits. An address in mixed case must carry a valid EIP-55
// checksum, which catches a mistyped digit; all lower or all upper case carries none and is taken
// as it is.
func ParseAddress(s string) (Address, error) {
	var a Address
	digits, ok := strings.CutPrefix(s, "0x")
	if !ok {
		digits, ok = strings.CutPrefix(s, "0X")
	}
	if !ok || len(digits) != 40 {
		return a, errors.New("want 0x and 40 hex digits")
	}
	if _, err := hex.Decode(a[:], []byte(digits)); err != nil {
		return a, errors.New("want 0x and 40 hex digits")
	}
	if digits != strings.ToLower(digits) && digits != strings.ToUpper(digits) && checksummed(a) != digits {
		return a, fmt.Errorf("mixed case but not a valid EIP-55 checksum (want 0x%s): a digit may be mistyped", checksummed(a))
	}
	return a, nil
}

// checksummed is the address's 40 hex digits in EIP-55 mixed case: a letter is upper case when
// the matching nibble of keccak256(lower-case hex) is 8 or more.
func checksummed(a Address) string {
	lower := hex.EncodeToString(a[:])
	h := sha3.NewLegacyKeccak256()
	h.Write([]byte(lower))
	sum := h.Sum(nil)
	out := []byte(lower)
	for i, c := range out {
		nibble := sum[i/2] >> 4
		if i%2 == 1 {
			nibble = sum[i/2] & 0xf
		}
		if c >= 'a' && nibble >= 8 {
			out[i] = c - 'a' + 'A'
		}
	}
	return string(out)
}
