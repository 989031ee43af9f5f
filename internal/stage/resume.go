package stage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/planner"
	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// A planner that dies while it publishes a run's plan leaves the run half published: some
// snapshot batches and work items are in the streams, the manifest is not, and the run holds the
// lease. Without help the run would wait for its deadline and end incomplete, and no other run
// could start before then.
//
// So a planner, when it starts, looks at the lease. If the run holding it has no manifest and no
// final event, its planning was cut short, and the planner plans it again with the same run id
// and creation time: every message gets the id it had the first time, so what was already
// published is dropped as a duplicate (or, beyond the streams' duplicate window, written once by
// the loader's keyed writes) and what was missing is added. The run then completes as if nothing
// had happened, and whoever waits for it (`netmon run --wait`) sees it complete.
//
// That is only exact if the second plan is the same as the first. It is when the plan settings
// are the same (their fingerprint is kept in the lease) and discovery is at the same block (kept
// in the run's opening message); discovery is indexed by block, so the same block means the same
// users and replica sets. Otherwise the half-published run is ended as failed, with the reason,
// and a new run is started in its place. A run whose opening message never reached the stream
// published nothing, and is planned from a fresh read.

// planFingerprint identifies the plan settings: two plans of the same discovery snapshot with the
// same fingerprint publish the same messages.
func planFingerprint(opts planner.Options) string {
	b, err := json.Marshal(opts)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// errDiscoveryMoved: discovery is not at the block the interrupted plan read.
var errDiscoveryMoved = errors.New("discovery moved")

// resume finishes, in the background, the planning of a run whose planner died mid-plan (see
// above), or replaces the run. Problems are logged: a planner that cannot resume still starts new
// runs.
func (s *starter) resume() {
	if run, why := s.resumeRun(); why != "" {
		s.replace(run, why)
	}
}

// resumeRun starts planning the interrupted run again, if there is one and it can be; otherwise
// it returns the run to replace and why.
func (s *starter) resumeRun() (replace int64, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx := s.ctx
	l, ok, err := s.state.Active(ctx)
	if err != nil {
		s.log.Warn().Err(err).Msg("resume: read the run lease")
		return 0, ""
	}
	if !ok || !time.Now().Before(l.Until) {
		return 0, ""
	}
	run := l.Run
	log := s.log.With().Int64("run_id", run).Logger()
	ended, err := s.lastMsg(ctx, message.StreamRuns, message.RunEventSubject(run, "failed"),
		message.RunEventSubject(run, "complete"), message.RunEventSubject(run, "incomplete"))
	if err != nil {
		log.Warn().Err(err).Msg("resume: read the run's events")
		return 0, ""
	}
	if ended != nil {
		return 0, "" // finished; the aggregator releases (or has released) the lease
	}
	manifest, err := s.lastMsg(ctx, message.StreamData, message.SnapshotSubject(run, message.KindManifest))
	if err != nil {
		log.Warn().Err(err).Msg("resume: look for the run's manifest")
		return 0, ""
	}
	if manifest != nil {
		return 0, "" // fully planned: the other stages finish it
	}

	// Planning was cut short.
	if l.Created.IsZero() || l.Plan != s.plan {
		return run, "its planner stopped mid-plan, and the plan settings changed since"
	}
	opening, err := s.lastMsg(ctx, message.StreamData, message.SnapshotSubject(run, message.KindRun))
	if err != nil {
		log.Warn().Err(err).Msg("resume: read the run's opening message")
		return 0, ""
	}
	var block int64 // 0: nothing was published, any snapshot will do
	if opening != nil {
		var r netmonv1.Run
		if err := proto.Unmarshal(opening.Data, &r); err != nil {
			return run, "its planner stopped mid-plan, and its opening message does not decode"
		}
		block = r.GetBlockNumber()
	} else if n, err := s.published(ctx, run); err != nil {
		log.Warn().Err(err).Msg("resume: count the run's messages")
		return 0, ""
	} else if n > 0 {
		return run, "its planner stopped mid-plan, before its opening message but after others"
	}
	if err := s.conn.Publish(ctx, runEvent(run, "planned", netmonv1.RunStatus_RUN_STATUS_PLANNED, "")); err != nil {
		log.Warn().Err(err).Msg("resume: announce the run")
		return 0, ""
	}
	log.Warn().Int64("block", block).Msg("run was interrupted mid-plan; planning it again with the same ids")
	s.status.Begin(run, "planning")
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := s.disc.Read(ctx, func(snap *store.Snapshot) error {
			if block != 0 {
				now, err := snap.BlockNumber(ctx)
				if err != nil {
					return err
				}
				if now != block {
					return fmt.Errorf("%w from block %d to %d", errDiscoveryMoved, block, now)
				}
			}
			m, err := s.planner.Plan(ctx, run, l.Created, snap, s.conn.Emitter(256))
			if err == nil {
				log.Info().Int64("users", m.GetUsers()).Int64("work_items", m.GetWorkItems()).Msg("run planned (resumed)")
			}
			return err
		})
		switch {
		case err == nil:
			s.status.End(run, "planned", nil)
		case errors.Is(err, errDiscoveryMoved):
			s.replace(run, "its planner stopped mid-plan, and "+err.Error())
		case ctx.Err() != nil:
			// Stopping again; the next planner resumes it.
		default:
			s.status.End(run, "failed", err)
			log.Error().Err(err).Msg("planning failed")
			fctx := context.WithoutCancel(ctx)
			if perr := s.conn.Publish(fctx, runEvent(run, "failed", netmonv1.RunStatus_RUN_STATUS_FAILED, "plan: "+err.Error())); perr != nil {
				log.Error().Err(perr).Msg("announce failed run")
			}
			if rerr := s.state.Release(fctx, run); rerr != nil {
				log.Error().Err(rerr).Msg("release lease")
			}
		}
	}()
	return 0, ""
}

