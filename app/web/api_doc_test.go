package web_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/lapsehq/lapse/app/store"
)

var (
	// A row of API.md's route table: | GET | /api/v1/policy | … |
	docTableRoute = regexp.MustCompile(`(?m)^\|\s*(GET|POST|PUT|PATCH|DELETE)\s*\|\s*(/api/v1\S*)\s*\|`)
	// A route section heading: ## GET /api/v1/policy
	docHeadingRoute = regexp.MustCompile(`(?m)^##\s+(GET|POST|PUT|PATCH|DELETE)\s+(/api/v1\S*)\s*$`)
	docPathParam    = regexp.MustCompile(`\{(\w+)\}`)
)

// TestAPIDoc keeps API.md true: its route table and its route sections
// list exactly the /api/v1 routes the server registers.
func TestAPIDoc(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("API.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	parse := func(re *regexp.Regexp) []string {
		var out []string
		for _, m := range re.FindAllStringSubmatch(doc, -1) {
			out = append(out, m[1]+" "+docPathParam.ReplaceAllString(m[2], ":$1"))
		}
		slices.Sort(out)
		return out
	}
	table, sections := parse(docTableRoute), parse(docHeadingRoute)

	e := newAPIEnv(t, store.SQLite)
	engine, ok := e.lapse.Config.Handler.(*gin.Engine)
	if !ok {
		t.Fatalf("the handler is a %T, not a *gin.Engine", e.lapse.Config.Handler)
	}
	var registered []string
	for _, r := range engine.Routes() {
		if strings.HasPrefix(r.Path, "/api/v1") {
			registered = append(registered, r.Method+" "+r.Path)
		}
	}
	slices.Sort(registered)
	if len(registered) < 15 {
		t.Fatalf("only %d /api/v1 routes registered: %v", len(registered), registered)
	}
	for name, got := range map[string][]string{"route table": table, "route sections": sections} {
		if d := diff(registered, got); d != "" {
			t.Errorf("API.md %s differ from the registered routes (-registered +documented):\n%s", name, d)
		}
	}
	if dups := slices.Compact(slices.Clone(sections)); len(dups) != len(sections) {
		t.Error("API.md documents a route twice")
	}
}

// diff lists the lines only in want (-) and only in got (+).
func diff(want, got []string) string {
	var b strings.Builder
	for _, w := range want {
		if !slices.Contains(got, w) {
			b.WriteString("- " + w + "\n")
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			b.WriteString("+ " + g + "\n")
		}
	}
	return b.String()
}
