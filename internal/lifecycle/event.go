package lifecycle

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/audius-netmon/netmon/internal/message"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// Event is the announcement that run moved to status s (netmon.run.<run>.<status>), with the
// reason it failed or is incomplete. Whoever moved the run publishes it once the move is
// recorded; it tells whoever watches (`netmon run --wait`, `netmon status --watch`). The runs
// table, not the event stream, is the run's state: a lost event delays a watcher, never a run.
func Event(run int64, s Status, reason string, at time.Time) message.Out {
	return message.RunEventOut(run, string(s), &netmonv1.RunEvent{RunId: run, Status: s.Proto(), At: timestamppb.New(at), Reason: reason})
}
