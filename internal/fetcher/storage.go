package fetcher

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/storagenode"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// Storage runs' items are answered with the same policy as clock and CID items (skips, breaker,
// per-endpoint concurrency, retries), one request per key: storage v2 has no batch presence
// route (spec §3.3). Probes of one endpoint are also paced to at most StorageRate a second from
// this process: storage nodes are operators' machines, and a run's probes of a node are many.

// WithStorage makes f answer storage runs' items through c, pacing each endpoint's probes to at
// most rate a second from this process (0: unpaced). It returns f.
func (f *Fetcher) WithStorage(c *storagenode.Client, rate float64) *Fetcher {
	f.storage, f.storageRate = c, rate
	return f
}

// pace waits until endpoint may get its next probe, and books that probe's slot.
func (f *Fetcher) pace(ctx context.Context, endpoint string) error {
	if f.storageRate <= 0 {
		return ctx.Err()
	}
	n := f.node(endpoint)
	n.mu.Lock()
	at := time.Now()
	if n.nextProbe.After(at) {
		at = n.nextProbe
	}
	n.nextProbe = at.Add(time.Duration(float64(time.Second) / f.storageRate))
	n.mu.Unlock()
	return sleep(ctx, time.Until(at))
}

// FetchStorage answers one blob-presence work item with one result: GET /internal/blobs/info
// for each key in turn (never /content/, which would pull the blob, §3.2). A key whose probe
// failed stays NOT_ANSWERED and the item's outcome is the first failure's; every key answered
// (present, absent, or 500 unknown) makes it OK. It returns an error only when ctx ends.
func (f *Fetcher) FetchStorage(ctx context.Context, item *netmonv1.StorageWorkItem) (*netmonv1.StorageResult, error) {
	name := fmt.Sprintf("run %d sp %d storage batch %d", item.GetRunId(), item.GetSpId(), item.GetBatch())
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fetch %s: %w", name, err)
	}
	if f.storage == nil {
		return nil, fmt.Errorf("fetch %s: this fetcher has no storage client", name)
	}
	n := targetOf(item.GetRunId(), item.GetSpId(), item.GetEndpoint(), message.KindStorage)
	log := f.log.With().Int64("run_id", item.GetRunId()).Int64("sp_id", item.GetSpId()).
		Str("endpoint", item.GetEndpoint()).Str("kind", message.KindStorage).Int64("batch", item.GetBatch()).Logger()
	res := failedStorage(item, 0, "")
	if outcome, detail, skip := f.skip(n.run, n.sp, n.endpoint); skip {
		res.Outcome, res.Detail = outcome, detail
	} else {
		start := time.Now()
		for i, key := range item.GetKeys() {
			if err := f.pace(ctx, n.endpoint); err != nil {
				return nil, fmt.Errorf("fetch %s: %w", name, err)
			}
			var info storagenode.BlobInfo
			t, err := f.retry(ctx, n, log, func(ctx context.Context) (int, error) {
				var err error
				info, err = f.storage.BlobInfo(ctx, n.endpoint, key)
				return presenceStatus[info.Presence], err
			})
			if err != nil {
				return nil, fmt.Errorf("fetch %s: %w", name, err)
			}
			res.Attempts += int32(t.attempts)
			if t.err != nil {
				if res.Outcome == 0 {
					res.Outcome, res.HttpStatus, res.Detail = f.failure(t)
				}
				continue
			}
			res.States[i] = blobStates[info.Presence]
			res.HttpStatus = int32(t.status)
		}
		if res.Outcome == 0 {
			res.Outcome = netmonv1.Outcome_OUTCOME_OK
		}
		res.Duration = durationpb.New(time.Since(start))
	}
	for _, s := range res.States {
		if s == netmonv1.BlobState_BLOB_STATE_NOT_ANSWERED {
			res.Missing++
		}
	}
	f.metrics.items.WithLabelValues(strconv.FormatInt(item.GetSpId(), 10), item.GetEndpoint(), message.KindStorage,
		outcomeLabel(res.GetOutcome())).Inc()
	f.logEnd(log, res.GetOutcome(), 0, res.GetAttempts(), res.GetDetail())
	return res, nil
}

// presenceStatus is the HTTP status of each answer, for the request metrics.
var presenceStatus = map[storagenode.Presence]int{storagenode.Present: 200, storagenode.Absent: 404, storagenode.Unknown: 500}

var blobStates = map[storagenode.Presence]netmonv1.BlobState{
	storagenode.Present: netmonv1.BlobState_BLOB_STATE_PRESENT,
	storagenode.Absent:  netmonv1.BlobState_BLOB_STATE_ABSENT,
	storagenode.Unknown: netmonv1.BlobState_BLOB_STATE_UNKNOWN,
}

