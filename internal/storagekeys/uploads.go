package storagekeys

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/audius-netmon/netmon/internal/storagenode"
)

// ScanUploads pages the upload list of the nodes at endpoints (GET /uploads?after=, spec §5.1)
// from the beginning and calls fn for every upload once, oldest first; it returns the pages read.
// Every node's uploads table is eventually the network's (§5.1), so a page a node fails to give
// is asked of the next endpoint, and the scan fails only when every endpoint fails one page.
//
// Unlike mediorum's own scroller it skips no upload sharing the exact created_at of a page's
// last one: the next page starts 1 ns before that instant and the uploads already seen (by id)
// are dropped. Only a page whose uploads all share one instant (2000 at the same nanosecond)
// moves on past it.
func ScanUploads(ctx context.Context, c *storagenode.Client, endpoints []string, fn func(storagenode.Upload) error) (int, error) {
	if len(endpoints) == 0 {
		return 0, errors.New("uploads: no endpoint to list them from")
	}
	var after time.Time
	seen := map[string]bool{} // ids of the uploads at the last page's final instant
	pages := 0
	for {
		page, err := uploadsPage(ctx, c, endpoints, after)
		if err != nil {
			return pages, err
		}
		pages++
		for _, u := range page {
			if seen[u.ID] {
				continue
			}
			if err := fn(u); err != nil {
				return pages, err
			}
		}
		if len(page) < storagenode.UploadsPageSize {
			return pages, nil
		}
		last := page[len(page)-1].CreatedAt
		next := last.Add(-time.Nanosecond)
		if !page[0].CreatedAt.Before(last) {
			next = last // the whole page is one instant: move past it
		}
		seen = map[string]bool{}
		for _, u := range page {
			if u.CreatedAt.Equal(last) {
				seen[u.ID] = true
			}
		}
		after = next
	}
}

// uploadsPage asks each endpoint in turn for the page after after, until one answers.
func uploadsPage(ctx context.Context, c *storagenode.Client, endpoints []string, after time.Time) ([]storagenode.Upload, error) {
	var errs []error
	for _, ep := range endpoints {
		page, err := c.Uploads(ctx, ep, after)
		if err == nil {
			return page, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("uploads after %s: every endpoint failed: %w", after.Format(time.RFC3339Nano), errors.Join(errs...))
}
