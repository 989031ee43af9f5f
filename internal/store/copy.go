package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// copyRows is the data of a COPY in Postgres' binary format, written by hand: a header, then per
// row its field count and each field's length and bytes (-1 for NULL), then a trailer. Encoding
// every value through pgx's type map cost the loader a fifth of its CPU (planning an encoding per
// value); the store's COPYs write only these few types. A row must be given exactly the fields
// named by the COPY's columns, in order.
type copyRows struct {
	buf    []byte
	fields int16 // fields per row
	rows   int64
}

// copySignature is the binary COPY header: the signature, no flags, no header extension.
var copySignature = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

func newCopyRows(fields int, sizeHint int) *copyRows {
	c := &copyRows{buf: make([]byte, 0, len(copySignature)+sizeHint+2), fields: int16(fields)}
	c.buf = append(c.buf, copySignature...)
	return c
}

// row starts a row.
func (c *copyRows) row() {
	c.buf = binary.BigEndian.AppendUint16(c.buf, uint16(c.fields))
	c.rows++
}

func (c *copyRows) null() { c.buf = binary.BigEndian.AppendUint32(c.buf, math.MaxUint32) }

func (c *copyRows) int8(v int64) {
	c.buf = binary.BigEndian.AppendUint32(c.buf, 8)
	c.buf = binary.BigEndian.AppendUint64(c.buf, uint64(v))
}

func (c *copyRows) int4(v int32) {
	c.buf = binary.BigEndian.AppendUint32(c.buf, 4)
	c.buf = binary.BigEndian.AppendUint32(c.buf, uint32(v))
}

func (c *copyRows) int2(v int16) {
	c.buf = binary.BigEndian.AppendUint32(c.buf, 2)
	c.buf = binary.BigEndian.AppendUint16(c.buf, uint16(v))
}

func (c *copyRows) bool(v bool) {
	b := byte(0)
	if v {
		b = 1
	}
	c.buf = append(binary.BigEndian.AppendUint32(c.buf, 1), b)
}

// text is a text value; Postgres checks that it is valid in the database's encoding.
func (c *copyRows) text(s string) {
	c.buf = binary.BigEndian.AppendUint32(c.buf, uint32(len(s)))
	c.buf = append(c.buf, s...)
}

// optInt8 and optText are NULL for a nil pointer.
func (c *copyRows) optInt8(v *int64) {
	if v == nil {
		c.null()
		return
	}
	c.int8(*v)
}

func (c *copyRows) optText(s *string) {
	if s == nil {
		c.null()
		return
	}
	c.text(*s)
}

// int8Array and textArray are one-dimensional arrays without NULLs: the number of dimensions,
// a has-NULLs flag, the element type, the length and lower bound, then the elements.
func (c *copyRows) int8Array(vs []int64) {
	c.buf = binary.BigEndian.AppendUint32(c.buf, uint32(arrayHeader(len(vs))+len(vs)*12))
	c.buf = appendArrayHeader(c.buf, pgtype.Int8OID, len(vs))
	for _, v := range vs {
		c.int8(v)
	}
}

func (c *copyRows) textArray(vs []string) {
	size := arrayHeader(len(vs))
	for _, v := range vs {
		size += 4 + len(v)
	}
	c.buf = binary.BigEndian.AppendUint32(c.buf, uint32(size))
	c.buf = appendArrayHeader(c.buf, pgtype.TextOID, len(vs))
	for _, v := range vs {
		c.text(v)
	}
}

// arrayHeader is the size of a one-dimensional array's header (an empty array has no dimension).
func arrayHeader(n int) int {
	if n == 0 {
		return 12
	}
	return 20
}

func appendArrayHeader(b []byte, elem uint32, n int) []byte {
	dims := uint32(1)
	if n == 0 {
		dims = 0
	}
	b = binary.BigEndian.AppendUint32(b, dims)
	b = binary.BigEndian.AppendUint32(b, 0) // no NULLs
	b = binary.BigEndian.AppendUint32(b, elem)
	if n > 0 {
		b = binary.BigEndian.AppendUint32(b, uint32(n))
		b = binary.BigEndian.AppendUint32(b, 1) // lower bound
	}
	return b
}

// copyIn COPYs rows into table's columns inside tx.
func copyIn(ctx context.Context, tx pgx.Tx, table string, cols []string, rows *copyRows) error {
	if rows.rows == 0 {
		return nil
	}
	quoted := make([]string, len(cols))
	for i, col := range cols {
		quoted[i] = pgx.Identifier{col}.Sanitize()
	}
	rows.buf = binary.BigEndian.AppendUint16(rows.buf, math.MaxUint16) // trailer: -1
	sql := "COPY " + pgx.Identifier{table}.Sanitize() + " (" + strings.Join(quoted, ", ") + ") FROM STDIN (FORMAT binary)"
	tag, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(rows.buf), sql)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != rows.rows {
		return fmt.Errorf("copy into %s: %d rows written of %d", table, tag.RowsAffected(), rows.rows)
	}
	return nil
}
