package fetcher

import (
	"context"
	"fmt"

	"github.com/audius-netmon/netmon/internal/message"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// Handle answers one work-stream message with its one result message: a clock work item
// (netmon.work.<run>.<sp>) with a FetchResult, a CID work item (netmon.work.<run>.<sp>.cid)
// with a CIDResult, a blob-presence or health work item of a storage run (.storage, .health)
// with a StorageResult or HealthResult. A message that does not decode is a Permanent error
// (then Poison). Like FetchClocks it fails otherwise only when ctx ends; it may be called from
// many goroutines.
func (f *Fetcher) Handle(ctx context.Context, in message.In) ([]message.Out, error) {
	m, err := message.Decode(in)
	if err != nil {
		return nil, err
	}
	switch item := m.(type) {
	case *netmonv1.WorkItem:
		return resultOf(ctx, item, f.FetchClocks, message.ResultOut)
	case *netmonv1.CIDWorkItem:
		return resultOf(ctx, item, f.FetchCIDs, message.CIDResultOut)
	case *netmonv1.StorageWorkItem:
		return resultOf(ctx, item, f.FetchStorage, message.StorageResultOut)
	case *netmonv1.HealthWorkItem:
		return resultOf(ctx, item, f.FetchHealth, message.HealthResultOut)
	}
	return nil, message.Permanent(fmt.Errorf("fetcher: no work item on %s", in.Subject))
}

// Poison records a work item that failed for good (its deliveries used up) as a failed result,
// so its run still completes; a message that does not decode records nothing (the router logs
// it).
func (f *Fetcher) Poison(in message.In, cause error) []message.Out {
	m, err := message.Decode(in)
	if err != nil {
		return nil
	}
	switch item := m.(type) {
	case *netmonv1.WorkItem:
		return []message.Out{message.ResultOut(PoisonClocks(item, cause.Error()))}
	case *netmonv1.CIDWorkItem:
		return []message.Out{message.CIDResultOut(PoisonCIDs(item, cause.Error()))}
	case *netmonv1.StorageWorkItem:
		return []message.Out{message.StorageResultOut(PoisonStorage(item, cause.Error()))}
	case *netmonv1.HealthWorkItem:
		return []message.Out{message.HealthResultOut(PoisonHealth(item, cause.Error()))}
	}
	return nil
}

// resultOf is the one message that answers item: fetch's result, published as out says.
func resultOf[I, R any](ctx context.Context, item I, fetch func(context.Context, I) (R, error),
	out func(R) message.Out) ([]message.Out, error) {
	res, err := fetch(ctx, item)
	if err != nil {
		return nil, err
	}
	return []message.Out{out(res)}, nil
}
