package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/testenv"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// TestNamespacesApart: two namespaces on one server publish the same subjects and ids (run 1 in
// both) and read back only their own, with the subjects as package message names them; the
// read side gives what was stored (Headers: no payload, its size).
func TestNamespacesApart(t *testing.T) {
	s := testenv.NATS(t)
	ctx := context.Background()
	dial := func(ns bus.Namespace) *bus.Conn {
		c, err := bus.Connect(s.ClientURL(), ns, "test", zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		if err := c.WaitConnected(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.EnsureStreams(ctx, bus.StreamOptions{Replicas: 1, MaxAge: time.Hour}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	blue, green := dial("blue"), dial("green")
	// Blue stores 3 results of node 7, green 1 of node 8, all of run 1.
	for b := int64(0); b < 3; b++ {
		if err := blue.Publish(ctx, message.ResultOut(&netmonv1.FetchResult{RunId: 1, SpId: 7, Batch: b, Detail: "blue"})); err != nil {
			t.Fatal(err)
		}
	}
	greenResult := &netmonv1.FetchResult{RunId: 1, SpId: 8, Batch: 0, Detail: "green"}
	if err := green.Publish(ctx, message.ResultOut(greenResult)); err != nil {
		t.Fatal(err)
	}
	for c, want := range map[*bus.Conn]int64{blue: 3, green: 1} {
		n, err := c.Count(ctx, message.StreamData, message.ResultFilter(1))
		if err != nil || n != want {
			t.Errorf("Count = %d, %v; want %d", n, err, want)
		}
	}
	data, ok, err := green.LastMessage(ctx, message.StreamData, message.ResultSubject(1, 8))
	var got netmonv1.FetchResult
	if err != nil || !ok || proto.Unmarshal(data, &got) != nil || got.GetDetail() != "green" {
		t.Errorf("green's last result of node 8: %v %v %v", &got, ok, err)
	}
	if _, ok, err := green.LastMessage(ctx, message.StreamData, message.ResultSubject(1, 7)); ok || err != nil {
		t.Errorf("green sees blue's result of node 7 (%v, %v)", ok, err)
	}
	h, err := green.Headers(ctx, message.StreamData, []string{message.ResultFilter(1)})
	if err != nil || h.Pending != 1 {
		t.Fatalf("green's headers: %v pending, %v", h, err)
	}
	m, err := h.Next(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	size := int64(proto.Size(greenResult))
	if m.Subject != message.ResultSubject(1, 8) || m.Data != nil || m.Size != size || m.Time.IsZero() {
		t.Errorf("green's stored result: %q, %d bytes of data, size %d (want %d), at %v", m.Subject, len(m.Data), m.Size, size, m.Time)
	}
	// The streams without a namespace hold none of them.
	plain := dial("")
	if n, err := plain.Count(ctx, message.StreamData, message.ResultFilter(1)); err != nil || n != 0 {
		t.Errorf("no namespace: %d results, %v", n, err)
	}
}
