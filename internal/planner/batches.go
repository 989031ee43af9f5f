package planner

import (
	"context"

	"github.com/audius-netmon/netmon/internal/message"
)

// snapshotBatches gathers a run's snapshot rows of one kind (users, CIDs, storage keys) into
// batches of at most size rows, numbered from 0: add emits a batch as soon as it is full, flush
// emits the last, partial one. out makes batch number n of rows into its message; count is the
// manifest's count of the kind's batches.
type snapshotBatches[T any] struct {
	emit  Emitter
	size  int
	out   func(n int64, rows []T) message.Out
	count *int64

	rows []T
	next int64
}

// add adds row, emitting the batch if it is then full.
func (b *snapshotBatches[T]) add(ctx context.Context, row T) error {
	b.rows = append(b.rows, row)
	if len(b.rows) < b.size {
		return nil
	}
	return b.flush(ctx)
}

// flush emits the rows gathered since the last batch, if any.
func (b *snapshotBatches[T]) flush(ctx context.Context) error {
	if len(b.rows) == 0 {
		return nil
	}
	if err := b.emit.Emit(ctx, b.out(b.next, b.rows)); err != nil {
		return err
	}
	*b.count++
	b.next++
	b.rows = nil
	return nil
}