// replace ends the half-published run as failed, with why, and starts a new run in its place.
func (s *starter) replace(run int64, why string) {
	ctx := s.ctx
	log := s.log.With().Int64("run_id", run).Logger()
	reason := "plan: " + why + "; a new run replaces it"
	if err := s.conn.Publish(ctx, runEvent(run, "failed", netmonv1.RunStatus_RUN_STATUS_FAILED, reason)); err != nil {
		log.Error().Err(err).Msg("announce failed run")
		return
	}
	s.status.End(run, "failed", errors.New(reason))
	if err := s.state.Release(ctx, run); err != nil {
		log.Error().Err(err).Msg("release lease")
		return
	}
	log.Warn().Str("reason", reason).Msg("interrupted run replaced")
	if next, err := s.start(fmt.Sprintf("replacing run %d", run)); err != nil {
		log.Error().Err(err).Msg("start the replacing run")
	} else {
		log.Info().Int64("new_run_id", next).Msg("replacing run started")
	}
}

// lastMsg returns the last message on the first of subjects that has one, or nil.
func (s *starter) lastMsg(ctx context.Context, stream string, subjects ...string) (*jetstream.RawStreamMsg, error) {
	st, err := s.conn.JS.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	for _, subj := range subjects {
		m, err := st.GetLastMsgForSubject(ctx, subj)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("last message on %s: %w", subj, err)
		}
		return m, nil
	}
	return nil, nil
}

// published counts the run's messages in the data and work streams.
func (s *starter) published(ctx context.Context, run int64) (uint64, error) {
	var n uint64
	for stream, filter := range map[string]string{
		message.StreamData: fmt.Sprintf("netmon.*.%d.>", run),
		message.StreamWork: fmt.Sprintf("netmon.work.%d.>", run),
	} {
		st, err := s.conn.JS.Stream(ctx, stream)
		if err != nil {
			return 0, fmt.Errorf("stream %s: %w", stream, err)
		}
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(filter))
		if err != nil {
			return 0, fmt.Errorf("stream %s: %w", stream, err)
		}
		for _, c := range info.State.Subjects {
			n += c
		}
	}
	return n, nil
}
