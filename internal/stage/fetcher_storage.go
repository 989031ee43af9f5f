package stage

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/fetcher"
	"github.com/audius-netmon/netmon/internal/message"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// storageWork routes a storage run's work items (netmon.work.<run>.<sp>.storage and .health) to
// the fetcher; ok is false for any other subject.
func storageWork(ctx context.Context, f *fetcher.Fetcher, m bus.Delivery) (outs []message.Out, ok bool, err error) {
	s, perr := message.ParseSubject(m.Subject)
	switch {
	case perr != nil:
		return nil, false, nil
	case s.IsStorage():
		var item netmonv1.StorageWorkItem
		if err := decodeStorage(m.Data, &item); err != nil {
			return nil, true, err
		}
		res, err := f.HandleStorage(ctx, &item)
		if err != nil {
			return nil, true, err
		}
		return []message.Out{storageResultOut(res)}, true, nil
	case s.IsHealth():
		var item netmonv1.HealthWorkItem
		if err := decodeStorage(m.Data, &item); err != nil {
			return nil, true, err
		}
		res, err := f.HandleHealth(ctx, &item)
		if err != nil {
			return nil, true, err
		}
		return []message.Out{healthResultOut(res)}, true, nil
	}
	return nil, false, nil
}

// poisonStorageWork records a storage run's work item that used up its deliveries as a failed
// result; ok is false for any other subject.
func poisonStorageWork(m bus.Delivery, cause error) (outs []message.Out, ok bool) {
	s, err := message.ParseSubject(m.Subject)
	switch {
	case err != nil:
		return nil, false
	case s.IsStorage():
		var item netmonv1.StorageWorkItem
		if decodeStorage(m.Data, &item) != nil {
			return nil, true
		}
		return []message.Out{storageResultOut(fetcher.PoisonStorage(&item, cause.Error()))}, true
	case s.IsHealth():
		var item netmonv1.HealthWorkItem
		if decodeStorage(m.Data, &item) != nil {
			return nil, true
		}
		return []message.Out{healthResultOut(fetcher.PoisonHealth(&item, cause.Error()))}, true
	}
	return nil, false
}

func decodeStorage(data []byte, m proto.Message) error {
	if err := proto.Unmarshal(data, m); err != nil {
		return message.Permanent(fmt.Errorf("decode %T: %w", m, err))
	}
	return nil
}

func storageResultOut(r *netmonv1.StorageResult) message.Out {
	return message.Out{Subject: message.StorageResultSubject(r.GetRunId(), r.GetSpId()),
		ID: message.StorageResultID(r.GetRunId(), r.GetSpId(), r.GetBatch()), Msg: r}
}

func healthResultOut(r *netmonv1.HealthResult) message.Out {
	return message.Out{Subject: message.HealthResultSubject(r.GetRunId(), r.GetSpId()),
		ID: message.HealthResultID(r.GetRunId(), r.GetSpId()), Msg: r}
}
