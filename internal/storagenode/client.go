// Package storagenode is an HTTP client for the storage-v2 node routes a replication-health monitor
// calls (spec audius-storage-v2.md §3-§5): blob presence (GET /internal/blobs/info/<key>), health
// (GET /health_check, both the aggregated GN format and mediorum's own), and the upload list
// (GET /uploads?after=). It consumes an endpoint and a key, a time or nothing, and produces the
// node's answer decoded, or a *contentnode.Error that classifies the failure the way the legacy
// content-node client does (timeout, refused, network, HTTP status, bad response, blocked). It
// makes exactly one request per call: retries, per-node concurrency and rate limits belong to the
// caller.
//
// It never calls /content/ or /ipfs/: without localOnly those routes make a node pull the blob
// from its peers, so a probe would create the replica it is looking for (§3.2).
package storagenode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/audius-netmon/netmon/internal/contentnode"
)

// Route paths, relative to a node's endpoint.
const (
	PathBlobInfo    = "/internal/blobs/info/"
	PathHealthCheck = "/health_check"
	PathUploads     = "/uploads"
)

// DefaultMaxBody caps a response body when Client.MaxBody is 0: a page of 2000 uploads with their
// probe results is a few MB; a health answer lists every peer.
const DefaultMaxBody = 16 << 20

// Client calls storage nodes. The zero value works: the zero Policy (loopback and private
// networks allowed), an HTTP client enforcing it built on first use, and a 16 MiB body cap. It is
// safe for concurrent use; its fields must not change after the first call.
type Client struct {
	// Policy says which addresses endpoints may reach (SSRF protection): endpoints come from the
	// Ethereum registry, which third parties write. It is checked on the endpoint before every
	// call and, when HTTP is nil, on every address dialled and every redirect.
	Policy contentnode.Policy
	// HTTP, when set, replaces the policy-enforcing client (contentnode.NewHTTPClient).
	HTTP *http.Client
	// MaxBody caps a response body in bytes; 0 means DefaultMaxBody.
	MaxBody int64

	guardedOnce sync.Once
	guarded     *http.Client
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	c.guardedOnce.Do(func() { c.guarded = contentnode.NewHTTPClient(c.Policy) })
	return c.guarded
}

func (c *Client) maxBody() int64 {
	if c.MaxBody > 0 {
		return c.MaxBody
	}
	return DefaultMaxBody
}

// answer is a node's HTTP answer: its status and its body, whole, at most MaxBody bytes.
type answer struct {
	status int
	body   []byte
}

// get sends one GET to endpoint + escapedPath (already escaped) + query and reads the answer,
// whatever its status. Failures before an answer arrives, and a body over the cap, are
// *contentnode.Error; target names the URL without query for error text.
func (c *Client) get(ctx context.Context, endpoint, escapedPath, rawQuery string) (answer, string, error) {
	base := strings.TrimSuffix(endpoint, "/")
	target := base + escapedPath
	if err := c.Policy.CheckEndpoint(endpoint); err != nil {
		return answer{}, target, &contentnode.Error{Reason: contentnode.Blocked, Err: fmt.Errorf("GET %s: %w", target, err)}
	}
	u, err := url.Parse(target)
	if err != nil {
		return answer{}, target, &contentnode.Error{Reason: contentnode.Blocked, Err: fmt.Errorf("GET %s: %w", target, err)}
	}
	u.RawQuery = rawQuery
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return answer{}, target, fmt.Errorf("GET %s: %w", target, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.httpClient().Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL
		}
		return answer{}, target, &contentnode.Error{Reason: contentnode.Classify(err), Err: fmt.Errorf("GET %s: %w", target, err)}
	}
	defer resp.Body.Close()
	limit := c.maxBody()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return answer{}, target, &contentnode.Error{Reason: contentnode.Classify(err), Status: resp.StatusCode,
			Err: fmt.Errorf("GET %s: read body: %w", target, err)}
	}
	if int64(len(body)) > limit {
		return answer{}, target, &contentnode.Error{Reason: contentnode.BadResponse, Status: resp.StatusCode,
			Err: fmt.Errorf("GET %s: body larger than %d bytes", target, limit)}
	}
	return answer{status: resp.StatusCode, body: body}, target, nil
}

// statusError is the error of an answer whose status the route does not define.
func statusError(target string, a answer) error {
	return &contentnode.Error{Reason: contentnode.HTTPStatus, Status: a.status,
		Err: fmt.Errorf("GET %s: HTTP %d: %s", target, a.status, contentnode.Excerpt(a.body))}
}

// badResponse is the error of an answer with a defined status whose body is not a valid answer.
func badResponse(target string, status int, err error) error {
	return &contentnode.Error{Reason: contentnode.BadResponse, Status: status, Err: fmt.Errorf("GET %s: %w", target, err)}
}
