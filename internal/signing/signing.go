// Package signing makes and checks the request signatures the original network-monitoring added to
// every content-node call (spec §5.3). It consumes an SP id and the SP delegate's secp256k1 private
// key and produces the spID, timestamp and signature query parameters; Recover gives a fake content
// node the signer's address back from those parameters.
//
// The signature is web3 1.x's eth.accounts.sign over keccak256 of {"spID":<n>,"timestamp":"<ts>"}:
// an EIP-191 personal-message hash of the 32 raw hash bytes, a deterministic (RFC 6979), low-S
// secp256k1 signature, encoded as 0x‖hex(r‖s‖v) with v in {27, 28}. testdata/vectors.json, made
// by web3 1.7.4 itself, pins it byte for byte.
//
// Storage nodes sign their health answers with the same hash over other bytes (mediorum's
// signature.SignBytes: keccak256 of the message, then EIP-191), with v in {0, 1} as go-ethereum
// makes it: SignBytes and RecoverBytes.
package signing

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"golang.org/x/crypto/sha3"
)

// TimestampLayout formats a time like JavaScript's Date.prototype.toISOString, which the original
// used for the timestamp parameter (years 0 to 9999).
const TimestampLayout = "2006-01-02T15:04:05.000Z"

// Signer signs requests for one SP. It is safe for concurrent use. Its String and GoString
// methods never show the key.
type Signer struct {
	spID    int64
	key     *secp256k1.PrivateKey
	address string
}

// NewSigner parses a 32-byte private key given as 64 hex digits, with or without a 0x prefix.
// Errors never contain the key.
func NewSigner(spID int64, privateKeyHex string) (*Signer, error) {
	h := strings.TrimSpace(privateKeyHex)
	if strings.HasPrefix(h, "0x") || strings.HasPrefix(h, "0X") {
		h = h[2:]
	}
	if len(h) != 64 {
		return nil, fmt.Errorf("signing: private key must be 64 hex digits, got %d characters", len(h))
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, errors.New("signing: private key is not hex")
	}
	var scalar secp256k1.ModNScalar
	if overflow := scalar.SetByteSlice(b); overflow || scalar.IsZero() {
		return nil, errors.New("signing: private key is not a valid secp256k1 scalar")
	}
	key := secp256k1.NewPrivateKey(&scalar)
	return &Signer{spID: spID, key: key, address: pubKeyAddress(key.PubKey())}, nil
}

// SPID is the SP id the signer signs for.
func (s *Signer) SPID() int64 { return s.spID }

// Address is the delegate wallet address of the key: 0x and 40 lower-case hex digits.
func (s *Signer) Address() string { return s.address }

// String describes the signer without its key. Value receivers cover Signer and *Signer alike.
func (s Signer) String() string {
	return fmt.Sprintf("signing.Signer{spID: %d, address: %s}", s.spID, s.address)
}

// GoString keeps %#v from printing the key.
func (s Signer) GoString() string { return s.String() }

// Sign signs the payload {"spID":<spID>,"timestamp":<timestamp>} as the original did. It fails only
// when timestamp is not valid UTF-8, which JSON cannot carry faithfully.
func (s *Signer) Sign(timestamp string) (string, error) {
	p, err := Payload(s.spID, timestamp)
	if err != nil {
		return "", err
	}
	return s.sign([]byte(p), 27), nil
}

// SignBytes signs msg as a storage node signs its health answer: the EIP-191 personal-message
// hash of keccak256(msg), with v in {0, 1} (go-ethereum's crypto.Sign). RecoverBytes checks it.
func (s *Signer) SignBytes(msg []byte) string { return s.sign(msg, 0) }

// sign is 0x‖hex(r‖s‖v) of the digest of msg, with v = vBase + recovery id.
func (s *Signer) sign(msg []byte, vBase byte) string {
	// SignCompact gives v‖r‖s with v = 27 + recovery id (no +4: we ask for the uncompressed form).
	compact := ecdsa.SignCompact(s.key, digest(msg), false)
	sig := make([]byte, 65)
	copy(sig, compact[1:])
	sig[64] = compact[0] - 27 + vBase
	return "0x" + hex.EncodeToString(sig)
}

