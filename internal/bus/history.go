package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// LastMessage returns the data of the last message stored on subject in stream; ok is false when
// there is none.
func (c *Conn) LastMessage(ctx context.Context, stream, subject string) (data []byte, ok bool, err error) {
	st, err := c.JS.Stream(ctx, stream)
	if err != nil {
		return nil, false, fmt.Errorf("stream %s: %w", stream, err)
	}
	m, err := st.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("last message on %s: %w", subject, err)
	}
	return m.Data, true, nil
}
