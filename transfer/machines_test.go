package transfer

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"
)

// transferMachineFiles are the files that hold the transfer logic as pure
// state machines (issue #21): no I/O, no clock, no goroutines. Add each
// new machine's file here.
var transferMachineFiles = []string{
	"vmentry.go",
	"blindmachine.go",
	"blindwords.go",
	"blindfallback.go",
	"attendedmachine.go",
	"attendedwords.go",
	"attendedcompletion.go",
	"basicmachine.go",
	"basicwords.go",
	"handoverdecision.go",
	"adoptionplan.go",
	"referprobedecision.go",
	"talking.go",
	"vmfinish.go",
	"consultmachine.go",
	"consultwords.go",
}

// forbiddenInMachines are imports a machine file must not have: what it
// needs from outside reaches it as inputs, what it wants done leaves it
// as commands. ("time" is allowed for time.Duration alone.)
var forbiddenInMachines = []string{
	"context", "net", "os", "sync", "go.uber.org/zap", "github.com/transferd/transferd/ari",
}

func TestMachinesArePure(t *testing.T) {
	for _, name := range transferMachineFiles {
		t.Run(name, func(t *testing.T) {
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, name, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, msg := range impurities(fset, f) {
				t.Error(msg)
			}
		})
	}
}

// impurities lists what makes a machine file do I/O, read the clock or
// start goroutines.
func impurities(fset *token.FileSet, f *ast.File) []string {
	var found []string
	timeName := ""
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		for _, bad := range forbiddenInMachines {
			if path == bad || strings.HasPrefix(path, bad+"/") {
				found = append(found, fmt.Sprintf("%s: imports %q", fset.Position(imp.Pos()), path))
			}
		}
		if path == "time" {
			timeName = "time"
			if imp.Name != nil {
				timeName = imp.Name.Name
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			found = append(found, fmt.Sprintf("%s: starts a goroutine", fset.Position(n.Pos())))
		case *ast.ChanType, *ast.SelectStmt:
			found = append(found, fmt.Sprintf("%s: uses a channel", fset.Position(n.Pos())))
		case *ast.Ident:
			// The owner's world: Asterisk (whose methods are requests),
			// the engine, a call (its owner, which holds the mailbox).
			switch n.Name {
			case "Asterisk", "Engine", "call":
				found = append(found, fmt.Sprintf("%s: refers to %s (the owner's, not a machine's)", fset.Position(n.Pos()), n.Name))
			}
		case *ast.SelectorExpr:
			if x, ok := n.X.(*ast.Ident); ok && timeName != "" && x.Name == timeName && n.Sel.Name != "Duration" {
				found = append(found, fmt.Sprintf("%s: uses time.%s (only time.Duration is allowed)", fset.Position(n.Pos()), n.Sel.Name))
			}
		}
		return true
	})
	return found
}

// TestImpuritiesFindsWhatIsForbidden checks the purity check on a file
// that breaks every rule.
func TestImpuritiesFindsWhatIsForbidden(t *testing.T) {
	const src = `package transfer

import (
	"context"
	"net/http"
	clock "time"

	"go.uber.org/zap"
	"github.com/transferd/transferd/ari"
)

func (m vmEntry) bad(ctx context.Context, c *call, a Asterisk) clock.Duration {
	go func() {}()
	ch := make(chan int)
	_ = ch
	_ = clock.Now()
	_ = clock.AfterFunc
	return clock.Second
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "bad.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := impurities(fset, f)
	for _, want := range []string{`"context"`, `"net/http"`, `"go.uber.org/zap"`, `"github.com/transferd/transferd/ari"`,
		"goroutine", "time.Now", "time.AfterFunc", "time.Second", "refers to call", "refers to Asterisk", "channel"} {
		if !strings.Contains(strings.Join(got, "\n"), want) {
			t.Errorf("impurities did not report %s; reported:\n%s", want, strings.Join(got, "\n"))
		}
	}
	if len(got) != 11 {
		t.Errorf("impurities reported %d things, want 11:\n%s", len(got), strings.Join(got, "\n"))
	}
}
