package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/audius-netmon/netmon/internal/lifecycle"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// A clocks run's plan comes in parts (netmonv1.Part): consecutive user batches and the clock work
// items that ask about exactly those users' wallets, each part's answers complete in themselves.
// The loader builds a part's user status as soon as everything the part names is written
// (TryBuildPart), so the build proceeds while the rest of the run is fetched; what is left when
// the run is loaded or cut (parts never closed by a Part message: an interrupted plan, or a run
// planned before parts existed, which is all part 0) is built then (buildRemainingParts).

// WalletKey is the form in which a wallet is sent to content nodes and matched in their answers:
// trimmed of spaces and lower-cased (discovery stores lower case; content nodes match exactly).
// The planner asks in this form and a part's build matches answers in it.
func WalletKey(w *string) string {
	if w == nil {
		return ""
	}
	return strings.ToLower(strings.Trim(*w, " "))
}

// SavePart records what a Part message says the part holds. The row may exist already: a
// deadline's cut builds the parts it finds, with or without their message.
func (s *Store) SavePart(ctx context.Context, p *netmonv1.Part) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO run_parts (run_id, part, first_user_batch, user_batches, users, work_items)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (run_id, part) DO UPDATE SET first_user_batch = EXCLUDED.first_user_batch,
			user_batches = EXCLUDED.user_batches, users = EXCLUDED.users, work_items = EXCLUDED.work_items`,
		p.GetRunId(), p.GetPart(), p.GetFirstUserBatch(), p.GetUserBatches(), p.GetUsers(), p.GetWorkItems())
	if err != nil {
		return fmt.Errorf("save part %d of run %d: %w", p.GetPart(), p.GetRunId(), err)
	}
	return nil
}

// partReady is true when the part's Part message, every user batch and every clock result it
// names are written and it is not built yet.
const partReady = `SELECT p.built_at IS NULL AND p.user_batches IS NOT NULL
	AND (SELECT count(*) FROM loaded_batches b WHERE b.run_id = p.run_id AND b.kind = 'users' AND b.part = p.part) >= p.user_batches
	AND (SELECT count(*) FROM fetch_results f WHERE f.run_id = p.run_id AND f.kind = 'clock' AND f.part = p.part) >= p.work_items
