package storagekeys

import (
	"strings"
	"testing"

	"github.com/audius-netmon/netmon/internal/storagenode"
)

// FuzzResolve: any column value resolves to keys or to a reason, never both and never an empty
// key; a sizes value is a key only as an upload's original or a Qm directory's original.jpg.
func FuzzResolve(f *testing.F) {
	ix := NewUploadIndex()
	ix.Add(storagenode.Upload{ID: "01J0ABCDEFGHJKMNPQRSTVWXYZ", Template: storagenode.TemplateAudio, OrigFileCID: "orig",
		Results: map[string]string{"320": "t320", "320_preview|1": "prev"}, PlacementHosts: []string{"http://a", "http://[::1"}})
	for _, kind := range []string{RefCID, RefPreview, RefUpload, RefSizes, RefSingle} {
		f.Add(kind, "01J0ABCDEFGHJKMNPQRSTVWXYZ", "")
		f.Add(kind, "QmP8Wuu1kN9iHBoBptB4UrTN3orna3Z6ZW2xevNkoE2y22", "http://A/, http://b")
		f.Add(kind, "baeaaaiqsedr3brcctd6byfe27p2mrglpxescplsb4rsjxe2muskzsg3ykk4fk", ",,")
	}
	f.Fuzz(func(t *testing.T, kind, value, placement string) {
		if value == "" {
			return // DiscoverySQL never yields an empty value
		}
		keys, why := Resolve(Ref{Kind: kind, Value: value, Placement: placement}, ix)
		if (why == "") == (len(keys) == 0) {
			t.Fatalf("Resolve(%q, %q) = %v and %q", kind, value, keys, why)
		}
		for _, k := range keys {
			if k.Key == "" {
				t.Fatalf("Resolve(%q, %q): an empty key", kind, value)
			}
			if kind == RefSizes && k.Key != "orig" && !(strings.HasPrefix(k.Key, "Qm") && strings.HasSuffix(k.Key, "/original.jpg")) {
				t.Fatalf("sizes %q resolved to %q", value, k.Key)
			}
			for _, h := range k.PlacementHosts {
				if h == "" || strings.ToLower(h) != h {
					t.Fatalf("placement host %q not normalised", h)
				}
			}
		}
	})
}
