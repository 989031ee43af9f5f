// Package loader is the only writer of a run's snapshot and results into the NM DB. It consumes
// every message of the data stream (run, content nodes, user, CID and key batches, parts, manifest,
// clock, CID, blob-presence and health results),
// writes each exactly once whatever the number of deliveries, and, when everything the manifest
// promised is written, builds the per-user clock table and produces the run's "loaded" event.
package loader

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// Loader writes data-stream messages to the NM DB.
type Loader struct {
	store *store.Store
	log   zerolog.Logger
	// known remembers runs whose row exists, to skip the look-up.
	known sync.Map
}

// New returns a loader writing to s.
func New(s *store.Store, log zerolog.Logger) *Loader {
	return &Loader{store: s, log: log}
}

// Handle writes one data-stream message and returns the run's loaded event once the run is
// complete. Writing the same message again changes nothing. It may be called from many
// goroutines at once.
//
// The run's row must exist: the planner creates it, with its deadline, before it publishes
// anything (replay creates it before it replays), so a message of a run the NM DB does not know
// belongs to a run pruned since, or to another NM DB, and is refused for good. An NM DB that
// cannot be reached makes the error Unavailable: the router waits until it is back.
func (l *Loader) Handle(ctx context.Context, in message.In) ([]message.Out, error) {
	outs, err := l.handle(ctx, in)
	if store.Unavailable(err) {
		return nil, message.Unavailable(err)
	}
	return outs, err
}

// Poison is nothing: a data message that failed for good is logged by the router, and the run it
// belonged to ends at its deadline without it.
func (l *Loader) Poison(message.In, error) []message.Out { return nil }

func (l *Loader) handle(ctx context.Context, in message.In) ([]message.Out, error) {
	run := in.Subject.Run
	if _, ok := l.known.Load(run); !ok {
		_, err := l.store.GetRun(ctx, run)
		if errors.Is(err, store.ErrNoRun) {
			return nil, message.Permanent(fmt.Errorf("run %d is not in the NM DB (pruned, or planned against another NM DB)", run))
		}
		if err != nil {
			return nil, err
		}
		l.known.Store(run, true)
	}
	m, err := l.write(ctx, in)
	if err != nil {
		return nil, err
	}
	// A clocks run's user batches, results and Part messages each belong to a part of its plan:
	// whichever arrives last builds the part's user status, while the rest of the run is fetched.
	if p, ok := m.(interface{ GetPart() int64 }); ok {
		if _, err := l.store.TryBuildPart(ctx, run, p.GetPart()); err != nil {
			return nil, err
		}
	}
	loaded, err := l.store.TryFinishLoad(ctx, run)
	if err != nil || !loaded {
		return nil, err
	}
	// Every message after completion (redeliveries, replays) repeats the event with the same id;
	// the stream drops the duplicate. The event tells watchers; the runs table is the state.
	return []message.Out{lifecycle.Event(run, lifecycle.Loaded, "", time.Now())}, nil
}

// write decodes in, writes it with the store's idempotent method for its message and returns it.
func (l *Loader) write(ctx context.Context, in message.In) (proto.Message, error) {
	m, err := message.Decode(in)
	if err != nil {
		return nil, err
	}
	if err := validate(in.Subject, m); err != nil {
		return nil, err
	}
	switch m := m.(type) {
	case *netmonv1.StorageResult:
		_, err = l.store.SaveStorageResult(ctx, m)
	case *netmonv1.HealthResult:
		_, err = l.store.SaveHealthResult(ctx, m)
	case *netmonv1.CIDResult:
		_, err = l.store.SaveCIDResult(ctx, m)
	case *netmonv1.FetchResult:
		_, err = l.store.SaveResult(ctx, m)
	case *netmonv1.Run:
		err = l.store.SaveRun(ctx, m)
	case *netmonv1.ContentNodeBatch:
		err = l.store.SaveContentNodes(ctx, m)
	case *netmonv1.UserBatch:
		_, err = l.store.SaveUserBatch(ctx, m)
	case *netmonv1.Part:
		err = l.store.SavePart(ctx, m)
	case *netmonv1.CIDBatch:
		_, err = l.store.SaveCIDBatch(ctx, m)
	case *netmonv1.StorageKeyBatch:
		_, err = l.store.SaveStorageKeys(ctx, m)
	case *netmonv1.Manifest:
		err = l.store.SaveManifest(ctx, m)
	default:
		return nil, message.Permanent(fmt.Errorf("loader: unexpected message on %s", in.Subject))
	}
	return m, err
}

// Key names a data message by the ledger row its write claims (store.MessageKey), as the run's
// cut records it; ok is false for the run's opening message and manifest, which have none, and
// for a message that does not decode (Handle says why).
func Key(in message.In) (key store.MessageKey, ok bool) {
	m, err := message.Decode(in)
	if err != nil {
		return key, false
	}
	switch m := m.(type) {
	case *netmonv1.StorageResult:
		return store.MessageKey{Result: true, Kind: message.KindStorage, SPID: m.GetSpId(), Batch: m.GetBatch()}, true
	case *netmonv1.HealthResult:
		return store.MessageKey{Result: true, Kind: message.KindHealth, SPID: m.GetSpId()}, true
	case *netmonv1.CIDResult:
		return store.MessageKey{Result: true, Kind: message.CIDRouteKind(m.GetRoute()), SPID: m.GetSpId(), Batch: m.GetBatch()}, true
	case *netmonv1.FetchResult:
		return store.MessageKey{Result: true, Kind: message.KindClock, SPID: m.GetSpId(), Batch: m.GetBatch()}, true
	case *netmonv1.ContentNodeBatch:
		return store.MessageKey{Kind: message.KindNodes}, true
	case *netmonv1.UserBatch:
		return store.MessageKey{Kind: message.KindUsers, Batch: m.GetBatch()}, true
	case *netmonv1.CIDBatch:
		return store.MessageKey{Kind: message.KindCIDs, Batch: m.GetBatch()}, true
	case *netmonv1.StorageKeyBatch:
		return store.MessageKey{Kind: message.KindKeys, Batch: m.GetBatch()}, true
	}
	return key, false
}
