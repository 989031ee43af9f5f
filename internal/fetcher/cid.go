package fetcher

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/audius-netmon/netmon/internal/message"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// FetchCIDs answers one CID work item with one result: whether the node holds each CID, asked on
// the item's route (/batch_cids_exist or /batch_image_cids_exist) with the same policy as clock
// items (skips, breaker, per-endpoint limit, retries). cids in the result are the item's, in order;
// states are parallel to them, NOT_ANSWERED for every CID when the node gave no answer and for a
// CID an answer left out. Like FetchClocks, it returns an error only when ctx ends.
func (f *Fetcher) FetchCIDs(ctx context.Context, item *netmonv1.CIDWorkItem) (*netmonv1.CIDResult, error) {
	name := fmt.Sprintf("run %d sp %d %s batch %d", item.GetRunId(), item.GetSpId(),
		message.CIDRouteKind(item.GetRoute()), item.GetBatch())
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fetch %s: %w", name, err)
	}
	kind := message.CIDRouteKind(item.GetRoute())
	n := targetOf(item.GetRunId(), item.GetSpId(), item.GetEndpoint(), kind)
	log := f.log.With().Int64("run_id", item.GetRunId()).Int64("sp_id", item.GetSpId()).
		Str("endpoint", item.GetEndpoint()).Str("kind", kind).Int64("batch", item.GetBatch()).Logger()

	var res *netmonv1.CIDResult
	if outcome, detail, skip := f.skip(n.run, n.sp, n.endpoint); skip {
		res = failedCIDs(item, outcome, detail)
	} else {
		var answer map[string]bool
		image := item.GetRoute() == netmonv1.CIDRoute_CID_ROUTE_IMAGES
		t, err := f.retry(ctx, n, log,
			func(ctx context.Context) (int, error) {
				var err error
				answer, err = f.client.BatchCIDsExist(ctx, n.endpoint, item.GetCids(), image)
				if err != nil {
					return 0, err
				}
				return 200, nil
			})
		if err != nil {
			return nil, fmt.Errorf("fetch %s: %w", name, err)
		}
		if t.err != nil {
			res = failedCIDs(item, 0, "")
			res.Outcome, res.HttpStatus, res.Detail = f.failure(t)
		} else {
			res = failedCIDs(item, netmonv1.Outcome_OUTCOME_OK, "")
			res.HttpStatus = int32(t.status)
			for i, c := range res.Cids {
				switch exists, ok := answer[c]; {
				case !ok:
					res.Missing++
				case exists:
					res.States[i] = netmonv1.CIDState_CID_STATE_PRESENT
				default:
					res.States[i] = netmonv1.CIDState_CID_STATE_ABSENT
				}
			}
		}
		res.Attempts = int32(t.attempts)
		res.Duration = durationpb.New(t.took)
	}

	f.observeCIDs(item, res, kind)
	f.logEnd(log, res.GetOutcome(), res.GetMissing(), res.GetAttempts(), res.GetDetail())
	return res, nil
}

// PoisonCIDs is the result for a CID item that exhausted its deliveries without an answer:
// outcome POISON and every CID NOT_ANSWERED, so the run still completes.
func PoisonCIDs(item *netmonv1.CIDWorkItem, detail string) *netmonv1.CIDResult {
	return failedCIDs(item, netmonv1.Outcome_OUTCOME_POISON, detail)
}

// failedCIDs is a result with every CID NOT_ANSWERED.
func failedCIDs(item *netmonv1.CIDWorkItem, outcome netmonv1.Outcome, detail string) *netmonv1.CIDResult {
	states := make([]netmonv1.CIDState, len(item.GetCids()))
	for i := range states {
		states[i] = netmonv1.CIDState_CID_STATE_NOT_ANSWERED
	}
	return &netmonv1.CIDResult{
		RunId:   item.GetRunId(),
		SpId:    item.GetSpId(),
		Route:   item.GetRoute(),
		Batch:   item.GetBatch(),
		Outcome: outcome,
		Detail:  detail,
		Cids:    slices.Clone(item.GetCids()),
		States:  states,
	}
}

func (f *Fetcher) observeCIDs(item *netmonv1.CIDWorkItem, res *netmonv1.CIDResult, kind string) {
	sp, endpoint := strconv.FormatInt(item.GetSpId(), 10), item.GetEndpoint()
	outcome := outcomeLabel(res.GetOutcome())
	f.metrics.items.WithLabelValues(sp, endpoint, kind, outcome).Inc()
	if res.GetOutcome() != netmonv1.Outcome_OUTCOME_OK {
		f.metrics.cids.WithLabelValues(sp, endpoint, kind, outcome).Add(float64(len(res.GetCids())))
		return
	}
	var present, absent float64
	for _, s := range res.GetStates() {
		switch s {
		case netmonv1.CIDState_CID_STATE_PRESENT:
			present++
		case netmonv1.CIDState_CID_STATE_ABSENT:
			absent++
		}
	}
	f.metrics.cids.WithLabelValues(sp, endpoint, kind, "present").Add(present)
	f.metrics.cids.WithLabelValues(sp, endpoint, kind, "absent").Add(absent)
	if res.GetMissing() > 0 {
		f.metrics.cids.WithLabelValues(sp, endpoint, kind, "missing").Add(float64(res.GetMissing()))
	}
}
