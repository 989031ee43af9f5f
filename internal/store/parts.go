package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

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
	select {
	case s.builds <- struct{}{}:
		defer func() { <-s.builds }()
	case <-ctx.Done():
		return false, ctx.Err()
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

// summarizeParts gives the run's block-range index on users.part a summary of every block range
// written since the last call, so a part's build reads its own users and not the whole partition
// (an unsummarised range is read by every query: correct, but slow).
func summarizeParts(ctx context.Context, q interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, run int64) error {
	_, err := q.Exec(ctx, `SELECT brin_summarize_new_values(i.indexrelid)
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
		WHERE a.amname = 'brin' AND i.indrelid = $1::regclass`, partitionName("users", run))
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

// wallet is a wallet in WalletKey form as a part's build matches it: one of the usual form (0x
// and 40 hex digits) as its 20 bytes, any other as it is.
type wallet struct {
	bytes [20]byte
	other string
	isHex bool
}

// parseWallet reads w (as stored: spaces and upper case are trimmed and lowered as WalletKey
// does); ok is false for an empty wallet.
func parseWallet(w []byte) (pw wallet, ok bool) {
	w = bytes.Trim(w, " ")
	if len(w) == 42 && w[0] == '0' && (w[1] == 'x' || w[1] == 'X') {
		if _, err := hex.Decode(pw.bytes[:], w[2:]); err == nil {
			pw.isHex = true
			return pw, true
		}
		pw.bytes = [20]byte{}
	}
	s := string(w)
	pw.other = WalletKey(&s)
	return pw, pw.other != ""
}

// notAnswered is the clock of a slot whose node gave no answer for the wallet.
const notAnswered = -2

// statusRow is one user_status row; a negative SP id is NULL, and so is the clock of a slot
// without a node or of a user without a wallet. batch is, for each slot, the batch of the answer
// its clock came from (noBatch: none yet).
type statusRow struct {
	user      int64
	hasWallet bool
	sp, clock [3]int64
	batch     [3]int64
}

const noBatch = math.MaxInt64

// hasClock is whether slot s has a clock: it names a node and the user has a wallet (otherwise
// the clock is NULL).
func (r *statusRow) hasClock(s int) bool { return r.sp[s] >= 0 && r.hasWallet }

// partUsers is a part's status rows, indexed by the wallet each user is asked under: wallets of
// the usual form by their first 8 bytes as a number (no allocation per user, and a map half the
// size of one keyed by all 20 bytes: matching a part's answers took half the time,
// docs/benchmarks.md), any other as it is. Users whose keys are equal are chained by next. A
// chain of the usual form may hold different wallets that share their first 8 bytes; wallets,
// each row's wallet of the usual form, tells them apart.
type partUsers struct {
	rows    []statusRow
	wallets [][20]byte
	hex     map[uint64]int32
	other   map[string]int32
	next    []int32
}

// newPartUsers makes room for n users.
func newPartUsers(n int64) *partUsers {
	return &partUsers{rows: make([]statusRow, 0, n), wallets: make([][20]byte, 0, n), next: make([]int32, 0, n),
		hex: make(map[uint64]int32, n), other: make(map[string]int32)}
}

// hexKey is the key of a wallet of the usual form: its first 8 bytes.
func hexKey(w *wallet) uint64 { return binary.LittleEndian.Uint64(w.bytes[:8]) }

// first is the index of the first user of w's chain, or -1.
func (u *partUsers) first(w *wallet) int32 {
	var i int32
	var ok bool
	if w.isHex {
		i, ok = u.hex[hexKey(w)]
	} else {
		i, ok = u.other[w.other]
	}
	if !ok {
		return -1
	}
	return i
}

// add files a user asked under w (a user without a wallet is asked nothing).
func (u *partUsers) add(r statusRow, w wallet) {
	i := int32(len(u.rows))
	u.rows = append(u.rows, r)
	u.wallets = append(u.wallets, w.bytes)
	u.next = append(u.next, -1)
	if !r.hasWallet {
		return
	}
	if j := u.first(&w); j >= 0 {
		// Chain after the first user of the key; the order within a chain does not matter.
		u.next[i], u.next[j] = u.next[j], i
		return
	}
	if w.isHex {
		u.hex[hexKey(&w)] = i
	} else {
		u.other[w.other] = i
	}
}

// answer gives node sp's clock for w, from the given batch, to every slot of every user asked
// under w that the node holds; if the node was asked w twice, the lowest batch's answer wins.
func (u *partUsers) answer(sp int64, w wallet, batch, clock int64) {
	for i := u.first(&w); i >= 0; i = u.next[i] {
		if w.isHex && u.wallets[i] != w.bytes {
			continue
		}
		r := &u.rows[i]
		for s := range 3 {
			if r.sp[s] == sp && batch < r.batch[s] {
				r.clock[s], r.batch[s] = clock, batch
			}
		}
	}
}

// buildPart writes the user status of one part, and its counts for the user families
// (userCounts): each of the part's users with, for each slot
// (primary, secondary1, secondary2), the clock the slot's node gave for the user's wallet in
// WalletKey form. A slot without a node, or a user without a wallet, has no clock (NULL); a slot
// whose node gave no answer (no result, a node missing from the run's list) has -2. If a node was
// asked a wallet twice in the part, the answer of the lowest batch wins. It reads the part's
// users, then streams the part's answers into their slots: as one set-based statement over the
// run (a hash join and an aggregation by user), the build took 13.6 CPU-s of Postgres at a
// million users, after the last result, and keyed by answer (node and wallet) rather than by
// user, the loader's map was three times larger and most of its time (docs/benchmarks.md).
func buildPart(ctx context.Context, tx pgx.Tx, run, part int64) error {
	// The part's rows are a small share of the partition, which may have no statistics yet: read
	// them through the block-range index.
	if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
		return err
	}
	users, err := readPartUsers(ctx, tx, run, part)
	if err != nil {
		return err
	}
	if err := readPartAnswers(ctx, tx, run, part, users); err != nil {
		return err
	}
	rows := newCopyRows(9, len(users.rows)*90)
	counts := newUserCounts()
	for i := range users.rows {
		r := &users.rows[i]
		counts.add(r)
		rows.row()
		rows.int8(run)
		rows.int8(r.user)
		rows.bool(r.hasWallet)
		for s := range 3 {
			if r.sp[s] >= 0 {
				rows.int8(r.sp[s])
			} else {
				rows.null()
			}
		}
		for s := range 3 {
			if r.hasClock(s) {
				rows.int8(r.clock[s])
			} else {
				rows.null()
			}
		}
	}
	err = copyIn(ctx, tx, partitionName("user_status", run), []string{"run_id", "user_id", "has_wallet",
		"primary_sp_id", "secondary1_sp_id", "secondary2_sp_id", "primary_clock", "secondary1_clock", "secondary2_clock"}, rows)
	if err != nil {
		return err
	}
	if err := counts.write(ctx, tx, run, part); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "RESET enable_seqscan"); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO run_parts (run_id, part, built_at, built_users) VALUES ($1, $2, clock_timestamp(), $3)
		ON CONFLICT (run_id, part) DO UPDATE SET built_at = EXCLUDED.built_at, built_users = EXCLUDED.built_users`,
		run, part, len(users.rows))
	return err
}

// readPartUsers reads the part's users, each with its slots' nodes and no answer yet, indexed by
// wallet. Rows are read in their binary form: decoding them through pgx's reflection cost the
// loader more than the rest of its work.
func readPartUsers(ctx context.Context, tx pgx.Tx, run, part int64) (*partUsers, error) {
	var n int64
	if err := tx.QueryRow(ctx, `SELECT coalesce(sum(rows), 0) FROM loaded_batches
		WHERE run_id = $1 AND kind = 'users' AND part = $2`, run, part).Scan(&n); err != nil {
		return nil, err
	}
	u := newPartUsers(n)
	rows, err := tx.Query(ctx, `SELECT user_id, primary_sp_id, secondary1_sp_id, secondary2_sp_id, wallet FROM `+
		pgx.Identifier{partitionName("users", run)}.Sanitize()+` WHERE part = $1`, part)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if err := binaryBigints(rows, 4); err != nil {
		return nil, err
	}
	for rows.Next() {
		v := rows.RawValues()
		r := statusRow{user: int8Value(v[0]), batch: [3]int64{noBatch, noBatch, noBatch}}
		w, hasWallet := parseWallet(v[4])
		r.hasWallet = v[4] != nil && hasWallet
		for s := range 3 {
			r.sp[s] = -1
			if v[1+s] != nil {
				r.sp[s], r.clock[s] = int8Value(v[1+s]), notAnswered
			}
		}
		u.add(r, w)
	}
	return u, rows.Err()
}

// readPartAnswers gives the part's answers to its users' slots: a row per work item, its wallets
// and clocks in arrays, read in their binary form.
func readPartAnswers(ctx context.Context, tx pgx.Tx, run, part int64, users *partUsers) error {
	rows, err := tx.Query(ctx, `SELECT sp_id, batch, wallets, clocks FROM `+
		pgx.Identifier{partitionName("clock_results", run)}.Sanitize()+` WHERE part = $1`, part)
	if err != nil {
		return err
	}
	defer rows.Close()
	if err := binaryBigints(rows, 2); err != nil {
		return err
	}
	for rows.Next() {
		v := rows.RawValues()
		sp, batch := int8Value(v[0]), int8Value(v[1])
		wallets, err := arrayElements(v[2])
		if err != nil {
			return fmt.Errorf("wallets of result %d/%d: %w", sp, batch, err)
		}
		clocks, err := arrayElements(v[3])
		if err != nil || len(clocks) != len(wallets) {
			return fmt.Errorf("clocks of result %d/%d: %d for %d wallets (%v)", sp, batch, len(clocks), len(wallets), err)
		}
		for i, w := range wallets {
			if len(clocks[i]) != 8 {
				return fmt.Errorf("clock %d of result %d/%d has %d bytes", i, sp, batch, len(clocks[i]))
			}
			if pw, ok := parseWallet(w); ok {
				users.answer(sp, pw, batch, int8Value(clocks[i]))
			}
		}
	}
	return rows.Err()
}

// arrayElements splits a one-dimensional array without NULLs, in Postgres' binary form (the
// number of dimensions, a NULL flag, the element type, each dimension's length and lower bound,
// then each element's length and bytes), into its elements' bytes.
func arrayElements(b []byte) ([][]byte, error) {
	if len(b) < 12 {
		return nil, fmt.Errorf("array of %d bytes", len(b))
	}
	dims := binary.BigEndian.Uint32(b)
	switch {
	case dims == 0:
		return nil, nil
	case dims != 1 || len(b) < 20:
		return nil, fmt.Errorf("array of %d dimensions", dims)
	}
	n := int(binary.BigEndian.Uint32(b[12:]))
	out := make([][]byte, 0, n)
	for rest := b[20:]; len(out) < n; {
		if len(rest) < 4 {
			return nil, fmt.Errorf("array ends at element %d of %d", len(out), n)
		}
		size := int32(binary.BigEndian.Uint32(rest))
		if size < 0 || int(size) > len(rest)-4 {
			return nil, fmt.Errorf("element %d of %d: length %d", len(out), n, size)
		}
		out = append(out, rest[4:4+size])
		rest = rest[4+size:]
	}
	return out, nil
}

// binaryBigints checks that the first n columns of rows are bigints in their binary form, which
// int8Value reads (pgx asks for the binary form of every type it knows). A query that failed
// (pgx may report the error through rows rather than from Query) has no columns: its error is
// returned.
func binaryBigints(rows pgx.Rows, n int) error {
	fields := rows.FieldDescriptions()
	if len(fields) < n {
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		return fmt.Errorf("%d columns, want at least %d", len(fields), n)
	}
	for _, f := range fields[:n] {
		if f.Format != pgx.BinaryFormatCode || f.DataTypeOID != pgtype.Int8OID {
			return fmt.Errorf("column %s: want a binary bigint, got format %d of type %d", f.Name, f.Format, f.DataTypeOID)
		}
	}
	return nil
}

// int8Value is a non-NULL binary bigint.
func int8Value(b []byte) int64 { return int64(binary.BigEndian.Uint64(b)) }
