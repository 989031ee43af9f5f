package config

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestSecret(t *testing.T) {
	const value = "hunter2-s3cr3t"
	s := Secret(value)
	if s.Reveal() != value {
		t.Errorf("Reveal() = %q, want the value", s.Reveal())
	}
	holder := struct {
		Key Secret
		N   int
	}{s, 1}
	j, err := json.Marshal(holder)
	if err != nil {
		t.Fatal(err)
	}
	text, err := s.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	for what, tc := range map[string]struct{ got, want string }{
		"String":      {s.String(), "***"},
		"%v":          {fmt.Sprintf("%v", s), "***"},
		"%s":          {fmt.Sprintf("%s", s), "***"},
		"%q":          {fmt.Sprintf("%q", s), `"***"`},
		"%#v":         {fmt.Sprintf("%#v", s), `"***"`},
		"%x":          {fmt.Sprintf("%x", s), fmt.Sprintf("%x", "***")},
		"%+v struct":  {fmt.Sprintf("%+v", holder), "{Key:*** N:1}"},
		"%#v struct":  {fmt.Sprintf("%#v", holder), `struct { Key config.Secret; N int }{Key:"***", N:1}`},
		"MarshalText": {string(text), "***"},
		"json":        {string(j), `{"Key":"***","N":1}`},
		"empty":       {Secret("").String(), ""},
		"empty %#v":   {fmt.Sprintf("%#v", Secret("")), `""`},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", what, tc.got, tc.want)
		}
		if strings.Contains(tc.got, "s3cr3t") {
			t.Errorf("%s shows the secret: %q", what, tc.got)
		}
	}
	empty, _ := json.Marshal(Secret(""))
	if string(empty) != `""` {
		t.Errorf("json of an empty secret = %s, want \"\"", empty)
	}
}
