package storagenode

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/audius-netmon/netmon/internal/contentnode"
)

// A node's blob-info answers as mediorum writes them (§3.1): echo's c.JSON of gocloud's
// blob.Attributes, c.String for 404 and the database 500, echo's JSON for other errors.
const attributesJSON = `{"CacheControl":"","ContentDisposition":"","ContentEncoding":"","ContentLanguage":"",` +
	`"ContentType":"audio/mpeg","Metadata":null,"CreateTime":"0001-01-01T00:00:00Z",` +
	`"ModTime":"2026-04-01T12:00:00.5Z","Size":4812345,"MD5":"1B2M2Y8AsgTpgAmY7PhCfg==","ETag":"\"abc\""}` + "\n"

func TestDecodeBlobInfo(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		body   string
		want   BlobInfo
	}{
		{"present", 200, attributesJSON, BlobInfo{Presence: Present, Size: 4812345,
			ModTime: time.Date(2026, 4, 1, 12, 0, 0, 500000000, time.UTC), MD5: "1B2M2Y8AsgTpgAmY7PhCfg=="}},
		{"present, empty file, no MD5", 200, `{"Size":0,"MD5":null,"ModTime":"2026-04-01T12:00:00Z"}`,
			BlobInfo{Presence: Present, ModTime: time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)}},
		{"absent", 404, "blob not found", BlobInfo{Presence: Absent}},
		{"database down", 500, "database connection issue", BlobInfo{Presence: Unknown, DBDown: true, Detail: "database connection issue"}},
		{"storage error", 500, `{"message":"Internal Server Error"}` + "\n",
			BlobInfo{Presence: Unknown, Detail: `{"message":"Internal Server Error"}`}},
	} {
		got, err := DecodeBlobInfo(c.status, []byte(c.body))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !got.ModTime.Equal(c.want.ModTime) || got.Presence != c.want.Presence || got.Size != c.want.Size ||
			got.MD5 != c.want.MD5 || got.DBDown != c.want.DBDown || got.Detail != c.want.Detail {
			t.Errorf("%s: DecodeBlobInfo = %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestDecodeBlobInfoRejects(t *testing.T) {
	for _, c := range []struct {
		status   int
		body     string
		bodyFail bool // a bad 200 body rather than an undefined status
	}{
		{404, `{"message":"Not Found"}`, false}, // echo's unknown route: says nothing about the blob
		{403, "cid is blacklisted by this node", false},
		{503, "database not healthy", false},
		{302, "", false},
		{200, "blob not found", true},
		{200, `{"Size":"12"}`, true},
		{200, `{"Size":-1}`, true},
		{200, `{"ModTime":"2026-04-01T12:00:00Z"}`, true},
		{200, `{"Size":1}{"Size":2}`, true},
		{200, `{"Size":1,"ModTime":"yesterday"}`, true},
		{200, `<html>cloudflare</html>`, true},
	} {
		_, err := DecodeBlobInfo(c.status, []byte(c.body))
		if err == nil {
			t.Errorf("%d %q: no error", c.status, c.body)
		} else if errors.Is(err, errStatus) == c.bodyFail {
			t.Errorf("%d %q: %v", c.status, c.body, err)
		}
	}
}

// fakeBlobNode answers blob info the way mediorum routes it: by the escaped path, the key
// unescaped from its one segment.
func fakeBlobNode(t *testing.T, held map[string]string) *httptest.Server {
	t.Helper()
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "method", http.StatusMethodNotAllowed)
			return
		}
		escaped, ok := strings.CutPrefix(r.URL.EscapedPath(), PathBlobInfo)
		if !ok || strings.Contains(escaped, "/") {
			w.WriteHeader(404)
			w.Write([]byte(`{"message":"Not Found"}`))
			return
		}
		key, err := url.PathUnescape(escaped)
		if err != nil {
			t.Errorf("bad escape %q", escaped)
		}
		switch body, ok := held[key]; {
		case key == "dbdown":
			w.WriteHeader(500)
			w.Write([]byte("database connection issue"))
		case ok:
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(body))
		default:
			w.WriteHeader(404)
			w.Write([]byte("blob not found"))
		}
	}))
}

func TestBlobInfoOverHTTP(t *testing.T) {
	legacy := "QmP8Wuu1kN9iHBoBptB4UrTN3orna3Z6ZW2xevNkoE2y22/original.jpg"
	v2 := "baeaaaiqsebskpnfxwj4j4fvg63k4nxbfdspavo4dgmfn4iut3rz6e5rymdrhe"
	odd := "key with space?#%"
	srv := fakeBlobNode(t, map[string]string{legacy: `{"Size":10}`, v2: attributesJSON, odd: `{"Size":3}`})
	defer srv.Close()
	var c Client
	ctx := context.Background()
	for _, k := range []struct {
		key  string
		want Presence
		size int64
	}{
		{legacy, Present, 10}, {v2, Present, 4812345}, {odd, Present, 3},
		{strings.ToUpper(v2), Absent, 0}, // keys are case-sensitive
		{"dbdown", Unknown, 0},
	} {
		got, err := c.BlobInfo(ctx, srv.URL+"/", k.key)
		if err != nil || got.Presence != k.want || got.Size != k.size {
			t.Errorf("BlobInfo(%q) = %+v, %v; want %v size %d", k.key, got, err, k.want, k.size)
		}
	}
	// A node without the route (or a proxy's 404) is an error, not "absent".
	_, err := c.BlobInfo(ctx, srv.URL+"/prefix", v2)
	assertReason(t, err, contentnode.HTTPStatus)
}

func TestBlobInfoFailures(t *testing.T) {
	ctx := context.Background()
	// Refused: a port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	var c Client
	_, err = c.BlobInfo(ctx, closed, "k")
	assertReason(t, err, contentnode.Refused)

	// Timeout: the node accepts and never answers within the caller's deadline.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = c.BlobInfo(tctx, hang.URL, "k")
	assertReason(t, err, contentnode.Timeout)

	// Blocked: the policy refuses loopback, and nothing is sent.
	sent := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sent = true }))
	defer srv.Close()
	strict := Client{Policy: contentnode.Policy{BlockPrivate: true}}
	_, err = strict.BlobInfo(ctx, srv.URL, "k")
	assertReason(t, err, contentnode.Blocked)
	_, err = strict.BlobInfo(ctx, "http://169.254.169.254", "k")
	assertReason(t, err, contentnode.Blocked)
	if sent {
		t.Error("a blocked endpoint was called")
	}

	// A body over the cap is a bad response.
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"Size":1,"Metadata":{"x":"` + strings.Repeat("x", 2000) + `"}}`))
	}))
	defer big.Close()
	small := Client{MaxBody: 1000}
	_, err = small.BlobInfo(ctx, big.URL, "k")
	assertReason(t, err, contentnode.BadResponse)
	if got, err := c.BlobInfo(ctx, big.URL, "k"); err != nil || got.Size != 1 {
		t.Errorf("under the default cap: %+v, %v", got, err)
	}
}

func assertReason(t *testing.T, err error, want contentnode.Reason) {
	t.Helper()
	var ce *contentnode.Error
	if !errors.As(err, &ce) || ce.Reason != want {
		t.Errorf("error %v, want reason %v", err, want)
	}
}
