package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// State is netmon's shared coordination state in a JetStream key-value bucket: the last run id
// handed out and the lease of the active run. It lives in JetStream, not in a stage, so it
// survives any stage crashing and is the same for every machine.
type State struct {
	kv jetstream.KeyValue
}

const (
	stateBucket = "netmon_state"
	keyLastRun  = "run.last"
	keyActive   = "run.active"
)

// Lease is the active run and the time after which another run may take over.
type Lease struct {
	Run   int64     `json:"run"`
	Until time.Time `json:"until"`
	// Created and Plan let a restarted planner finish planning the run the same way (stage's
	// resume): the run's creation time, and a fingerprint of the plan settings.
	Created time.Time `json:"created,omitzero"`
	Plan    string    `json:"plan,omitempty"`
}

// ErrRunActive is returned when a run is requested while another one holds the lease.
type ErrRunActive struct{ Lease Lease }

func (e ErrRunActive) Error() string {
	return fmt.Sprintf("run %d is still active (lease until %s)", e.Lease.Run, e.Lease.Until.UTC().Format(time.RFC3339))
}

// OpenState creates the bucket if needed and returns the state.
func (c *Conn) OpenState(ctx context.Context, replicas int) (*State, error) {
	kv, err := c.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      stateBucket,
		Description: "netmon run ids and the active-run lease",
		History:     1,
		Replicas:    max(replicas, 1),
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("open state bucket: %w", err)
	}
	return &State{kv: kv}, nil
}

// NextRunID hands out the next run id (1, 2, ...) with a compare-and-set, so concurrent planners
// never share one.
func (s *State) NextRunID(ctx context.Context) (int64, error) {
	for {
		e, err := s.kv.Get(ctx, keyLastRun)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			if _, err := s.kv.Create(ctx, keyLastRun, []byte("1")); err == nil {
				return 1, nil
			} else if !errors.Is(err, jetstream.ErrKeyExists) {
				return 0, fmt.Errorf("next run id: %w", err)
			}
		case err != nil:
			return 0, fmt.Errorf("next run id: %w", err)
		default:
			last, err := strconv.ParseInt(string(e.Value()), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("next run id: stored value %q: %w", e.Value(), err)
			}
			next := last + 1
			if _, err := s.kv.Update(ctx, keyLastRun, []byte(strconv.FormatInt(next, 10)), e.Revision()); err == nil {
				return next, nil
			}
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
	}
}

// LastRunStart is when the last run id was handed out, that is when the newest run started; ok
// is false before the first run.
func (s *State) LastRunStart(ctx context.Context) (t time.Time, ok bool, err error) {
	e, err := s.kv.Get(ctx, keyLastRun)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("last run start: %w", err)
	}
	return e.Created(), true, nil
}

// Acquire takes the lease for run until the given time. It fails with ErrRunActive while another
// run's lease has not expired; an expired lease (its holder crashed or hung) is taken over.
func (s *State) Acquire(ctx context.Context, l Lease) error {
	val, err := json.Marshal(l)
	if err != nil {
		return err
	}
	for {
		e, err := s.kv.Get(ctx, keyActive)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			if _, err := s.kv.Create(ctx, keyActive, val); err == nil {
				return nil
			} else if !errors.Is(err, jetstream.ErrKeyExists) {
				return fmt.Errorf("acquire lease: %w", err)
			}
		case err != nil:
			return fmt.Errorf("acquire lease: %w", err)
		default:
			var cur Lease
			if err := json.Unmarshal(e.Value(), &cur); err == nil && time.Now().Before(cur.Until) && cur.Run != l.Run {
				return ErrRunActive{Lease: cur}
			}
			if _, err := s.kv.Update(ctx, keyActive, val, e.Revision()); err == nil {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// Active returns the current lease, if any (it may have expired).
func (s *State) Active(ctx context.Context) (Lease, bool, error) {
	e, err := s.kv.Get(ctx, keyActive)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Lease{}, false, nil
	}
	if err != nil {
		return Lease{}, false, fmt.Errorf("read lease: %w", err)
	}
	var l Lease
	if err := json.Unmarshal(e.Value(), &l); err != nil {
		return Lease{}, false, fmt.Errorf("read lease: %w", err)
	}
	return l, true, nil
}

// Release drops the lease if run holds it; releasing someone else's lease is a no-op.
func (s *State) Release(ctx context.Context, run int64) error {
	e, err := s.kv.Get(ctx, keyActive)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("release lease: %w", err)
	}
	var cur Lease
	if err := json.Unmarshal(e.Value(), &cur); err == nil && cur.Run != run {
		return nil
	}
	if err := s.kv.Delete(ctx, keyActive, jetstream.LastRevision(e.Revision())); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("release lease: %w", err)
	}
	return nil
}
