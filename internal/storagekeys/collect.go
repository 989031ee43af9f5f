package storagekeys

import (
	"context"
	"errors"

	"github.com/audius-netmon/netmon/internal/storagenode"
)

// Config says where keys come from and how many a run checks.
type Config struct {
	// Discovery reads DiscoverySQL's references; Uploads adds every key of the upload list. At
	// least one. Discovery's upload ids are resolved through the upload list whenever endpoints
	// are given (without them, every upload id is unresolved).
	Discovery bool
	Uploads   bool
	// Endpoints are the nodes to page the upload list from, in order of preference.
	Endpoints []string
	// SampleSize is how many keys to draw (0: every key); Seed makes the draw repeatable.
	SampleSize int
	Seed       int64
}

// Result is what Collect found.
type Result struct {
	// Keys are the sampled keys (every key when SampleSize is 0), each once, in random order.
	Keys []Key
	// Population is the number of distinct keys the sources named: the N a sample estimates.
	Population int64
	// Refs is the discovery references read; Uploads the uploads listed, in UploadPages pages.
	Refs        int64
	Uploads     int64
	UploadPages int
	// Unresolved counts the discovery references that named no key, by reason (Unresolved*).
	Unresolved map[string]int64
}

// Collect reads the configured sources into a sample: the upload list first (indexing it when
// discovery's upload ids need it), then discovery's references, resolved. db may be nil without
// Discovery, c without Endpoints.
func Collect(ctx context.Context, db Querier, c *storagenode.Client, cfg Config) (Result, error) {
	if !cfg.Discovery && !cfg.Uploads {
		return Result{}, errors.New("storage keys: no source (discovery, uploads or both)")
	}
	if cfg.Uploads && len(cfg.Endpoints) == 0 {
		return Result{}, errors.New("storage keys: the uploads source needs node endpoints")
	}
	s := NewSample(cfg.SampleSize, cfg.Seed)
	res := Result{Unresolved: map[string]int64{}}
	var ix *UploadIndex
	if cfg.Discovery && len(cfg.Endpoints) > 0 {
		ix = NewUploadIndex()
	}
	if cfg.Uploads || ix != nil {
		pages, err := ScanUploads(ctx, c, cfg.Endpoints, func(u storagenode.Upload) error {
			res.Uploads++
			if ix != nil {
				ix.Add(u)
			}
			if cfg.Uploads {
				for _, k := range UploadKeys(u) {
					s.Add(k)
				}
			}
			return nil
		})
		res.UploadPages = pages
		if err != nil {
			return res, err
		}
	}
	if cfg.Discovery {
		err := ScanDiscovery(ctx, db, func(r Ref) error {
			res.Refs++
			keys, why := Resolve(r, ix)
			if why != "" {
				res.Unresolved[why]++
			}
			for _, k := range keys {
				s.Add(k)
			}
			return nil
		})
		if err != nil {
			return res, err
		}
	}
	res.Keys, res.Population = s.Keys(), s.Population()
	return res, nil
}
