package bus_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/audius-netmon/netmon/internal/bus"
	"github.com/audius-netmon/netmon/internal/testenv"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAsyncErrorsAreLogged: nats.go's asynchronous errors (here a slow consumer) come out as JSON
// lines of the stage's logger, not as nats.go's plain text on stderr.
func TestAsyncErrorsAreLogged(t *testing.T) {
	s := testenv.NATS(t)
	var logs syncBuffer
	conn, err := bus.Connect(s.ClientURL(), "", "test", zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	block := make(chan struct{})
	sub, err := bus.RawNC(conn).Subscribe("slow", func(*nats.Msg) { <-block })
	if err != nil {
		t.Fatal(err)
	}
	defer close(block)
	if err := sub.SetPendingLimits(1, -1); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := bus.RawNC(conn).Publish("slow", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	_ = bus.RawNC(conn).Flush()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "slow consumer") {
		if time.Now().After(deadline) {
			t.Fatalf("no slow-consumer line in the log:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	line := strings.SplitN(strings.TrimSpace(logs.String()), "\n", 2)[0]
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil || rec["subject"] != "slow" || rec["message"] != "nats async error" {
		t.Errorf("log line %q: %v, want JSON with the subject", line, err)
	}
}
