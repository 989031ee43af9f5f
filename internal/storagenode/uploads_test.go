package storagenode

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// One upload of each template as GN's serveUploadList marshals them (Upload's JSON tags; the
// sql.NullString fields as objects, probe and analysis results as nested objects).
const uploadsPage = `[
 {"id":"01HZZZAUDIO000000000000001","user_wallet":{"String":"0xabc","Valid":true},"template":"audio",
  "orig_filename":"song.wav","orig_file_cid":"baeaaaiqseorig","selected_preview":{"String":"","Valid":false},
  "probe":{"format":{"size":"12345678"}},"mirrors":["https://a","https://b"],"transcoded_mirrors":["https://a"],
  "status":"done","placement_hosts":null,"created_by":"https://a","created_at":"2026-01-02T03:04:05.123456Z",
  "updated_at":"2026-01-02T03:05:00Z","transcoded_by":"https://a","transcode_progress":1,
  "transcoded_at":"2026-01-02T03:05:00Z","results":{"320":"baeaaaiqsetranscode","320_preview|30":"baeaaaiqsepreview"},
  "audio_analysis_status":"done","audio_analysis_error_count":0,"audio_analyzed_by":"","audio_analyzed_at":"0001-01-01T00:00:00Z",
  "audio_analysis_results":{"bpm":120,"key":"C major"}},
 {"id":"01HZZZIMAGE000000000000002","template":"img_square","orig_file_cid":"baeaaaiqseimage",
  "results":{"original.jpg":"baeaaaiqseimage","150x150.jpg":"baeaaaiqsesmall"},"placement_hosts":["https://c","https://d"],
  "mirrors":["https://c"],"status":"done","created_at":"2026-01-02T03:04:05.123456Z"}
]`

func TestDecodeUploads(t *testing.T) {
	page, err := DecodeUploads([]byte(uploadsPage))
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 {
		t.Fatalf("%d uploads, want 2", len(page))
	}
	audio, image := page[0], page[1]
	if audio.ID != "01HZZZAUDIO000000000000001" || audio.Template != TemplateAudio || audio.Status != "done" ||
		!audio.CreatedAt.Equal(time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)) || audio.PlacementHosts != nil {
		t.Errorf("audio upload = %+v", audio)
	}
	// Audio: the original, then every result by name ("320" < "320_preview|30").
	if got, want := audio.Keys(), []string{"baeaaaiqseorig", "baeaaaiqsetranscode", "baeaaaiqsepreview"}; !slices.Equal(got, want) {
		t.Errorf("audio Keys = %v, want %v", got, want)
	}
	// Images: only the original is replicated (variants are made on demand).
	if got, want := image.Keys(), []string{"baeaaaiqseimage"}; !slices.Equal(got, want) {
		t.Errorf("image Keys = %v, want %v", got, want)
	}
	if want := []string{"https://c", "https://d"}; !slices.Equal(image.PlacementHosts, want) {
		t.Errorf("image PlacementHosts = %v, want %v", image.PlacementHosts, want)
	}
	for _, body := range []string{"[]", "null", " [ ] "} {
		if page, err := DecodeUploads([]byte(body)); err != nil || len(page) != 0 {
			t.Errorf("DecodeUploads(%q) = %v, %v; want an empty page", body, page, err)
		}
	}
}

func TestDecodeUploadsRejects(t *testing.T) {
	for _, body := range []string{
		`{"id":"x"}`,
		`[{"template":"audio"}]`, // no id
		`[{"id":"a","created_at":"2026-01-02T00:00:00Z"},{"id":"b","created_at":"2026-01-01T00:00:00Z"}]`,
		`[{"id":"a","created_at":"yesterday"}]`,
		`[{"id":"a"}] x`,
	} {
		if _, err := DecodeUploads([]byte(body)); err == nil {
			t.Errorf("DecodeUploads(%s): no error", body)
		}
	}
}

func TestUploadsOverHTTP(t *testing.T) {
	var gotAfter []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != PathUploads {
			http.NotFound(w, r)
			return
		}
		gotAfter = append(gotAfter, r.URL.Query().Get("after"))
		w.Write([]byte(uploadsPage))
	}))
	defer srv.Close()
	var c Client
	after := time.Date(2026, 1, 1, 0, 0, 0, 5, time.FixedZone("X", 3600))
	page, err := c.Uploads(context.Background(), srv.URL, after)
	if err != nil || len(page) != 2 {
		t.Fatalf("Uploads = %d, %v", len(page), err)
	}
	if _, err := c.Uploads(context.Background(), srv.URL, time.Time{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"2025-12-31T23:00:00.000000005Z", "0001-01-01T00:00:00Z"}
	if !slices.Equal(gotAfter, want) {
		t.Errorf("after = %q, want %q", gotAfter, want)
	}
}
