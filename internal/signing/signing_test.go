package signing

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// vector is one line of testdata/vectors.json, made by web3 1.7.4 (testdata/vector.js).
type vector struct {
	Key       string `json:"key"`
	SPID      int64  `json:"spID"`
	Timestamp string `json:"timestamp"`
	UnixMS    *int64 `json:"unix_ms"`
	Payload   string `json:"payload"`
	Address   string `json:"address"`
	Signature string `json:"signature"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Generator string   `json:"generator"`
		Vectors   []vector `json:"vectors"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(file.Generator, "web3@1.") || len(file.Vectors) == 0 {
		t.Fatalf("testdata/vectors.json: generator %q with %d vectors; want web3 1.x vectors", file.Generator, len(file.Vectors))
	}
	return file.Vectors
}

func TestVectors(t *testing.T) {
	for i, v := range loadVectors(t) {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			s, err := NewSigner(v.SPID, v.Key)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Address(); got != v.Address {
				t.Errorf("Address = %s, want %s", got, v.Address)
			}
			p, err := Payload(v.SPID, v.Timestamp)
			if err != nil {
				t.Fatal(err)
			}
			if p != v.Payload {
				t.Errorf("Payload = %q, want %q", p, v.Payload)
			}
			sig, err := s.Sign(v.Timestamp)
			if err != nil {
				t.Fatal(err)
			}
			if sig != v.Signature {
				t.Errorf("Sign = %s, want %s", sig, v.Signature)
			}
			addr, err := Recover(v.SPID, v.Timestamp, v.Signature)
			if err != nil {
				t.Fatal(err)
			}
			if addr != v.Address {
				t.Errorf("Recover = %s, want %s", addr, v.Address)
			}
			if v.UnixMS != nil {
				q := s.Params(time.UnixMilli(*v.UnixMS).In(time.FixedZone("X", 5*3600)))
				want := map[string]string{"spID": fmt.Sprint(v.SPID), "timestamp": v.Timestamp, "signature": v.Signature}
				for k, w := range want {
					if got := q.Get(k); got != w {
						t.Errorf("Params %s = %q, want %q", k, got, w)
					}
				}
				if len(q) != 3 {
					t.Errorf("Params has %d keys, want 3: %v", len(q), q)
				}
			}
		})
	}
}

func TestRecoverOtherPayload(t *testing.T) {
	v := loadVectors(t)[0]
	// A signature checked against another spID or timestamp recovers some other address.
	for _, c := range []struct {
		spID int64
		ts   string
	}{{v.SPID + 1, v.Timestamp}, {v.SPID, v.Timestamp + " "}} {
		addr, err := Recover(c.spID, c.ts, v.Signature)
		if err == nil && addr == v.Address {
			t.Errorf("Recover(%d, %q) = signer's address; want a different one", c.spID, c.ts)
		}
	}
	// v as 0/1 and without 0x is accepted, like web3's verifier.
	raw := strings.TrimPrefix(v.Signature, "0x")
	last := raw[128:]
	alt := raw[:128] + map[string]string{"1b": "00", "1c": "01"}[last]
	if addr, err := Recover(v.SPID, v.Timestamp, alt); err != nil || addr != v.Address {
		t.Errorf("Recover with v in {0,1} = %s, %v; want %s", addr, err, v.Address)
	}
}

func TestRecoverRejectsMalformed(t *testing.T) {
	v := loadVectors(t)[0]
	for _, sig := range []string{
		"",
		"0x",
		"0xzz" + v.Signature[4:],
		v.Signature[:len(v.Signature)-2],
		v.Signature + "00",
		v.Signature[:len(v.Signature)-2] + "1d",
		"0x" + strings.Repeat("00", 64) + "1b",
	} {
		if addr, err := Recover(v.SPID, v.Timestamp, sig); err == nil {
			t.Errorf("Recover(%q) = %s, want an error", sig, addr)
		}
	}
	if _, err := Recover(1, "\xff", v.Signature); err == nil {
		t.Error("Recover with invalid UTF-8 timestamp: want an error")
	}
}

func TestNewSignerRejectsBadKeys(t *testing.T) {
	const secret = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff8g"
	for _, k := range []string{
		"",
		"0x",
		"0x" + strings.Repeat("0", 64), // zero
		"0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", // the group order
		strings.Repeat("a", 63),
		strings.Repeat("a", 66),
		secret,
	} {
		s, err := NewSigner(1, k)
		if err == nil {
			t.Errorf("NewSigner(%q) = %v, want an error", k, s)
			continue
		}
		if len(k) > 8 && strings.Contains(err.Error(), k[len(k)-8:]) {
			t.Errorf("NewSigner error %q echoes the key", err)
		}
	}
}

func TestSignerNeverPrintsKey(t *testing.T) {
	const key = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
	s, err := NewSigner(3, "0x"+key)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"%v", "%+v", "%s", "%#v"} {
		for _, v := range []any{s, *s} {
			out := fmt.Sprintf(f, v)
			if strings.Contains(out, key[:16]) || strings.Contains(out, "ac09") || !strings.Contains(out, s.Address()) {
				t.Errorf("Sprintf(%s, %T) = %q; want the address and not the key", f, v, out)
			}
		}
	}
}

func TestSignIsDeterministicAndRejectsInvalidUTF8(t *testing.T) {
	s, err := NewSigner(9, "0x0000000000000000000000000000000000000000000000000000000000000002")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.Sign("2022-10-11T00:00:01.234Z")
	b, _ := s.Sign("2022-10-11T00:00:01.234Z")
	if a != b || len(a) != 132 {
		t.Errorf("Sign twice = %s, %s; want the same 132-character signature", a, b)
	}
	if _, err := s.Sign("bad \xff"); err == nil {
		t.Error("Sign of invalid UTF-8: want an error")
	}
}

// SignBytes is the same signature over any bytes with v in {0, 1}: over a vector's payload it must
// be web3's signature with v lowered by 27, and RecoverBytes must give the signer back from both.
func TestSignBytesMatchesWeb3(t *testing.T) {
	for i, v := range loadVectors(t) {
		s, err := NewSigner(v.SPID, v.Key)
		if err != nil {
			t.Fatal(err)
		}
		raw := strings.TrimPrefix(v.Signature, "0x")
		want := "0x" + raw[:128] + map[string]string{"1b": "00", "1c": "01"}[raw[128:]]
		if got := s.SignBytes([]byte(v.Payload)); got != want {
			t.Errorf("vector %d: SignBytes = %s, want %s", i, got, want)
		}
		for _, sig := range []string{want, v.Signature} {
			if addr, err := RecoverBytes([]byte(v.Payload), sig); err != nil || addr != v.Address {
				t.Errorf("vector %d: RecoverBytes(%s) = %s, %v; want %s", i, sig, addr, err, v.Address)
			}
		}
		if addr, err := RecoverBytes([]byte(v.Payload+" "), want); err == nil && addr == v.Address {
			t.Errorf("vector %d: RecoverBytes of other bytes gave the signer", i)
		}
	}
}
