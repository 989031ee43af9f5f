package store

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestReadmeMigrations: the README's `netmon migrate` and `netmon check` examples list the
// migrations the binary embeds, so the docs follow the schema.
func TestReadmeMigrations(t *testing.T) {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range files {
		want = append(want, strings.TrimPrefix(f, "migrations/"))
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	listed := regexp.MustCompile(`(?m)^(\d{4}\w*_\w+\.sql)\s+\d{4}-`).FindAllStringSubmatch(readme, -1)
	var got []string
	for _, m := range listed {
		got = append(got, m[1])
	}
	if !slices.Equal(got, want) {
		t.Errorf("README's netmon migrate example lists %v, the binary embeds %v", got, want)
	}
	n := strconv.Itoa(len(want))
	for _, phrase := range []string{"schema up to date: " + n + " migrations", "schema up to date (" + n + " migrations)"} {
		if !strings.Contains(readme, phrase) {
			t.Errorf("README does not say %q", phrase)
		}
	}
}