FROM run_parts p WHERE p.run_id = $1 AND p.part = $2`

// TryBuildPart builds the user status of the run's part if everything the part names is written
// and nobody has built it; it reports whether this call built it. Most calls find the part
// incomplete in one read-only look. Builds of different parts may run at once; each holds the
// run's row in share mode, so the run's load (TryFinishLoad) or cut (ExpireRun), which lock it
// for update and build every part still unbuilt, never overlap a part's build.
func (s *Store) TryBuildPart(ctx context.Context, run, part int64) (bool, error) {
	var ready bool
	err := s.pool.QueryRow(ctx, partReady, run, part).Scan(&ready)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !ready) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("part %d of run %d: %w", part, run, err)
	}
	// Summarise the block ranges written since the last build outside the build's transaction:
	// summarising holds a lock that would otherwise serialise the builds until they commit.
	if err := summarizeParts(ctx, s.pool, run); err != nil {
		return false, fmt.Errorf("part %d of run %d: %w", part, run, err)
	}
	var built bool
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var status lifecycle.Status
		if err := tx.QueryRow(ctx, "SELECT status FROM runs WHERE run_id = $1 FOR SHARE", run).Scan(&status); err != nil {
			return err
		}
		// Parts are built while the run is planned or fetching: the statuses a load or a cut
		// leaves, building every part still unbuilt.
		if !lifecycle.Cut.Allows(status) {
			return nil
		}
		if err := tx.QueryRow(ctx, partReady+" FOR UPDATE OF p", run, part).Scan(&ready); err != nil || !ready {
			return err
		}
		built = true
		return buildPart(ctx, tx, run, part)
	})
	if err != nil {
		return false, fmt.Errorf("build part %d of run %d: %w", part, run, err)
	}
	return built, nil
}

// summarizeParts gives the run's block-range indexes on users.part and clocks.part a summary of
// every block range written since the last call, so a part's build reads its own rows and not the
// whole partition (an unsummarised range is read by every query: correct, but slow).
func summarizeParts(ctx context.Context, q interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, run int64) error {
	_, err := q.Exec(ctx, `SELECT brin_summarize_new_values(i.indexrelid)
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
		WHERE a.amname = 'brin' AND i.indrelid IN ($1::regclass, $2::regclass)`,
		partitionName("users", run), partitionName("clocks", run))
	return err
}

// buildRemainingParts builds, inside tx, the user status of every part of the run with user rows
// that is not built yet: the parts no Part message closed (an interrupted plan, a run planned
// before parts existed) and, at a deadline's cut, the parts whose results did not all arrive (a
// slot without an answer is -2, not answered). tx holds the run's row for update.
func buildRemainingParts(ctx context.Context, tx pgx.Tx, run int64) error {
	if err := summarizeParts(ctx, tx, run); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `SELECT b.part FROM loaded_batches b WHERE b.run_id = $1 AND b.kind = 'users'
		EXCEPT SELECT p.part FROM run_parts p WHERE p.run_id = $1 AND p.built_at IS NOT NULL
		ORDER BY 1`, run)
	if err != nil {
		return err
	}
	parts, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	for _, part := range parts {
		// Lock the part's row, if it has one: in a repeatable-read cut, a build committed since the
		// snapshot makes this a serialisation failure, and the cut is retried.
		if _, err := tx.Exec(ctx, "SELECT 1 FROM run_parts WHERE run_id = $1 AND part = $2 FOR UPDATE", run, part); err != nil {
			return err
		}
		if err := buildPart(ctx, tx, run, part); err != nil {
			return err
		}
	}
	return nil
}

// partUser is a users row as a part's build reads it.
type partUser struct {
	id     int64
	wallet *string
	slots  [3]*int64 // primary, secondary1, secondary2 SP ids
}

// answerKey is what a node was asked: the node and the wallet in WalletKey form.
type answerKey struct {
	sp     int64
	wallet string
}

// answer is a node's clock for a wallet, and the batch it came in.
type answer struct {
	batch, clock int64
}

// notAnswered is the clock of a slot whose node gave no answer for the wallet.
const notAnswered = -2

// buildPart writes the user status of one part: each of the part's users with, for each slot
// (primary, secondary1, secondary2), the clock the slot's node gave for the user's wallet in
// WalletKey form. A slot without a node, or a user without a wallet, has no clock (NULL); a slot
// whose node gave no answer (no result, a node missing from the run's list) has -2. If a node was
// asked a wallet twice in the part, the answer of the lowest batch wins. It reads the part's users
// and answers and joins them here: a hash join and an aggregation of every user in SQL took 13.6
// CPU-s at a million users, this about a tenth of that (docs/benchmarks.md).
func buildPart(ctx context.Context, tx pgx.Tx, run, part int64) error {
	// The part's rows are a small share of the partition, which may have no statistics yet: read
	// them through the block-range index.
	if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
		return err
	}
	users, err := partUsers(ctx, tx, run, part)
	if err != nil {
		return err
	}
	answers, err := partAnswers(ctx, tx, run, part)
	if err != nil {
		return err
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{partitionName("user_status", run)},
		[]string{"run_id", "user_id", "has_wallet", "primary_sp_id", "secondary1_sp_id", "secondary2_sp_id",
			"primary_clock", "secondary1_clock", "secondary2_clock"},
		newRowSource(len(users), []any{run, nil, nil, nil, nil, nil, nil, nil, nil}, func(i int, row []any) {
			u := users[i]
			wallet := WalletKey(u.wallet)
			row[1], row[2] = u.id, wallet != ""
			for s, sp := range u.slots {
				row[3+s], row[6+s] = sp, slotClock(sp, wallet, answers)
			}
		}))
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "RESET enable_seqscan"); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO run_parts (run_id, part, built_at, built_users) VALUES ($1, $2, clock_timestamp(), $3)
		ON CONFLICT (run_id, part) DO UPDATE SET built_at = EXCLUDED.built_at, built_users = EXCLUDED.built_users`,
		run, part, len(users))
	return err
}

// slotClock is the clock of one slot: nil without a node or a wallet, else the node's answer for
// the wallet, or -2.
func slotClock(sp *int64, wallet string, answers map[answerKey]answer) *int64 {
	if sp == nil || wallet == "" {
		return nil
	}
	clock := int64(notAnswered)
	if a, ok := answers[answerKey{sp: *sp, wallet: wallet}]; ok {
		clock = a.clock
	}
	return &clock
}

func partUsers(ctx context.Context, tx pgx.Tx, run, part int64) ([]partUser, error) {
	rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT user_id, wallet, primary_sp_id, secondary1_sp_id, secondary2_sp_id
		FROM %s WHERE part = $1`, partitionName("users", run)), part)
	if err != nil {
		return nil, err
	}
	var users []partUser
	var u partUser
	_, err = pgx.ForEachRow(rows, []any{&u.id, &u.wallet, &u.slots[0], &u.slots[1], &u.slots[2]}, func() error {
		users = append(users, u)
		return nil
	})
	return users, err
}

func partAnswers(ctx context.Context, tx pgx.Tx, run, part int64) (map[answerKey]answer, error) {
	rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT sp_id, batch, wallet, clock FROM %s WHERE part = $1`,
		partitionName("clocks", run)), part)
	if err != nil {
		return nil, err
	}
	answers := make(map[answerKey]answer)
	var k answerKey
	var a answer
	_, err = pgx.ForEachRow(rows, []any{&k.sp, &a.batch, &k.wallet, &a.clock}, func() error {
		if had, ok := answers[k]; !ok || a.batch < had.batch {
			answers[k] = a
		}
		return nil
	})
	return answers, err
}
