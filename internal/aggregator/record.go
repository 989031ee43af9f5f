package aggregator

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// IncompleteMetric is 1 when the run's metrics come from a run cut off at its deadline, else 0.
const IncompleteMetric = "audius_nm_run_incomplete"

// KindRecord is the last token of the run record's subject, netmon.run.<run>.record.
const KindRecord = "record"

// record is the run's RunRecord as it is finished with status and reason at completed. seen are
// the run's messages its metrics were computed over; for an incomplete run the record names the
// messages its cut counted and those of seen written after the cut, so that replay rebuilds both
// steps from the same messages.
func (a *Aggregator) record(ctx context.Context, run store.Run, status lifecycle.Status, reason string,
	completed time.Time, generating, total float64, seen store.Cut) (*netmonv1.RunRecord, error) {
	rec := &netmonv1.RunRecord{
		RunId:                    run.ID,
		Status:                   status.Proto(),
		Reason:                   reason,
		ManifestAt:               stamp(run.ManifestAt),
		LoadedAt:                 stamp(run.LoadedAt),
		CompletedAt:              stamp(&completed),
		GeneratingMetricsSeconds: generating,
		TotalJobSeconds:          total,
	}
	if status == lifecycle.Incomplete {
		cut, err := a.store.RunCut(ctx, run.ID)
		if err != nil {
			return nil, err
		}
		rec.Cut, rec.AfterCut = CutMsg(cut), CutMsg(seen.Without(cut))
	}
	return rec, nil
}

// recordOut is the message that publishes a record (netmon.run.<run>.record).
func recordOut(rec *netmonv1.RunRecord) message.Out {
	return message.RunEventOut(rec.GetRunId(), KindRecord, rec)
}

// CutMsg is the record's form of a set of messages: batch numbers grouped by node and kind
// (results) or by kind (snapshot batches). It is never nil, so an empty set is still present.
func CutMsg(c store.Cut) *netmonv1.RunCut {
	m := &netmonv1.RunCut{}
	for _, k := range c {
		if k.Result {
			if n := len(m.Results); n == 0 || m.Results[n-1].SpId != k.SPID || m.Results[n-1].Kind != k.Kind {
				m.Results = append(m.Results, &netmonv1.RunCutResults{SpId: k.SPID, Kind: k.Kind})
			}
			g := m.Results[len(m.Results)-1]
			g.Batches = append(g.Batches, k.Batch)
			continue
		}
		if n := len(m.Batches); n == 0 || m.Batches[n-1].Kind != k.Kind {
			m.Batches = append(m.Batches, &netmonv1.RunCutBatches{Kind: k.Kind})
		}
		g := m.Batches[len(m.Batches)-1]
		g.Batches = append(g.Batches, k.Batch)
	}
	return m
}

// CutKeys is the set of messages a record's RunCut names.
func CutKeys(m *netmonv1.RunCut) store.Cut {
	var c store.Cut
	for _, g := range m.GetBatches() {
		for _, b := range g.GetBatches() {
			c = append(c, store.MessageKey{Kind: g.GetKind(), Batch: b})
		}
	}
	for _, g := range m.GetResults() {
		for _, b := range g.GetBatches() {
			c = append(c, store.MessageKey{Result: true, Kind: g.GetKind(), SPID: g.GetSpId(), Batch: b})
		}
	}
	return c
}

func stamp(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

func unstamp(t *timestamppb.Timestamp) *time.Time {
	if t == nil {
		return nil
	}
	v := t.AsTime()
	return &v
}

// Replay finishes a run whose rows were rebuilt from stream history, as its live run ended: it
// restores the status, reason and times of rec, computes the catalogue over the rebuilt rows,
// adds the recorded timings and stores the series, which it returns. It pushes nothing, touches
// no run but the replayed one and publishes no event.
func (a *Aggregator) Replay(ctx context.Context, rec *netmonv1.RunRecord) ([]store.Sample, error) {
	status := lifecycle.FromProto(rec.GetStatus())
	if !status.HasMetrics() {
		return nil, fmt.Errorf("replay run %d: record has status %s", rec.GetRunId(), rec.GetStatus())
	}
	data, err := proto.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("replay run %d: record: %w", rec.GetRunId(), err)
	}
	err = a.store.RestoreRun(ctx, rec.GetRunId(), status, rec.GetReason(), store.RunTimes{
		ManifestAt:  unstamp(rec.GetManifestAt()),
		LoadedAt:    unstamp(rec.GetLoadedAt()),
		CompletedAt: unstamp(rec.GetCompletedAt()),
	}, data)
	if err != nil {
		return nil, err
	}
	samples, err := a.store.Compute(ctx, rec.GetRunId(), a.opts.Foundation)
	if err != nil {
		return nil, err
	}
	run, err := a.store.GetRun(ctx, rec.GetRunId())
	if err != nil {
		return nil, err
	}
	own, err := a.ownSamples(ctx, run, status, rec.GetGeneratingMetricsSeconds(), rec.GetTotalJobSeconds())
	if err != nil {
		return nil, err
	}
	samples = append(samples, own...)
	if err := a.store.SaveSamples(ctx, rec.GetRunId(), samples); err != nil {
		return nil, err
	}
	return samples, nil
}

// Push pushes samples of run to its network's Pushgateway job group, replacing what is there.
func (a *Aggregator) Push(ctx context.Context, run int64, samples []store.Sample) error {
	r, err := a.store.GetRun(ctx, run)
	if err != nil {
		return err
	}
	return a.pusher.forNetwork(r.Network).Push(ctx, run, samples)
}
