package store

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Every value in netmon's SQL travels as a parameter ($1, @run): nothing a content node,
// discovery or a message says is ever spliced into a statement. Statements are constants; the
// few built at run time are listed here with why what they splice in is safe. A new place that
// builds SQL text fails TestSQLBuiltOnlyFromConstants until it is reviewed and listed (or
// rewritten with parameters).
var sqlBuilders = map[string]string{
	"load.go createPartitions": "partition DDL: table names from the constant list `partitioned`, the run id an int64 " +
		"formatted with %d (DDL takes no parameters)",
	"parts.go readPartUsers": "reads the run's users partition by name, from partitionName (a constant table name and " +
		"an int64 run id) quoted with pgx.Identifier.Sanitize; the part is the parameter $1",
	"parts.go readPartAnswers": "reads the run's clock_results partition by name, from partitionName (a constant table name " +
		"and an int64 run id) quoted with pgx.Identifier.Sanitize; the part is the parameter $1",
	"cid.go buildCIDStatus": "reads the run's cids, users and cid_checks partitions by name, from partitionName (a " +
		"constant table name and an int64 run id) quoted with pgx.Identifier.Sanitize; the run id is the parameter $1",
	"load.go analyze": "ANALYZE of partition names from partitionName (a constant table name and an int64 run id), " +
		"quoted with pgx.Identifier.Sanitize (ANALYZE takes no parameters)",
	"load.go progress": "appends the constant \" FOR UPDATE\"",
	"runs.go DeleteRun": "DETACH and DROP of partitions: table names from `partitioned`, partition names from " +
		"partitionName (an int64 run id)",
	"admin.go CreateDatabase": "CREATE and DROP DATABASE: the name quoted with pgx.Identifier.Sanitize, and it comes " +
		"from the operator's configuration (DDL takes no parameters)",
	"discovery.go Fork": "SET TRANSACTION SNAPSHOT of the id pg_export_snapshot returned, checked against snapshotID " +
		"(hexadecimal numbers and dashes; SET takes no parameters)",
	"discovery_cid.go CIDCount": "cidCountSQL with a filter from cidFilter, which picks one of two constant fragments",
	"discovery_cid.go CIDs": "cidSnapshotSQL with cidFilter's filter, as CIDCount, plus the constant sampleBelow; " +
		"the threshold is the parameter $1",
	"copy.go copyIn": "COPY into a table and columns named by the store's constants (partitionName of an int64 " +
		"run id), each quoted with pgx.Identifier.Sanitize; the rows travel as COPY data",
	"metrics.go valuesList":      "a VALUES list of the outcome names (constants from the protobuf enum), quotes doubled",
	"metrics.go (package scope)": "the metric catalogue: constant SQL fragments joined at init",
	"storage_metrics.go (package scope)": "the storage metric catalogue: constant SQL fragments (and interval's, of " +
		"constant column names) joined at init",
}

// sqlKeyword spots SQL in a string literal.
var sqlKeyword = regexp.MustCompile(`\b(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|FROM|WHERE|VALUES|FOR UPDATE|AND|PARTITION|ANALYZE|COPY|SET)\b`)

// TestSQLBuiltOnlyFromConstants finds, in the store package's code, every place that builds a
// string from SQL text at run time (fmt.Sprintf and friends, +, strings.Builder) and requires it
// to be one of the reviewed sqlBuilders.
func TestSQLBuiltOnlyFromConstants(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	parsed := map[string]*ast.File{}
	consts := map[string]string{} // package-level string constants and variables initialised by literals
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed[name] = f
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, spec := range gd.Specs {
				vs, ok := spec.(*ast.ValueSpec)
				if !ok {
					continue
				}
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							s, _ := strconv.Unquote(lit.Value)
							consts[n.Name] = s
						}
					}
				}
			}
		}
	}
	isSQL := func(e ast.Expr) bool {
		switch x := e.(type) {
		case *ast.BasicLit:
			s, _ := strconv.Unquote(x.Value)
			return x.Kind == token.STRING && sqlKeyword.MatchString(s)
		case *ast.Ident:
			return sqlKeyword.MatchString(consts[x.Name])
		}
		return false
	}
	found := map[string]int{}
	for name, f := range parsed {
		var enclosing string
		var visit func(n ast.Node) bool
		visit = func(n ast.Node) bool {
			site := ""
			switch x := n.(type) {
			case *ast.CallExpr:
				if sel, ok := x.Fun.(*ast.SelectorExpr); ok && len(x.Args) > 0 {
					pkg, _ := sel.X.(*ast.Ident)
					switch {
					case pkg != nil && pkg.Name == "fmt" && strings.HasPrefix(sel.Sel.Name, "Sprint") && isSQL(x.Args[0]):
						site = "fmt." + sel.Sel.Name
					case pkg != nil && pkg.Name == "fmt" && sel.Sel.Name == "Fprintf" && len(x.Args) > 1 && isSQL(x.Args[1]):
						site = "fmt.Fprintf"
					case sel.Sel.Name == "WriteString" && isSQL(x.Args[0]):
						site = "WriteString"
					}
				}
			case *ast.BinaryExpr:
				if x.Op == token.ADD && (isSQL(x.X) || isSQL(x.Y)) && !(isConst(x.X, consts) && isConst(x.Y, consts)) {
					site = "+"
				}
			case *ast.AssignStmt:
				if x.Tok == token.ADD_ASSIGN && len(x.Rhs) == 1 && isSQL(x.Rhs[0]) {
					site = "+="
				}
			}
			if site != "" {
				key := name + " " + enclosing
				found[key]++
				if _, ok := sqlBuilders[key]; !ok {
					t.Errorf("%s: SQL text built with %s in %s: use parameters for values, or review it and add %q to sqlBuilders",
						fset.Position(n.Pos()), site, enclosing, key)
				}
			}
			return true
		}
		for _, d := range f.Decls {
			enclosing = "(package scope)"
			if fd, ok := d.(*ast.FuncDecl); ok {
				enclosing = fd.Name.Name
			}
			ast.Inspect(d, visit)
		}
	}
	var keys []string
	for k := range sqlBuilders {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if found[k] == 0 {
			t.Logf("sqlBuilders lists %q, which builds no SQL any more", k)
		} else {
			t.Logf("%s (%d): %s", k, found[k], sqlBuilders[k])
		}
	}
}

// isConst reports whether e is a string literal or a package-level string constant.
func isConst(e ast.Expr, consts map[string]string) bool {
	switch x := e.(type) {
	case *ast.BasicLit:
		return x.Kind == token.STRING
	case *ast.Ident:
		_, ok := consts[x.Name]
		return ok
	case *ast.BinaryExpr:
		return x.Op == token.ADD && isConst(x.X, consts) && isConst(x.Y, consts)
	}
	return false
}
