package contentnode

import (
	"bytes"
)

// scanner reads the common form of a node's answer in one pass over the body, without
// allocating: objects, arrays, strings of printable ASCII without escapes, integers without
// fraction or exponent, true, false and null. It is deliberately narrow and never judges a body:
// on anything else (another value, an escape, a non-ASCII byte, a repeated key, a key that
// encoding/json would match to a field only case-insensitively, trailing data) it gives up, ok
// turns false, every further call is a no-op, and the caller decodes the body with encoding/json,
// whose answer and error stand. So a body the scanner accepts is one encoding/json accepts with
// the same meaning (FuzzDecodeClocks and FuzzDecodeCIDs compare the two).
type scanner struct {
	b  []byte
	i  int
	ok bool
}

func newScanner(b []byte) *scanner { return &scanner{b: b, ok: true} }

// ws skips JSON whitespace.
func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next skips whitespace and consumes c if it comes next.
func (s *scanner) next(c byte) bool {
	s.ws()
	if s.ok && s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// want consumes c or gives up.
func (s *scanner) want(c byte) {
	if !s.next(c) {
		s.ok = false
	}
}

// end gives up unless only whitespace is left.
func (s *scanner) end() {
	s.ws()
	if s.i != len(s.b) {
		s.ok = false
	}
}

// str reads a string and returns its contents, a slice of the body, and whether it holds an
// upper-case letter. It gives up on an escape, a control byte or a byte >= 0x80: such strings
// mean what encoding/json makes of them (escapes decoded, invalid UTF-8 replaced).
func (s *scanner) str() (b []byte, upper bool) {
	if !s.next('"') {
		s.ok = false
		return nil, false
	}
	n := bytes.IndexByte(s.b[s.i:], '"')
	if n < 0 {
		s.ok = false
		return nil, false
	}
	b = s.b[s.i : s.i+n]
	var class byte
	for _, c := range b {
		class |= strClass[c]
	}
	if class&classOther != 0 {
		s.ok = false
		return nil, false
	}
	s.i += n + 1
	return b, class&classUpper != 0
}

// Byte classes inside a string, for str.
const (
	classUpper = 1 << iota // 'A'-'Z'
	classOther             // an escape, a control byte or a byte >= 0x80: not for the scanner
)

var strClass = func() (t [256]byte) {
	for c := range t {
		switch {
		case c < 0x20 || c == '\\' || c >= 0x80:
			t[c] = classOther
		case 'A' <= c && c <= 'Z':
			t[c] = classUpper
		}
	}
	return t
}()

// integer reads an integer in [-1, 10^18) as JSON writes it ("-0" is 0). Anything else, a
// fraction or exponent included (the caller then finds no ',' or '}'), gives up.
func (s *scanner) integer() int64 {
	s.ws()
	if !s.ok {
		return 0
	}
	neg := s.i < len(s.b) && s.b[s.i] == '-'
	if neg {
		s.i++
	}
	start := s.i
	var n int64
	for s.i < len(s.b) && s.i-start < 19 && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		n = n*10 + int64(s.b[s.i]-'0')
		s.i++
	}
	digits := s.i - start
	if digits == 0 || digits > 18 || digits > 1 && s.b[start] == '0' {
		s.ok = false
		return 0
	}
	if neg {
		n = -n
	}
	if n < -1 {
		s.ok = false
		return 0
	}
	return n
}

// boolean reads true or false.
func (s *scanner) boolean() bool {
	s.ws()
	switch {
	case !s.ok:
	case bytes.HasPrefix(s.b[s.i:], []byte("true")):
		s.i += 4
		return true
	case bytes.HasPrefix(s.b[s.i:], []byte("false")):
		s.i += 5
		return false
	default:
		s.ok = false
	}
	return false
}

// skip reads the value of a member nobody asked for: a string, true, false or null.
func (s *scanner) skip() {
	s.ws()
	if !s.ok || s.i >= len(s.b) {
		s.ok = false
		return
	}
	switch s.b[s.i] {
	case '"':
		s.str()
		return
	case 't', 'f':
		s.boolean()
		return
	}
	if !bytes.HasPrefix(s.b[s.i:], []byte("null")) {
		s.ok = false
		return
	}
	s.i += 4
}

// object reads an object; member is called with each key and must read its value.
func (s *scanner) object(member func(key []byte)) {
	s.want('{')
	if s.next('}') {
		return
	}
	for s.ok {
		key, _ := s.str()
		s.want(':')
		if !s.ok {
			return
		}
		member(key)
		if !s.next(',') {
			s.want('}')
			return
		}
	}
}

// array reads an array; elem is called for each element and must read it.
func (s *scanner) array(elem func()) {
	s.want('[')
	if s.next(']') {
		return
	}
	for s.ok {
		elem()
		if !s.next(',') {
			s.want(']')
			return
		}
	}
}

// field says whether key names field, once: exactly the first time. A repeated key, or a key
// encoding/json (or its v2 implementation, which also ignores '-' and '_' when matching names
// case-insensitively) could take for field without being it, gives up; any other key is not
// field.
func (s *scanner) field(key []byte, field string, seen *bool) bool {
	if string(key) == field {
		if *seen {
			s.ok = false
			return false
		}
		*seen = true
		return true
	}
	if foldsTo(key, field) {
		s.ok = false
	}
	return false
}

// foldsTo says whether key, ASCII, is field ignoring ASCII case, '-' and '_'.
func foldsTo(key []byte, field string) bool {
	j := 0
	for _, c := range key {
		if c == '-' || c == '_' {
			continue
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		f := byte(0)
		if j < len(field) {
			f = field[j]
			if 'A' <= f && f <= 'Z' {
				f += 'a' - 'A'
			}
		}
		if c != f {
			return false
		}
		j++
	}
	return j == len(field)
}

// envelope reads the successResponse envelope {"data": {<name>: [...]}, ...} and calls elem for
// each element of data.<name>. The other members, of the envelope and of data, must be plain
// values (the node's signer, timestamp and signature are strings).
func (s *scanner) envelope(name string, elem func()) {
	var seenData, seenList bool
	s.object(func(key []byte) {
		if !s.field(key, "data", &seenData) {
			s.skip()
			return
		}
		s.object(func(key []byte) {
			if !s.field(key, name, &seenList) {
				s.skip()
				return
			}
			s.array(elem)
		})
	})
	s.end()
	if !seenList {
		s.ok = false // no data or no list: encoding/json's path says which
	}
}

// lowerASCII lower-cases b, printable ASCII, into buf when that is large enough.
func lowerASCII(buf []byte, b []byte) []byte {
	out := append(buf[:0], b...)
	for i, c := range out {
		if 'A' <= c && c <= 'Z' {
			out[i] = c + 'a' - 'A'
		}
	}
	return out
}
