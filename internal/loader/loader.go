// Package loader is the only writer of a run's snapshot and results into the NM DB. It consumes
// every message of the data stream (run, content nodes, user and CID batches, manifest, clock and
// CID fetch results),
// writes each exactly once whatever the number of deliveries, and, when everything the manifest
// promised is written, builds the per-user clock table and produces the run's "loaded" event.
package loader

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// Loader writes data-stream messages to the NM DB.
type Loader struct {
	store *store.Store
	log   zerolog.Logger
	// ensured remembers runs whose row and partitions exist, to skip the DDL round trip.
	ensured sync.Map
}

// New returns a loader writing to s.
func New(s *store.Store, log zerolog.Logger) *Loader {
	return &Loader{store: s, log: log}
}

// Handle writes one data-stream message (by subject) and returns the run's loaded event once the
// run is complete. Writing the same message again changes nothing.
func (l *Loader) Handle(ctx context.Context, subject string, data []byte) ([]message.Out, error) {
	subj, err := message.ParseSubject(subject)
	if err != nil {
		return nil, message.Permanent(err)
	}
	run := subj.Run
	if _, ok := l.ensured.Load(run); !ok {
		if err := l.store.EnsureRun(ctx, run); err != nil {
			return nil, fmt.Errorf("ensure run %d: %w", run, err)
		}
		l.ensured.Store(run, true)
	}
	if err := l.write(ctx, subj, data); err != nil {
		return nil, err
	}
	loaded, err := l.store.TryFinishLoad(ctx, run)
	if err != nil || !loaded {
		return nil, err
	}
	// Every message after completion (redeliveries, replays) repeats the event with the same id;
	// the stream drops the duplicate and the aggregator is idempotent.
	return []message.Out{LoadedEvent(run, time.Now())}, nil
}

// LoadedEvent is the event announcing that run is fully written.
func LoadedEvent(run int64, at time.Time) message.Out {
	return message.Out{
		Subject: message.RunEventSubject(run, "loaded"),
		ID:      message.RunEventID(run, "loaded"),
		Msg:     &netmonv1.RunEvent{RunId: run, Status: netmonv1.RunStatus_RUN_STATUS_LOADED, At: timestamppb.New(at)},
	}
}

func (l *Loader) write(ctx context.Context, subj message.Subject, data []byte) error {
	decode := func(m proto.Message) error {
		if err := proto.Unmarshal(data, m); err != nil {
			return message.Permanent(fmt.Errorf("decode %s message of run %d: %w", subj.Family, subj.Run, err))
		}
		return validate(subj, m)
	}
	switch {
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