// PoisonStorage is the result for a blob-presence item that exhausted its deliveries without an
// answer: outcome POISON and every key NOT_ANSWERED, so the run still completes.
func PoisonStorage(item *netmonv1.StorageWorkItem, detail string) *netmonv1.StorageResult {
	res := failedStorage(item, netmonv1.Outcome_OUTCOME_POISON, detail)
	res.Missing = int32(len(res.Keys))
	return res
}

// failedStorage is a result with every key NOT_ANSWERED.
func failedStorage(item *netmonv1.StorageWorkItem, outcome netmonv1.Outcome, detail string) *netmonv1.StorageResult {
	states := make([]netmonv1.BlobState, len(item.GetKeys()))
	for i := range states {
		states[i] = netmonv1.BlobState_BLOB_STATE_NOT_ANSWERED
	}
	return &netmonv1.StorageResult{RunId: item.GetRunId(), SpId: item.GetSpId(), Batch: item.GetBatch(), Outcome: outcome,
		Detail: detail, Keys: slices.Clone(item.GetKeys()), States: states, NonHolder: item.GetNonHolder()}
}

// FetchHealth answers one health work item: the node's /health_check in either format, its
// signature judged against the item's delegate wallet (§4). It returns an error only when ctx
// ends.
func (f *Fetcher) FetchHealth(ctx context.Context, item *netmonv1.HealthWorkItem) (*netmonv1.HealthResult, error) {
	name := fmt.Sprintf("run %d sp %d health", item.GetRunId(), item.GetSpId())
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fetch %s: %w", name, err)
	}
	if f.storage == nil {
		return nil, fmt.Errorf("fetch %s: this fetcher has no storage client", name)
	}
	n := targetOf(item.GetRunId(), item.GetSpId(), item.GetEndpoint(), message.KindHealth)
	log := f.log.With().Int64("run_id", item.GetRunId()).Int64("sp_id", item.GetSpId()).
		Str("endpoint", item.GetEndpoint()).Str("kind", message.KindHealth).Logger()
	res := &netmonv1.HealthResult{RunId: item.GetRunId(), SpId: item.GetSpId()}
	if outcome, detail, skip := f.skip(n.run, n.sp, n.endpoint); skip {
		res.Outcome, res.Detail = outcome, detail
	} else {
		var h storagenode.Health
		t, err := f.retry(ctx, n, log, func(ctx context.Context) (int, error) {
			var err error
			h, err = f.storage.Health(ctx, n.endpoint)
			return h.HTTPStatus, err
		})
		if err != nil {
			return nil, fmt.Errorf("fetch %s: %w", name, err)
		}
		res.Attempts, res.Duration = int32(t.attempts), durationpb.New(t.took)
		if t.err != nil {
			res.Outcome, res.HttpStatus, res.Detail = f.failure(t)
		} else {
			fillHealth(res, h, item.GetDelegateWallet())
		}
	}
	f.metrics.items.WithLabelValues(strconv.FormatInt(item.GetSpId(), 10), item.GetEndpoint(), message.KindHealth,
		outcomeLabel(res.GetOutcome())).Inc()
	f.logEnd(log, res.GetOutcome(), 0, res.GetAttempts(), res.GetDetail())
	return res, nil
}

// fillHealth records an answered health check in res.
func fillHealth(res *netmonv1.HealthResult, h storagenode.Health, delegate string) {
	repair := func(r storagenode.RepairRun) *netmonv1.RepairState {
		return &netmonv1.RepairState{FinishedAt: timestamppb.New(r.FinishedAt), AbortedReason: r.AbortedReason,
			PullMineNeeded: r.PullMineNeeded(), DeleteOverReplicatedNeeded: r.DeleteOverReplicatedNeeded()}
	}
	res.Outcome = netmonv1.Outcome_OUTCOME_OK
	res.HttpStatus = int32(h.HTTPStatus)
	res.Format = h.Format.String()
	res.Healthy = h.Healthy
	res.Version = h.Version
	res.ReplicationFactor = int32(h.ReplicationFactor)
	res.Signature = h.VerifySignature(delegate).String()
	res.WalletRegistered = h.WalletIsRegistered
	res.LastRepair, res.LastCleanup = repair(h.LastRepair), repair(h.LastCleanup)
	res.UnreachablePeers = int32(len(h.UnreachablePeers))
	res.StorageUsed, res.StorageExpectation = h.MediorumPathUsed, h.StorageExpectation
	res.StorageError = h.StorageError
}

// PoisonHealth is the result for a health item that exhausted its deliveries without an answer.
func PoisonHealth(item *netmonv1.HealthWorkItem, detail string) *netmonv1.HealthResult {
	return &netmonv1.HealthResult{RunId: item.GetRunId(), SpId: item.GetSpId(), Outcome: netmonv1.Outcome_OUTCOME_POISON, Detail: detail}
}
