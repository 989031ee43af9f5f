package planner

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/audius-netmon/netmon/internal/store"
)

// shardRows are the rows of shard k of 3 of a made-up snapshot: users 1 … 20, those that are k
// modulo 3, each with user_id % 4 CIDs named after the user and their position.
func shardRows(k int) []store.DiscoveryCID {
	var rows []store.DiscoveryCID
	for u := int64(1); u <= 20; u++ {
		if u%3 != int64(k) {
			continue
		}
		for i := range u % 4 {
			rows = append(rows, store.DiscoveryCID{UserID: u, CID: string(rune('a'+u)) + string(rune('0'+i))})
		}
	}
	return rows
}

// TestMergeShards: the merged rows are every shard's, in user_id order, each user's rows in
// their shard's order, whatever the read-ahead.
func TestMergeShards(t *testing.T) {
	var want []store.DiscoveryCID
	for u := int64(1); u <= 20; u++ {
		for i := range u % 4 {
			want = append(want, store.DiscoveryCID{UserID: u, CID: string(rune('a'+u)) + string(rune('0'+i))})
		}
	}
	for _, ahead := range []int{1, 2, 1000} {
		old := cidReadAhead
		cidReadAhead = ahead
		out := make(chan store.DiscoveryCID)
		errc := make(chan error, 1)
		go func() {
			errc <- mergeShards(context.Background(), 3, func(ctx context.Context, k int, send func(store.DiscoveryCID) error) error {
				for _, c := range shardRows(k) {
					if err := send(c); err != nil {
						return err
					}
				}
				return nil
			}, out)
			close(out)
		}()
		var got []store.DiscoveryCID
		for c := range out {
			got = append(got, c)
		}
		cidReadAhead = old
		if err := <-errc; err != nil {
			t.Fatalf("read-ahead %d: %v", ahead, err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("read-ahead %d: merged\n%v\nwant\n%v", ahead, got, want)
		}
	}
}

// TestMergeShardsFails: a shard that fails ends the merge with its error, while another shard
// is still waiting to send (it is ended too).
func TestMergeShardsFails(t *testing.T) {
	errShard := errors.New("shard 1 lost its connection")
	out := make(chan store.DiscoveryCID, 100)
	errc := make(chan error, 1)
	go func() {
		errc <- mergeShards(context.Background(), 2, func(ctx context.Context, k int, send func(store.DiscoveryCID) error) error {
			if k == 1 {
				if err := send(store.DiscoveryCID{UserID: 1}); err != nil {
					return err
				}
				return errShard
			}
			if err := send(store.DiscoveryCID{UserID: 2}); err != nil {
				return err
			}
			<-ctx.Done() // a statement still running
			return ctx.Err()
		}, out)
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, errShard) {
			t.Errorf("merge returned %v, want the failed shard's %v", err, errShard)
		}
	case <-time.After(time.Minute):
		t.Fatal("the merge did not end within a minute of a shard failing")
	}
}
