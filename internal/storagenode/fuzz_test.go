package storagenode

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzDecodeHealth feeds arbitrary bodies to the health decoder: it never panics, what it accepts
// is one of the two formats with a coherent signature verdict, and the canonical form it signs
// over is valid JSON and a fixed point (canonicalising it again changes nothing).
func FuzzDecodeHealth(f *testing.F) {
	s := signer(f, key0)
	f.Add(200, aggregatedBody(f, s, storageData(), nil))
	f.Add(506, mediorumBody(f, s, storageData(), nil))
	f.Add(200, aggregatedBody(f, s, map[string]any{"enabled": false}, nil))
	f.Add(200, []byte(`{"data":{"replicationFactor":3},"signature":"0x`+strings.Repeat("ab", 64)+`01"}`))
	f.Add(200, []byte(`{"storage":{"lastSuccessfulRepair":{"Counters":{"pull_mine_needed":1e3}}}}`))
	f.Add(503, []byte(`{"a":"\ud83d\ude00\u2028","b":[1E400]}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		h, err := DecodeHealth(status, body)
		if err == nil {
			if h.Format != Aggregated && h.Format != Mediorum {
				t.Fatalf("accepted with format %v", h.Format)
			}
			if h.HTTPStatus != status {
				t.Fatalf("HTTPStatus %d, answer %d", h.HTTPStatus, status)
			}
			if (h.SignatureProblem == 0) != (len(h.Recovered) == 42 && strings.HasPrefix(h.Recovered, "0x")) {
				t.Fatalf("problem %v with recovered %q", h.SignatureProblem, h.Recovered)
			}
			if v := h.VerifySignature(addr0); signatureNames[v] == "" {
				t.Fatalf("verdict %d", v)
			}
		}
		v, err := parseJSON(body)
		if err != nil {
			return
		}
		c := canonical(v)
		if !json.Valid(c) {
			t.Fatalf("canonical form is not JSON: %q", c)
		}
		again, err := parseJSON(c)
		if err != nil {
			t.Fatalf("canonical form does not parse: %v", err)
		}
		if c2 := canonical(again); !bytes.Equal(c, c2) {
			t.Fatalf("canonical form not a fixed point:\n%q\n%q", c, c2)
		}
	})
}

// FuzzDecodeBlobInfo: the blob-info decoder never panics and only answers what the status allows.
func FuzzDecodeBlobInfo(f *testing.F) {
	f.Add(200, []byte(attributesJSON))
	f.Add(200, []byte(`{"Size":0}`))
	f.Add(404, []byte("blob not found\n"))
	f.Add(404, []byte(`{"message":"Not Found"}`))
	f.Add(500, []byte("database connection issue"))
	f.Add(500, []byte(`{"message":"`+strings.Repeat("é", 300)+`"}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		info, err := DecodeBlobInfo(status, body)
		if err != nil {
			return
		}
		switch info.Presence {
		case Present:
			if status != 200 || info.Size < 0 {
				t.Fatalf("present with status %d size %d", status, info.Size)
			}
		case Absent:
			if status != 404 {
				t.Fatalf("absent with status %d", status)
			}
		case Unknown:
			if status != 500 || len(info.Detail) > 210 {
				t.Fatalf("unknown with status %d, detail of %d bytes", status, len(info.Detail))
			}
		default:
			t.Fatalf("presence %v", info.Presence)
		}
	})
}

// FuzzDecodeUploads: the upload-list decoder never panics; what it accepts is ordered and has ids.
func FuzzDecodeUploads(f *testing.F) {
	f.Add([]byte(uploadsPage))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"id":"a","results":{"320":""},"template":"audio"}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		page, err := DecodeUploads(body)
		if err != nil {
			return
		}
		for i, u := range page {
			if u.ID == "" || (i > 0 && u.CreatedAt.Before(page[i-1].CreatedAt)) {
				t.Fatalf("accepted upload %d: %+v", i, u)
			}
			for _, k := range u.Keys() {
				if k == "" {
					t.Fatal("an empty key")
				}
			}
		}
	})
}
