package storagenode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/audius-netmon/netmon/internal/contentnode"
)

// Presence is what a node says about one blob.
type Presence int

// The answers of GET /internal/blobs/info/<key> (§3.1).
const (
	// Present: 200 with the blob's attributes.
	Present Presence = iota + 1
	// Absent: 404 "blob not found".
	Absent
	// Unknown: 500. "database connection issue" (DBDown) when the node's Postgres is unhealthy
	// (GN checks it before the lookup, so even a held blob reads unknown), else another storage
	// error. Either way the node could not say.
	Unknown
)

var presenceNames = map[Presence]string{Present: "present", Absent: "absent", Unknown: "unknown"}

func (p Presence) String() string {
	if s, ok := presenceNames[p]; ok {
		return s
	}
	return fmt.Sprintf("presence(%d)", int(p))
}

// The bodies mediorum writes with its 404 and its database 500 (c.String, text/plain).
const (
	bodyNotFound = "blob not found"
	bodyDBDown   = "database connection issue"
)

// BlobInfo is a node's answer about one blob.
type BlobInfo struct {
	Presence Presence
	// Size, ModTime and MD5 are the blob's attributes when Present (gocloud blob.Attributes):
	// bytes, the copy's last modification (repair never deletes a copy younger than 7 days), and
	// the base64 MD5 when the driver fills it. ModTime is zero when the node did not say.
	Size    int64
	ModTime time.Time
	MD5     string
	// DBDown says an Unknown answer was the node's database check.
	DBDown bool
	// Detail is the body of an Unknown answer, shortened, for the operator.
	Detail string
}

// BlobInfo asks endpoint whether it holds key: GET /internal/blobs/info/<url.PathEscape(key)>, no
// authentication (§3.1). The key is sent exactly as stored (case-sensitive); a legacy path key
// `Qm…/original.jpg` travels with its "/" as %2F. 200, 404 "blob not found" and 500 are answers;
// any other status (a 404 with another body too: a node or proxy without the route), a 200
// whose body is not the attributes object, or a transport failure is a *contentnode.Error.
func (c *Client) BlobInfo(ctx context.Context, endpoint, key string) (BlobInfo, error) {
	a, target, err := c.get(ctx, endpoint, PathBlobInfo+url.PathEscape(key), "")
	if err != nil {
		return BlobInfo{}, err
	}
	info, err := DecodeBlobInfo(a.status, a.body)
	if errors.Is(err, errStatus) {
		return BlobInfo{}, statusError(target, a)
	}
	if err != nil {
		return BlobInfo{}, badResponse(target, a.status, err)
	}
	return info, nil
}

// errStatus marks an answer whose status (and body) the route does not define.
var errStatus = errors.New("undefined status")

// DecodeBlobInfo reads a blob-info answer from its status and body. 404 counts as Absent only
// with mediorum's own body: echo answers an unknown route with 404 {"message":"Not Found"}, which
// says nothing about the blob.
func DecodeBlobInfo(status int, body []byte) (BlobInfo, error) {
	switch status {
	case http.StatusOK:
		return decodeAttributes(body)
	case http.StatusNotFound:
		if string(bytes.TrimSpace(body)) == bodyNotFound {
			return BlobInfo{Presence: Absent}, nil
		}
	case http.StatusInternalServerError:
		text := bytes.TrimSpace(body)
		return BlobInfo{Presence: Unknown, DBDown: string(text) == bodyDBDown, Detail: contentnode.Excerpt(text)}, nil
	}
	return BlobInfo{}, errStatus
}

// decodeAttributes decodes the JSON of gocloud's blob.Attributes (Go field names, no tags).
// Only the fields used are typed; any other field may hold anything.
func decodeAttributes(body []byte) (BlobInfo, error) {
	var attr struct {
		Size    *int64
		ModTime *time.Time
		MD5     *string
	}
	if err := decodeObject(body, &attr); err != nil {
		return BlobInfo{}, fmt.Errorf("blob attributes: %w", err)
	}
	if attr.Size == nil {
		return BlobInfo{}, errors.New("blob attributes: no Size")
	}
	if *attr.Size < 0 {
		return BlobInfo{}, fmt.Errorf("blob attributes: Size %d is negative", *attr.Size)
	}
	info := BlobInfo{Presence: Present, Size: *attr.Size}
	if attr.ModTime != nil {
		info.ModTime = *attr.ModTime
	}
	if attr.MD5 != nil {
		info.MD5 = *attr.MD5
	}
	return info, nil
}

// decodeObject decodes body, which must be one JSON object and nothing after it, into v.
func decodeObject(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return errors.New("not a JSON object")
	}
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}
