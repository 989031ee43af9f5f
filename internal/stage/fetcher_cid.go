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

// isCIDWork reports whether a work-stream subject carries a CID work item
// (netmon.work.<run>.<sp>.cid) rather than a clock work item.
func isCIDWork(subject string) bool {
	s, err := message.ParseSubject(subject)
	return err == nil && s.IsCID()
}

// handleCIDWork answers a CID work item with its one CID result.
func handleCIDWork(ctx context.Context, f *fetcher.Fetcher, m bus.Delivery) ([]message.Out, error) {
	item, err := decodeCIDWorkItem(m.Data)
	if err != nil {
		return nil, err
	}
	res, err := f.HandleCIDs(ctx, item)
	if err != nil {
		return nil, err
	}
	return []message.Out{cidResultOut(res)}, nil
}

// poisonCIDWork records a CID work item that used up its deliveries as a failed result.
func poisonCIDWork(m bus.Delivery, cause error) []message.Out {
	item, err := decodeCIDWorkItem(m.Data)
	if err != nil {
		return nil
	}
	return []message.Out{cidResultOut(fetcher.PoisonCIDs(item, cause.Error()))}
}

func decodeCIDWorkItem(data []byte) (*netmonv1.CIDWorkItem, error) {
	var item netmonv1.CIDWorkItem
	if err := proto.Unmarshal(data, &item); err != nil {
		return nil, message.Permanent(fmt.Errorf("decode cid work item: %w", err))
	}
	return &item, nil
}

func cidResultOut(r *netmonv1.CIDResult) message.Out {
	return message.Out{
		Subject: message.CIDResultSubject(r.GetRunId(), r.GetSpId()),
		ID:      message.CIDResultID(r.GetRunId(), r.GetSpId(), int32(r.GetRoute()), r.GetBatch()),
		Msg:     r,
	}
}
