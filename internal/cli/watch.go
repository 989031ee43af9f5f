package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/message"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// startRun asks the planner for a run and returns its id.
func startRun(ctx context.Context, conn *bus.Conn, by string) (int64, error) {
	req, _ := proto.Marshal(&netmonv1.StartRunRequest{RequestedBy: by})
	var last error
	// The planner may still be starting (embedded mode, or a stack coming up): retry briefly.
	for attempt := 0; attempt < 50; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		msg, err := conn.NC.RequestWithContext(rctx, message.StartSubject, req)
		cancel()
		if err == nil {
			var reply netmonv1.StartRunReply
			if err := proto.Unmarshal(msg.Data, &reply); err != nil {
				return 0, fmt.Errorf("start run: bad reply: %w", err)
			}
			if reply.GetError() != "" {
				return 0, fmt.Errorf("start run: %s", reply.GetError())
			}
			return reply.GetRunId(), nil
		}
		last = err
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return 0, fmt.Errorf("start run: no planner answered on %s: %w", message.StartSubject, last)
}

// watchRun prints the run's progress until it ends and returns its final event.
func watchRun(ctx context.Context, conn *bus.Conn, run int64, out io.Writer) (*netmonv1.RunEvent, error) {
	cons, err := conn.JS.OrderedConsumer(ctx, message.StreamRuns, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{fmt.Sprintf("netmon.run.%d.>", run)},
	})
	if err != nil {
		return nil, fmt.Errorf("watch run %d: %w", run, err)
	}
	events := make(chan *netmonv1.RunEvent, 8)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		// Only status events: the run's subject space also holds its record (another message).
		if !statusToken(m.Subject()) {
			return
		}
		var ev netmonv1.RunEvent
		if proto.Unmarshal(m.Data(), &ev) == nil {
			events <- &ev
		}
	})
	if err != nil {
		return nil, fmt.Errorf("watch run %d: %w", run, err)
	}
	defer cc.Stop()

	data, err := conn.JS.Stream(ctx, message.StreamData)
	if err != nil {
		return nil, fmt.Errorf("watch run %d: %w", run, err)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastLine string
	var expected int64 = -1
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case ev := <-events:
			fmt.Fprintf(out, "run %d: %s%s\n", run, statusName(ev.GetStatus()), reasonSuffix(ev.GetReason()))
			switch ev.GetStatus() {
			case netmonv1.RunStatus_RUN_STATUS_COMPLETE, netmonv1.RunStatus_RUN_STATUS_INCOMPLETE, netmonv1.RunStatus_RUN_STATUS_FAILED:
				return ev, nil
			}
		case <-tick.C:
			if expected < 0 {
				expected = manifestWorkItems(ctx, data, run)
			}
			done := countSubjects(ctx, data, fmt.Sprintf("netmon.result.%d.>", run))
			line := fmt.Sprintf("run %d: %d results fetched", run, done)
			if expected >= 0 {
				line = fmt.Sprintf("run %d: %d/%d work items fetched", run, done, expected)
			}
			if line != lastLine {
				fmt.Fprintln(out, line)
				lastLine = line
			}
		}
	}
}

func manifestWorkItems(ctx context.Context, s jetstream.Stream, run int64) int64 {
	m, err := s.GetLastMsgForSubject(ctx, message.SnapshotSubject(run, message.KindManifest))
	if err != nil {
		return -1
	}
	var man netmonv1.Manifest
	if proto.Unmarshal(m.Data, &man) != nil {
		return -1
	}
	return man.GetWorkItems()
}

func countSubjects(ctx context.Context, s jetstream.Stream, filter string) int64 {
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return 0
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return int64(n)
}

// statusToken reports whether a netmon.run.<run>.<token> subject carries a RunEvent.
func statusToken(subject string) bool {
	switch subject[strings.LastIndexByte(subject, '.')+1:] {
	case "planned", "fetching", "loaded", "complete", "incomplete", "failed":
		return true
	}
	return false
}

func statusName(s netmonv1.RunStatus) string {
	switch s {
	case netmonv1.RunStatus_RUN_STATUS_PLANNED:
		return "planned"
	case netmonv1.RunStatus_RUN_STATUS_FETCHING:
		return "fetching"
	case netmonv1.RunStatus_RUN_STATUS_LOADED:
		return "loaded"
	case netmonv1.RunStatus_RUN_STATUS_COMPLETE:
		return "complete"
	case netmonv1.RunStatus_RUN_STATUS_INCOMPLETE:
		return "incomplete"
	case netmonv1.RunStatus_RUN_STATUS_FAILED:
		return "failed"
	}
	return "unknown"
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return ": " + r
}

var errRunNotComplete = errors.New("run did not complete")
