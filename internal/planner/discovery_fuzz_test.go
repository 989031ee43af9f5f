package planner_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/audius-netmon/netmon/internal/message"
	"github.com/audius-netmon/netmon/internal/planner"
	"github.com/audius-netmon/netmon/internal/simnet"
	"github.com/audius-netmon/netmon/internal/store"
	"github.com/audius-netmon/netmon/internal/testenv"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// fuzzEmitter keeps what the planner emits, checking that every message marshals.
type fuzzEmitter struct {
	t    *testing.T
	outs []message.Out
}

func (e *fuzzEmitter) Emit(_ context.Context, o message.Out) error {
	if _, err := proto.Marshal(o.Msg); err != nil {
		e.t.Fatalf("%s does not marshal: %v", o.Subject, err)
	}
	e.outs = append(e.outs, o)
	return nil
}

func (e *fuzzEmitter) Flush(context.Context) error { return nil }

// fuzzUser is one users row as the fuzzer describes it.
type fuzzUser struct {
	id          int64
	wallet      *string
	cne         *string
	primary     *int64
	secondaries *string // an integer[] literal, or nil for NULL
}

// secondaryArray turns the fuzzer's text into an integer[] literal: comma-separated numbers, any
// other piece NULL; text starting with '{' or '[' is used as is (nested, bounded or broken
// arrays; Postgres rejects what is not an array).
func secondaryArray(s string) string {
	if strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") {
		return s
	}
	if s == "" {
		return "{}"
	}
	var parts []string
	for _, p := range strings.Split(s, ",") {
		if n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 32); err == nil {
			parts = append(parts, strconv.FormatInt(n, 10))
		} else {
			parts = append(parts, "NULL")
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// FuzzDiscoveryRows writes users rows of any shape into a real discovery database (odd wallets,
// replica-set strings, primary ids that are no node, secondary arrays that are empty, short,
// long, nested or hold NULLs, shared wallets, NULLs everywhere) and plans a run over them. Planning
// must succeed, every message must marshal, the snapshot must carry each user as discovery has it
// (secondaries as secondary_ids[1] and [2]), and the work items must ask each node about each
// wallet it should hold exactly once: no slot lost, none asked twice.
func FuzzDiscoveryRows(f *testing.F) {
	f.Add("0xAbC", "https://cn1,https://cn2", int64(1), "2,3", "0xabc", int64(2), "1,NULL", uint8(0))
	f.Add(" 0xdef ", "", int64(7), "", "", int64(0), "{{1,2},{3,4}}", uint8(0))
	f.Add("", "x", int64(1), "1,1,1", "0x1", int64(4), "4,4", uint8(0b1010))
	f.Add("0x2", "", int64(-3), "[2:3]={2,3}", "0X2", int64(3), "2", uint8(0b0101))
	f.Add("wallet with spaces and ünïcödé", "", int64(2), "3,1,4,1,5", "WALLET WITH SPACES AND ÜNÏCÖDÉ", int64(1), "{NULL,NULL}", uint8(0))
	f.Add("0x3", "", int64(2147483647), "-1,0", "0x4", int64(-2147483648), "{1,2", uint8(0b1111_0000))

	ctx := context.Background()
	sn, err := simnet.Build(simnet.Scenario{Seed: 1, NodeCount: 4, UserCount: 1})
	if err != nil {
		f.Fatal(err)
	}
	url := testenv.Database(f)
	if err := sn.SeedDiscovery(ctx, url); err != nil {
		f.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { conn.Close(context.Background()) })
	disc, err := store.OpenDiscovery(ctx, url)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(disc.Close)
	nodes := map[int64]bool{1: true, 2: true, 3: true, 4: true}
	p := planner.New(planner.Options{UserBatchSize: 1, WorkBatchSize: 2, Deadline: time.Hour}, zerolog.Nop())

	f.Fuzz(func(t *testing.T, w1, cne1 string, p1 int64, sec1, w2 string, p2 int64, sec2 string, nulls uint8) {
		for _, s := range []string{w1, cne1, w2} {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				return // a UTF-8 database cannot hold it
			}
		}
		users := []fuzzUser{{id: 1}, {id: 2}}
		for i, u := range []struct {
			wallet, cne string
			primary     int64
			sec         string
		}{{w1, cne1, p1, sec1}, {w2, cne1, p2, sec2}} {
			bits := nulls >> (4 * i)
			fu := &users[i]
			if bits&1 == 0 {
				fu.wallet = &u.wallet
			}
			if bits&2 == 0 {
				fu.cne = &u.cne
			}
			if bits&4 == 0 {
				v := int64(int32(u.primary))
				fu.primary = &v
			}
			if bits&8 == 0 {
				a := secondaryArray(u.sec)
				fu.secondaries = &a
			}
		}
		if _, err := conn.Exec(ctx, "DELETE FROM users"); err != nil {
			t.Fatal(err)
		}
		for _, u := range users {
			_, err := conn.Exec(ctx, `INSERT INTO users (user_id, is_current, wallet, creator_node_endpoint, primary_id, secondary_ids)
				VALUES ($1, true, $2, $3, $4, $5::integer[])`, u.id, u.wallet, u.cne, u.primary, u.secondaries)
			if err != nil {
				if u.secondaries != nil && strings.ContainsAny((*u.secondaries)[:1], "{[") {
					return // not an array Postgres accepts: discovery cannot hold it either
				}
				t.Fatalf("insert %+v: %v", u, err)
			}
		}
		// What discovery holds, as the planner must see it.
		type row struct {
			wallet, cne         *string
			primary, sec1, sec2 *int64
		}
		want := map[int64]row{}
		rows, err := conn.Query(ctx, `SELECT user_id, wallet, creator_node_endpoint, primary_id, secondary_ids[1], secondary_ids[2] FROM users`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			var r row
			if err := rows.Scan(&id, &r.wallet, &r.cne, &r.primary, &r.sec1, &r.sec2); err != nil {
				t.Fatal(err)
			}
			want[id] = r
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}

		em := &fuzzEmitter{t: t}
		var m *netmonv1.Manifest
		err = disc.Read(ctx, func(s *store.Snapshot) error {
			var err error
			list, err := p.Nodes(ctx, s, 0)
			if err != nil {
				return err
			}
			m, err = p.Plan(ctx, 5, time.Unix(1700000000, 0), s, list, em)
			return err
		})
		if err != nil {
			t.Fatalf("plan: %v", err)
		}

		// The snapshot carries every user as discovery has it.
		seen := map[int64]bool{}
		asked := map[string]int{} // "sp wallet" -> times
		var workItems, walletChecks int64
		for _, o := range em.outs {
			switch msg := o.Msg.(type) {
			case *netmonv1.UserBatch:
				for _, u := range msg.GetUsers() {
					r, ok := want[u.GetUserId()]
					if !ok || seen[u.GetUserId()] {
						t.Fatalf("user %d in the snapshot: unknown or twice", u.GetUserId())
					}
					seen[u.GetUserId()] = true
					if (r.wallet == nil) != u.GetWalletNull() || (r.wallet != nil && *r.wallet != u.GetWallet()) {
						t.Fatalf("user %d: wallet %v/%v, discovery has %v", u.GetUserId(), u.GetWallet(), u.GetWalletNull(), r.wallet)
					}
					if (r.cne == nil) != u.GetReplicaSetNull() || (r.cne != nil && *r.cne != u.GetReplicaSet()) {
						t.Fatalf("user %d: replica set %q, discovery has %v", u.GetUserId(), u.GetReplicaSet(), r.cne)
					}
					for _, slot := range []struct {
						name      string
						got, want *int64
					}{{"primary", u.PrimarySpId, r.primary}, {"secondary1", u.Secondary1SpId, r.sec1}, {"secondary2", u.Secondary2SpId, r.sec2}} {
						if (slot.got == nil) != (slot.want == nil) || (slot.got != nil && *slot.got != *slot.want) {
							t.Fatalf("user %d: %s %v, discovery has %v", u.GetUserId(), slot.name, fmtPtr(slot.got), fmtPtr(slot.want))
						}
					}
				}
			case *netmonv1.WorkItem:
				workItems++
				if len(msg.GetWallets()) == 0 || len(msg.GetWallets()) > 2 {
					t.Fatalf("work item with %d wallets, batch size 2", len(msg.GetWallets()))
				}
				if o.Subject != message.WorkSubject(5, msg.GetSpId()) {
					t.Fatalf("work item of node %d on %s", msg.GetSpId(), o.Subject)
				}
				for _, w := range msg.GetWallets() {
					walletChecks++
					asked[fmt.Sprint(msg.GetSpId(), " ", w)]++
				}
			}
		}
		if len(seen) != len(want) || m.GetUsers() != int64(len(want)) {
			t.Fatalf("%d users in the snapshot, manifest %d, discovery %d", len(seen), m.GetUsers(), len(want))
		}
		if m.GetWorkItems() != workItems || m.GetWalletChecks() != walletChecks {
			t.Fatalf("manifest promises %d items and %d checks, %d and %d emitted", m.GetWorkItems(), m.GetWalletChecks(), workItems, walletChecks)
		}
		// Each node of the run is asked each wallet its users' slots name, once.
		should := map[string]bool{}
		for _, r := range want {
			w := store.WalletKey(r.wallet)
			if w == "" {
				continue
			}
			for _, sp := range []*int64{r.primary, r.sec1, r.sec2} {
				if sp != nil && nodes[*sp] {
					should[fmt.Sprint(*sp, " ", w)] = true
				}
			}
		}
		for k, n := range asked {
			if n != 1 || !should[k] {
				t.Fatalf("asked %q %d times; should ask: %v", k, n, should)
			}
		}
		for k := range should {
			if asked[k] != 1 {
				t.Fatalf("never asked %q", k)
			}
		}
	})
}

func fmtPtr(p *int64) string {
	if p == nil {
		return "NULL"
	}
	return strconv.FormatInt(*p, 10)
}
