package simnet

import (
	"context"
	"encoding/hex"
	"fmt"
	neturl "net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"
)

// discoverySchema creates the discovery tables netmon reads (spec §4, §15) with the discovery
// node's column names and types (SQLAlchemy String is varchar). Primary keys come after the COPY
// (discoveryKeys): building them once is much faster than maintaining them per row. The two big
// tables are UNLOGGED: a simulated database needs no crash safety, and skipping the WAL roughly
// halves the I/O of a 1M-user seed; readers see no difference.
const discoverySchema = `
CREATE TABLE blocks (
	blockhash  varchar NOT NULL,
	parenthash varchar,
	is_current boolean,
	number     integer
);
CREATE TABLE ursm_content_nodes (
	blockhash                        varchar,
	blocknumber                      integer,
	created_at                       timestamp NOT NULL,
	is_current                       boolean NOT NULL,
	cnode_sp_id                      integer NOT NULL,
	delegate_owner_wallet            varchar NOT NULL,
	owner_wallet                     varchar NOT NULL,
	proposer_sp_ids                  integer[] NOT NULL,
	proposer_1_delegate_owner_wallet varchar NOT NULL,
	proposer_2_delegate_owner_wallet varchar NOT NULL,
	proposer_3_delegate_owner_wallet varchar NOT NULL,
	endpoint                         varchar,
	txhash                           varchar NOT NULL DEFAULT ''
);
CREATE UNLOGGED TABLE users (
	user_id               integer NOT NULL,
	is_current            boolean NOT NULL,
	txhash                varchar NOT NULL DEFAULT '',
	wallet                varchar,
	creator_node_endpoint varchar,
	primary_id            integer,
	secondary_ids         integer[],
	metadata_multihash    varchar,
	profile_picture       varchar,
	profile_picture_sizes varchar,
	cover_photo           varchar,
	cover_photo_sizes     varchar,
	is_deactivated        boolean NOT NULL DEFAULT false
);
CREATE UNLOGGED TABLE tracks (
	track_id           integer NOT NULL,
	is_current         boolean NOT NULL,
	txhash             varchar NOT NULL DEFAULT '',
	owner_id           integer NOT NULL,
	cover_art          varchar,
	cover_art_sizes    varchar,
	metadata_multihash varchar,
	download           jsonb,
	track_segments     jsonb NOT NULL,
	is_delete          boolean NOT NULL DEFAULT false
);
`

var discoveryKeys = []string{
	`ALTER TABLE blocks ADD PRIMARY KEY (blockhash), ADD UNIQUE (number)`,
	`ALTER TABLE ursm_content_nodes ADD PRIMARY KEY (cnode_sp_id, is_current, txhash)`,
	`ALTER TABLE users ADD PRIMARY KEY (user_id, is_current, txhash)`,
	`ALTER TABLE tracks ADD PRIMARY KEY (track_id, is_current, txhash)`,
}

var userColumns = []string{
	"user_id", "is_current", "txhash", "wallet", "creator_node_endpoint", "primary_id", "secondary_ids",
	"metadata_multihash", "profile_picture", "profile_picture_sizes", "cover_photo", "cover_photo_sizes",
	"is_deactivated",
}

// SeedDiscovery creates the discovery tables in the empty database at url and fills them with
// COPY, streaming rows as they are generated. Call it after Start: the endpoints it writes are the
// nodes' current ones (nominal before Start). It runs the tables' COPYs concurrently, then adds
// the keys and indexes, then ANALYZEs.
func (n *Network) SeedDiscovery(ctx context.Context, url string) error {
	endpoints := n.endpointsSnapshot()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("seed discovery: connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, discoverySchema); err != nil {
		return fmt.Errorf("seed discovery: create tables: %w", err)
	}
	if err := n.seedSmall(ctx, conn, endpoints); err != nil {
		return fmt.Errorf("seed discovery: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return copyOn(gctx, url, "users", userColumns, n.newUserSource(endpoints))
	})
	g.Go(func() error {
		return copyOn(gctx, url, "tracks", trackColumns, n.newTrackSource())
	})
	if err := g.Wait(); err != nil {
		return fmt.Errorf("seed discovery: %w", err)
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(2)
	for _, stmt := range discoveryKeys {
		g.Go(func() error { return execOn(gctx, url, stmt) })
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("seed discovery: keys: %w", err)
	}
	if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
		return fmt.Errorf("seed discovery: analyze: %w", err)
	}
	return nil
}

func copyOn(ctx context.Context, url, table string, cols []string, src pgx.CopyFromSource) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("copy %s: connect: %w", table, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{table}, cols, src); err != nil {
		return fmt.Errorf("copy %s: %w", table, err)
	}
	return nil
}

func execOn(ctx context.Context, url, stmt string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SET maintenance_work_mem = '256MB'"); err != nil {
		return fmt.Errorf("set maintenance_work_mem: %w", err)
	}
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	return nil
}

// seedSmall writes blocks and ursm_content_nodes.
func (n *Network) seedSmall(ctx context.Context, conn *pgx.Conn, endpoints []string) error {
	var blocks [][]any
	for b := n.block - 2; b <= n.block; b++ {
		parent := any(nil)
		if b > n.block-2 {
			parent = txHash(n.seed, 0xb10c, uint64(b-1))
		}
		blocks = append(blocks, []any{txHash(n.seed, 0xb10c, uint64(b)), parent, b == n.block, int32(b)})
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"blocks"}, []string{"blockhash", "parenthash", "is_current", "number"}, pgx.CopyFromRows(blocks)); err != nil {
		return fmt.Errorf("copy blocks: %w", err)
	}
	created := time.Date(2022, 6, 10, 0, 0, 0, 0, time.UTC)
	var rows [][]any
	row := func(sp int64, endpoint string, current bool, k uint64) []any {
		delegate, owner := delegateWallet(n.seed, sp), ownerWallet(n.seed, sp)
		return []any{
			txHash(n.seed, 0xb10c, uint64(n.block)), int32(n.block) - int32(k), created, current, int32(sp),
			delegate, owner, []int32{1, 2, 3}, delegate, delegate, delegate, endpoint,
			txHash(n.seed, tagNodeHistory, uint64(sp), k),
		}
	}
	for i, ni := range n.nodes {
		rows = append(rows, row(ni.spec.SPID, endpoints[i], true, 0))
	}
	if n.nodeHistory() {
		// Older registrations, and an SP that left the network: none of them is a node of the run.
		for _, ni := range n.nodes {
			rows = append(rows, row(ni.spec.SPID, "http://old-cn"+strconv.FormatInt(ni.spec.SPID, 10)+".invalid", false, 1))
		}
		gone := n.nodes[len(n.nodes)-1].spec.SPID + 1
		rows = append(rows, row(gone, "http://gone-cn.invalid", false, 1))
	}
	cols := []string{
		"blockhash", "blocknumber", "created_at", "is_current", "cnode_sp_id", "delegate_owner_wallet",
		"owner_wallet", "proposer_sp_ids", "proposer_1_delegate_owner_wallet",
		"proposer_2_delegate_owner_wallet", "proposer_3_delegate_owner_wallet", "endpoint", "txhash",
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"ursm_content_nodes"}, cols, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("copy ursm_content_nodes: %w", err)
	}
	return nil
}

// nodeHistory reports whether ursm_content_nodes gets is_current = false rows: generated networks
// with history. They are left out of hand-written networks like Reference, which must be exact.
func (n *Network) nodeHistory() bool { return n.shares.History > 0 && n.scenario.NodeCount > 0 }

func txHash(seed int64, parts ...uint64) string {
	var b [32]byte
	for k := 0; k < 4; k++ {
		h := hash(seed, append(parts, uint64(k)+0x7700)...)
		for j := 0; j < 8; j++ {
			b[k*8+j] = byte(h >> (8 * j))
		}
	}
	return "0x" + hex.EncodeToString(b[:])
}

// userSource streams the users rows: each current user, followed by its history rows. Values
// reuses one row buffer; pgx encodes a row before asking for the next.
type userSource struct {
	n         *Network
	endpoints []string
	i         int // current user index
	history   int // history rows still to emit for user i
	hk        int
	vals      []any
	secs      []int32
	err       error
}

func (n *Network) newUserSource(endpoints []string) *userSource {
	return &userSource{n: n, endpoints: endpoints, i: -1, vals: make([]any, len(userColumns)), secs: make([]int32, 0, 8)}
}

func (s *userSource) Next() bool {
	if s.history > 0 {
		s.history--
		s.hk++
		s.historyRow(s.i, s.hk)
		return true
	}
	s.i++
	if s.i >= len(s.n.users) {
		return false
	}
	s.hk = 0
	s.history = s.n.historyRows(s.i)
	s.currentRow(s.i)
	return true
}

func (s *userSource) Values() ([]any, error) { return s.vals, nil }
func (s *userSource) Err() error             { return s.err }

// historyRows is how many is_current = false rows user i has.
func (n *Network) historyRows(i int) int {
	if i < n.explicitN {
		return 0
	}
	h := hash(n.seed, tagHistory, uint64(i))
	if !chance(h, n.shares.History) {
		return 0
	}
	return 1 + int(mix64(h)%2)
}

func (s *userSource) currentRow(i int) {
	n := s.n
	u := &n.users[i]
	v := s.vals
	v[0] = u.id
	v[1] = true
	v[2] = txHash(n.seed, tagTx, uint64(i))
	if w, ok := n.walletString(i); ok {
		v[3] = w
	} else {
		v[3] = nil
	}
	var secondaries []int64
	var primary *int64
	var cne *string
	if i < n.explicitN {
		us := &n.scenario.Users[i]
		primary, secondaries, cne = us.Primary, us.Secondaries, us.CreatorNodeEndpoint
	} else {
		if u.spid[0] != 0 {
			p := int64(u.spid[0])
			primary = &p
		}
		if u.secs >= 0 {
			secondaries = make([]int64, 0, 3)
			for k := 1; k <= int(u.secs) && k <= 2; k++ {
				secondaries = append(secondaries, int64(u.spid[k]))
			}
			if u.secs == 3 {
				secondaries = append(secondaries, int64(n.thirdSecondary(i)))
			}
		}
	}
	if primary != nil {
		v[5] = int32(*primary)
	} else {
		v[5] = nil
	}
	if secondaries != nil {
		s.secs = s.secs[:0]
		for _, sp := range secondaries {
			s.secs = append(s.secs, int32(sp))
		}
		v[6] = s.secs
	} else {
		v[6] = nil
	}
	switch {
	case cne != nil:
		v[4] = *cne
	case primary != nil:
		v[4] = s.creatorNodeEndpoint(*primary, secondaries)
	default:
		v[4] = nil
	}
	for k := 7; k < 12; k++ {
		v[k] = nil
	}
	if i >= n.explicitN {
		n.userCIDs(i, v[7:12])
	}
	v[12] = u.flags&flagDeactivated != 0
}

// creatorNodeEndpoint joins the endpoints of the primary and the secondaries as discovery's
// indexer did, with "None" where the SP has no endpoint.
func (s *userSource) creatorNodeEndpoint(primary int64, secondaries []int64) string {
	var b strings.Builder
	for k, sp := range append([]int64{primary}, secondaries...) {
		if k > 0 {
			b.WriteByte(',')
		}
		ep := ""
		if i, ok := s.n.nodeIdx[int32(sp)]; ok {
			ep = s.endpoints[i]
		}
		if ep == "" {
			ep = "None"
		}
		b.WriteString(ep)
	}
	return b.String()
}

// historyRow is an older version of user i: another wallet and another replica set.
func (s *userSource) historyRow(i, k int) {
	n := s.n
	v := s.vals
	pool := n.servePool
	if len(pool) == 0 {
		pool = n.unreachPool
	}
	set := pick3(pool, hash(n.seed, tagHistory, uint64(i), uint64(k)))
	v[0] = n.users[i].id
	v[1] = false
	v[2] = txHash(n.seed, tagTx, uint64(i), uint64(k))
	v[3] = n.historyWallet(i, k)
	v[5] = set[0]
	s.secs = append(s.secs[:0], set[1], set[2])
	v[6] = s.secs
	v[4] = s.creatorNodeEndpoint(int64(set[0]), []int64{int64(set[1]), int64(set[2])})
	for k := 7; k < 12; k++ {
		v[k] = nil
	}
	v[12] = false
}

// CreateDatabase creates an empty database named name on the server adminURL points at and
// returns its URL, and a function that drops it.
func CreateDatabase(ctx context.Context, adminURL, name string) (string, func(context.Context) error, error) {
	u, err := neturl.Parse(adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("create database: admin URL: %w", err)
	}
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("create database: connect: %w", err)
	}
	defer conn.Close(ctx)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u.Path = "/" + name
	drop := func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}
	return u.String(), drop, nil
}
