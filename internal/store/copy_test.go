package store

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/audius-netmon/netmon/internal/testenv"
)

// TestCopyRows writes every kind of value the store COPYs (NULLs, extremes, empty arrays, text
// that is not ASCII) through copyRows and reads them back through pgx's own decoding.
func TestCopyRows(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testenv.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE copied (i8 bigint, i4 integer, i2 smallint, b boolean, t text,
		a8 bigint[], at text[])`); err != nil {
		t.Fatal(err)
	}
	type row struct {
		I8 *int64
		I4 int32
		I2 int16
		B  bool
		T  *string
		A8 []int64
		At []string
	}
	ptr := func(v int64) *int64 { return &v }
	str := func(s string) *string { return &s }
	want := []row{
		{I8: ptr(-9223372036854775808), I4: -2147483648, I2: -32768, B: true, T: str("0xAbC é ✓"),
			A8: []int64{-2, -1, 0, 9223372036854775807}, At: []string{"0xab", "", "\u00e9\u00e9"}},
		{I8: ptr(7), I4: 0, I2: -2, B: true, T: str(""), A8: []int64{42}, At: []string{"x"}},
		{I8: nil, I4: 2147483647, I2: 32767, B: false, T: nil, A8: []int64{}, At: []string{}},
	} // in i4 order, as they are read back
	rows := newCopyRows(7, 0)
	for _, r := range want {
		rows.row()
		rows.optInt8(r.I8)
		rows.int4(r.I4)
		rows.int2(r.I2)
		rows.bool(r.B)
		rows.optText(r.T)
		rows.int8Array(r.A8)
		rows.textArray(r.At)
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		return copyIn(ctx, tx, "copied", []string{"i8", "i4", "i2", "b", "t", "a8", "at"}, rows)
	})
	if err != nil {
		t.Fatal(err)
	}
	read, err := conn.Query(ctx, "SELECT i8, i4, i2, b, t, a8, at FROM copied ORDER BY i4")
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(read, pgx.RowToStructByPos[row])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	// Arrays index from 1, as Postgres' own arrays do (what clock_answers' unnest and a[1] see).
	var lo8, loT int
	var first string
	if err := conn.QueryRow(ctx, "SELECT array_lower(a8, 1), array_lower(at, 1), at[1] FROM copied WHERE i4 = 0").
		Scan(&lo8, &loT, &first); err != nil {
		t.Fatal(err)
	}
	if lo8 != 1 || loT != 1 || first != "x" {
		t.Errorf("arrays from %d and %d, at[1] = %q; want 1, 1, \"x\"", lo8, loT, first)
	}
}
