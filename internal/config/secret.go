package config

import "strconv"

// Secret is a value that must never be printed: a password, a private key, a webhook URL, a
// connection URL with credentials. Every way of formatting it (fmt verbs, %#v, JSON, text) gives
// "***" when it is set and "" when it is empty, so a Config can be logged whole. Only Reveal
// returns the value.
type Secret string

// Reveal returns the secret value, for the one place that uses it.
func (s Secret) Reveal() string { return string(s) }

// String is "***" when the secret is set and "" when it is empty.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "***"
}

// GoString keeps %#v from printing the value (fmt does not use String for %#v).
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// MarshalText gives the masked form, for encoders that use it (and map keys).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalJSON gives the masked form as a JSON string.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }
