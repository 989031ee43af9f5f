package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
)

// State is netmon's coordination state in a JetStream key-value bucket: the highest run id
// handed out. A run's id must be unique against the NM DB's history (store.CreateRun checks it)
// and against the streams' history (a reused id would mix two runs' messages in a replay, and
// their message ids in the duplicate window). The planner takes an id above both high-water
// marks, so losing either the NM DB or the JetStream state never reuses one.
type State struct {
	kv jetstream.KeyValue
}

const (
	stateBucket = "netmon_state"
	keyLastRun  = "run.last"
)

// OpenState creates the bucket if needed and returns the state.
func (c *Conn) OpenState(ctx context.Context, replicas int) (*State, error) {
	kv, err := c.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      c.ns.name(stateBucket),
		Description: "netmon: the highest run id handed out",
		History:     1,
		Replicas:    max(replicas, 1),
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("open state bucket: %w", err)
	}
	return &State{kv: kv}, nil
}

// LastRunID is the highest run id recorded (0 before the first run).
func (s *State) LastRunID(ctx context.Context) (int64, error) {
	last, _, err := s.last(ctx)
	return last, err
}

func (s *State) last(ctx context.Context) (int64, uint64, error) {
	e, err := s.kv.Get(ctx, keyLastRun)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("last run id: %w", err)
	}
	last, err := strconv.ParseInt(string(e.Value()), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("last run id: stored value %q: %w", e.Value(), err)
	}
	return last, e.Revision(), nil
}

// RecordRunID raises the highest run id recorded to id (never lowers it), with a compare-and-set,
// so concurrent planners agree.
func (s *State) RecordRunID(ctx context.Context, id int64) error {
	for {
		last, rev, err := s.last(ctx)
		if err != nil {
			return err
		}
		if last >= id {
			return nil
		}
		val := []byte(strconv.FormatInt(id, 10))
		if rev == 0 {
			_, err = s.kv.Create(ctx, keyLastRun, val)
		} else {
			_, err = s.kv.Update(ctx, keyLastRun, val, rev)
		}
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}
