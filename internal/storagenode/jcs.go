package storagenode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/audius-netmon/netmon/internal/signing"
)

// A node signs the JSON Canonicalization Scheme (RFC 8785) form of its health object (gowebpki/jcs
// over encoding/json's output), so a verifier rebuilds those exact bytes from the object it
// received: members sorted by their names' UTF-16 code units, no whitespace, strings with only
// the escapes RFC 8785 requires, numbers as IEEE doubles printed as ECMAScript does.

// jsonValue is a parsed JSON value: nil, bool, string, float64, []jsonValue or *jsonObject.
type jsonValue any

type member struct {
	name  string
	value jsonValue
}

// jsonObject keeps its members in input order; the canonical form sorts them.
type jsonObject struct{ members []member }

// get is the value of the member called name, and whether there is one.
func (o *jsonObject) get(name string) (jsonValue, bool) {
	for _, m := range o.members {
		if m.name == name {
			return m.value, true
		}
	}
	return nil, false
}

// without is o minus the members called any of names.
func (o *jsonObject) without(names ...string) *jsonObject {
	out := &jsonObject{}
	for _, m := range o.members {
		if !slices.Contains(names, m.name) {
			out.members = append(out.members, m)
		}
	}
	return out
}

// parseJSON parses one JSON value and nothing after it. A repeated member name is an error: the
// signer's canonical form had one of them, and which one cannot be known.
func parseJSON(b []byte) (jsonValue, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	v, err := parseValue(d)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

func parseValue(d *json.Decoder) (jsonValue, error) {
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t := t.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &jsonObject{}
			seen := make(map[string]bool)
			for d.More() {
				k, err := d.Token()
				if err != nil {
					return nil, err
				}
				name := k.(string) // the decoder only gives a string here
				if seen[name] {
					return nil, fmt.Errorf("member %q repeated", name)
				}
				seen[name] = true
				v, err := parseValue(d)
				if err != nil {
					return nil, err
				}
				o.members = append(o.members, member{name, v})
			}
			if _, err := d.Token(); err != nil {
				return nil, err
			}
			return o, nil
		case '[':
			arr := []jsonValue{}
			for d.More() {
				v, err := parseValue(d)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := d.Token(); err != nil {
				return nil, err
			}
			return arr, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil {
			return nil, fmt.Errorf("number %s is not an IEEE double", t)
		}
		return f, nil
	default: // bool, string, nil
		return t, nil
	}
}

// canonical is the RFC 8785 form of v.
func canonical(v jsonValue) []byte {
	var b bytes.Buffer
	writeCanonical(&b, v)
	return b.Bytes()
}

func writeCanonical(b *bytes.Buffer, v jsonValue) {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case string:
		signing.QuoteJSON(b, v)
	case float64:
		b.WriteString(formatNumber(v))
	case []jsonValue:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanonical(b, e)
		}
		b.WriteByte(']')
	case *jsonObject:
		members := slices.Clone(v.members)
		slices.SortFunc(members, func(x, y member) int { return compareUTF16(x.name, y.name) })
		b.WriteByte('{')
		for i, m := range members {
			if i > 0 {
				b.WriteByte(',')
			}
			signing.QuoteJSON(b, m.name)
			b.WriteByte(':')
			writeCanonical(b, m.value)
		}
		b.WriteByte('}')
	}
}

// compareUTF16 orders strings by their UTF-16 code units (RFC 8785 §3.2.3), which differs from
// byte order for characters above U+FFFF against U+E000..U+FFFF.
func compareUTF16(x, y string) int {
	return slices.Compare(utf16.Encode([]rune(x)), utf16.Encode([]rune(y)))
}

// formatNumber prints f as ECMAScript's Number.prototype.toString (RFC 8785 §3.2.2.3): the
// shortest digits that read back as f, in plain notation for magnitudes in [1e-6, 1e21), else as
// d.ddde±x; -0 prints as 0. f is finite (parseValue never yields NaN or infinities).
func formatNumber(f float64) string {
	if f == 0 {
		return "0"
	}
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	// Shortest round-trip digits and the decimal exponent: f = 0.d1d2…dk × 10^n.
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±xx
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	n, k := x+1, len(digits)
	var s string
	switch {
	case k <= n && n <= 21:
		s = digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		s = digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		s = "0." + strings.Repeat("0", -n) + digits
	default:
		es := "+"
		if n-1 < 0 {
			es = "-"
		}
		s = digits[:1]
		if k > 1 {
			s += "." + digits[1:]
		}
		s += "e" + es + strconv.Itoa(int(math.Abs(float64(n-1))))
	}
	return sign + s
}
