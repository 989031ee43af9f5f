// Package loader is the only writer of a run's snapshot and results into the NM DB. It consumes
// every message of the data stream (run, content nodes, user, CID and key batches, manifest,
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

// Handle writes one data-stream message (by subject) and returns the run's loaded event once the
// run is complete. Writing the same message again changes nothing. It may be called from many
// goroutines at once.
//
// The run's row must exist: the planner creates it, with its deadline, before it publishes
// anything (replay creates it before it replays), so a message of a run the NM DB does not know
// belongs to a run pruned since, or to another NM DB, and is refused for good. An NM DB that
// cannot be reached makes the error Unavailable: the router waits until it is back.
func (l *Loader) Handle(ctx context.Context, subject string, data []byte) ([]message.Out, error) {
	outs, err := l.handle(ctx, subject, data)
	if store.Unavailable(err) {
		return nil, message.Unavailable(err)
	}
	return outs, err
}

func (l *Loader) handle(ctx context.Context, subject string, data []byte) ([]message.Out, error) {
	subj, err := message.ParseSubject(subject)
	if err != nil {
		return nil, message.Permanent(err)
	}
	run := subj.Run
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
	if err := l.write(ctx, subj, data); err != nil {
		return nil, err
	}
	loaded, err := l.store.TryFinishLoad(ctx, run)
	if err != nil || !loaded {
		return nil, err
	}
	// Every message after completion (redeliveries, replays) repeats the event with the same id;
	// the stream drops the duplicate. The event tells watchers; the runs table is the state.
	return []message.Out{lifecycle.Event(run, lifecycle.Loaded, "", time.Now())}, nil
}

func (l *Loader) write(ctx context.Context, subj message.Subject, data []byte) error {
	decode := func(m proto.Message) error {
		if err := proto.Unmarshal(data, m); err != nil {
			return message.Permanent(fmt.Errorf("decode %s message of run %d: %w", subj.Family, subj.Run, err))
		}
		return validate(subj, m)
	}
	switch {
	case subj.Family == "result" && subj.IsStorage():
		var r netmonv1.StorageResult
		if err := decode(&r); err != nil {
			return err
		}
		_, err := l.store.SaveStorageResult(ctx, &r)
		return err
	case subj.Family == "result" && subj.IsHealth():
		var r netmonv1.HealthResult
		if err := decode(&r); err != nil {
			return err
		}
		_, err := l.store.SaveHealthResult(ctx, &r)
		return err
	case subj.Family == "result" && subj.IsCID():
		var r netmonv1.CIDResult
		if err := decode(&r); err != nil {
			return err
		}
		_, err := l.store.SaveCIDResult(ctx, &r)
		return err
	case subj.Family == "result":
		var r netmonv1.FetchResult
		if err := decode(&r); err != nil {
			return err
		}
		_, err := l.store.SaveResult(ctx, &r)
		return err
	case subj.Family == "snapshot" && len(subj.Rest) == 1:
		switch subj.Rest[0] {
		case message.KindRun:
			var r netmonv1.Run
			if err := decode(&r); err != nil {
				return err
			}
			return l.store.SaveRun(ctx, &r)
		case message.KindNodes:
			var b netmonv1.ContentNodeBatch
			if err := decode(&b); err != nil {
				return err
			}
			return l.store.SaveContentNodes(ctx, &b)
		case message.KindUsers:
			var b netmonv1.UserBatch
			if err := decode(&b); err != nil {
				return err
			}
			_, err := l.store.SaveUserBatch(ctx, &b)
			return err
		case message.KindCIDs:
			var b netmonv1.CIDBatch
			if err := decode(&b); err != nil {
				return err
			}
			_, err := l.store.SaveCIDBatch(ctx, &b)
			return err
		case message.KindKeys:
			var b netmonv1.StorageKeyBatch
			if err := decode(&b); err != nil {
				return err
			}
			_, err := l.store.SaveStorageKeys(ctx, &b)
			return err
		case message.KindManifest:
			var m netmonv1.Manifest
			if err := decode(&m); err != nil {
				return err
			}
			return l.store.SaveManifest(ctx, &m)
		}
	}
	return message.Permanent(fmt.Errorf("loader: unexpected subject netmon.%s.%d.%v", subj.Family, subj.Run, subj.Rest))
}
