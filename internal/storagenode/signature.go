package storagenode

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/audius-netmon/netmon/internal/signing"
)

// SignatureStatus is the verdict on a health answer's signature.
type SignatureStatus int

const (
	// SignatureValid: it recovers to the claimed signer, which is the registered delegate wallet.
	SignatureValid SignatureStatus = iota + 1
	// SignatureUnsigned: no signature (absent, empty, or the node's "private key not set" text).
	SignatureUnsigned
	// SignatureMalformed: not 0x and 65 bytes of hex with v in {0, 1}, or nothing recovers from it.
	SignatureMalformed
	// SignatureMismatch: it recovers to an address other than the claimed signer: the signed
	// object was altered, or signed by another key than the one it names.
	SignatureMismatch
	// SignatureWrongSigner: it is the claimed signer's, but that is not the node's registered
	// delegate wallet.
	SignatureWrongSigner
	// SignatureNoDelegate: it is the claimed signer's, and no registered delegate wallet was
	// given to compare with (a node missing from the registry).
	SignatureNoDelegate
)

var signatureNames = map[SignatureStatus]string{
	SignatureValid:       "valid",
	SignatureUnsigned:    "unsigned",
	SignatureMalformed:   "malformed",
	SignatureMismatch:    "mismatch",
	SignatureWrongSigner: "wrong_signer",
	SignatureNoDelegate:  "no_delegate",
}

// String is a short name, usable as a label value.
func (s SignatureStatus) String() string {
	if n, ok := signatureNames[s]; ok {
		return n
	}
	return fmt.Sprintf("signature(%d)", int(s))
}

// noKeySignature is what mediorum and the audiusd wrapper put in "signature" without a key.
const noKeySignature = "private key not set (should only happen on local dev)!"

// VerifySignature judges the answer's signature against the node's registered delegate wallet
// (Ethereum delegateOwnerWallet, any case; "" when unknown). The signed bytes are the RFC 8785
// form of the whole answer minus "signature" and "signer" (Aggregated), or of "data" (Mediorum);
// the signature is secp256k1 over EIP-191 of their keccak-256, v in {0, 1} (§4.1).
func (h Health) VerifySignature(delegate string) SignatureStatus {
	switch {
	case h.SignatureProblem != 0:
		return h.SignatureProblem
	case h.Signer != "" && !strings.EqualFold(h.Signer, h.Recovered):
		return SignatureMismatch
	case delegate == "":
		return SignatureNoDelegate
	case !strings.EqualFold(h.Recovered, delegate):
		return SignatureWrongSigner
	}
	return SignatureValid
}

// recoverSigner recovers the address that signed the canonical form of signed from top's
// "signature": the address, or "" and why none.
func recoverSigner(top *jsonObject, signed jsonValue) (string, SignatureStatus) {
	v, ok := top.get("signature")
	if !ok || v == nil || v == "" || v == noKeySignature {
		return "", SignatureUnsigned
	}
	sig, isString := v.(string)
	if !isString || !wellFormed(sig) {
		return "", SignatureMalformed
	}
	addr, err := signing.RecoverBytes(canonical(signed), sig)
	if err != nil {
		return "", SignatureMalformed
	}
	return addr, 0
}

// wellFormed says whether sig is 0x and 65 bytes of hex ending in v = 0 or 1, as go-ethereum's
// crypto.Sign makes it (a +27 v is not what nodes send).
func wellFormed(sig string) bool {
	h, ok := strings.CutPrefix(sig, "0x")
	if !ok || len(h) != 130 {
		return false
	}
	b, err := hex.DecodeString(h)
	return err == nil && b[64] <= 1
}