// Params returns the spID, timestamp and signature query parameters for a request made at now.
// Like the original, a caller makes them once per logical request and reuses them on retries.
func (s *Signer) Params(now time.Time) url.Values {
	ts := now.UTC().Format(TimestampLayout)
	sig, err := s.Sign(ts)
	if err != nil {
		// Unreachable: a formatted time is ASCII.
		panic("signing: " + err.Error())
	}
	return url.Values{
		"spID":      {strconv.FormatInt(s.spID, 10)},
		"timestamp": {ts},
		"signature": {sig},
	}
}

// Recover returns the lower-case 0x address that made signature over the (spID, timestamp)
// payload. It accepts the 65-byte r‖s‖v form, with or without 0x, and v in {0, 1, 27, 28} as web3's
// verifier does. A signature that is well formed but made by another key recovers a different
// address, not an error: compare the result with the expected signer.
func Recover(spID int64, timestamp, signature string) (string, error) {
	p, err := Payload(spID, timestamp)
	if err != nil {
		return "", err
	}
	return RecoverBytes([]byte(p), signature)
}

// RecoverBytes returns the lower-case 0x address that signed msg (EIP-191 of keccak256(msg)), with
// the signature forms Recover accepts. Like Recover, another key's signature recovers another
// address rather than failing.
func RecoverBytes(msg []byte, signature string) (string, error) {
	h := signature
	if strings.HasPrefix(h, "0x") || strings.HasPrefix(h, "0X") {
		h = h[2:]
	}
	sig, err := hex.DecodeString(h)
	if err != nil || len(sig) != 65 {
		return "", errors.New("signing: signature must be 65 bytes of hex")
	}
	v := sig[64]
	switch v {
	case 0, 1:
	case 27, 28:
		v -= 27
	default:
		return "", fmt.Errorf("signing: signature recovery byte %d is not 0, 1, 27 or 28", sig[64])
	}
	compact := make([]byte, 65)
	compact[0] = 27 + v
	copy(compact[1:], sig[:64])
	pub, _, err := ecdsa.RecoverCompact(compact, digest(msg))
	if err != nil {
		return "", fmt.Errorf("signing: recover: %w", err)
	}
	return pubKeyAddress(pub), nil
}

// Payload is the exact string the original hashed: JSON.stringify of {spID, timestamp} with the keys
// sorted.
func Payload(spID int64, timestamp string) (string, error) {
	if !utf8.ValidString(timestamp) {
		return "", errors.New("signing: timestamp is not valid UTF-8")
	}
	var b strings.Builder
	b.WriteString(`{"spID":`)
	b.WriteString(strconv.FormatInt(spID, 10))
	b.WriteString(`,"timestamp":`)
	QuoteJSON(&b, timestamp)
	b.WriteByte('}')
	return b.String(), nil
}

// digest is the EIP-191 personal-message hash of the 32 raw bytes of keccak256(msg).
func digest(msg []byte) []byte {
	return keccak256([]byte("\x19Ethereum Signed Message:\n32"), keccak256(msg))
}

// TextWriter is what QuoteJSON writes to: a *strings.Builder or a *bytes.Buffer.
type TextWriter interface {
	io.ByteWriter
	io.StringWriter
	WriteRune(r rune) (int, error)
}

// QuoteJSON writes s as a JSON string the way JSON.stringify does (ECMAScript QuoteJSONString),
// which is also RFC 8785's (JCS §3.2.2.2): \" and \\, the two-character escapes for \b \t \n
// \f \r, \u00xx (lower-case hex) for the other controls, everything else as it is.
// encoding/json differs: it escapes <, >, & and U+2028/U+2029, which would change signed bytes.
func QuoteJSON(b TextWriter, s string) {
	const hexDigits = "0123456789abcdef"
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[r>>4])
				b.WriteByte(hexDigits[r&0xf])
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

func pubKeyAddress(pub *secp256k1.PublicKey) string {
	// The uncompressed key is 0x04‖X‖Y; the address is the last 20 bytes of keccak256(X‖Y).
	h := keccak256(pub.SerializeUncompressed()[1:])
	return "0x" + hex.EncodeToString(h[12:])
}

func keccak256(parts ...[]byte) []byte {
	h := sha3.NewLegacyKeccak256()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}
