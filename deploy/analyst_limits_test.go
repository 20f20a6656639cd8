package deploy_test

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The analyst account keeps its limits (deploy/local/services.sh, profile
// and quota ioc_analyst), and docs/clickhouse.md, where analysts are sent
// for what to query, states those limits as configured, names the error
// each one raises and says how to narrow a query that hits it (issue 19).
func TestAnalystLimitsDocumentedWithNarrowing(t *testing.T) {
	sh, err := os.ReadFile("local/services.sh")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../docs/clickhouse.md")
	if err != nil {
		t.Fatal(err)
	}
	block := func(s, tag string, nth int) string {
		parts := strings.Split(s, "<"+tag+">")
		if len(parts) <= nth {
			t.Fatalf("services.sh: no <%s> block #%d", tag, nth)
		}
		body, _, _ := strings.Cut(parts[nth], "</"+tag+">")
		return body
	}
	// The first <ioc_analyst> is the profile, the second the user, the third the quota.
	profile, quota := block(string(sh), "ioc_analyst", 1), block(string(sh), "ioc_analyst", 3)
	setting := func(body, name string) int64 {
		m := regexp.MustCompile(`<` + name + `>(?:\$\{\w+:-)?(\d+)\}?</` + name + `>`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("services.sh: the analyst account has no %s limit", name)
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		if n == 0 {
			t.Errorf("services.sh: the analyst's %s is 0 (unlimited)", name)
		}
		return n
	}
	exec, mem, rows := setting(profile, "max_execution_time"), setting(profile, "max_memory_usage"), setting(profile, "max_result_rows")
	readRows := setting(quota, "read_rows")
	if !strings.Contains(profile, "<readonly>1</readonly>") {
		t.Error("services.sh: the analyst profile is not readonly: analysts could lift their own limits")
	}
	_, limits, ok := strings.Cut(string(doc), "**Limits of the analyst account**")
	if !ok {
		t.Fatal("docs/clickhouse.md: no \"Limits of the analyst account\" paragraph")
	}
	limits, _, _ = strings.Cut(limits, "\n## ")
	limits = strings.Join(strings.Fields(limits), " ")
	for _, want := range []string{
		fmt.Sprintf("%d s per query", exec),
		fmt.Sprintf("%d GB of memory", mem/1_000_000_000),
		thousands(rows) + " result rows",
		fmt.Sprintf("%d billion rows read", readRows/1_000_000_000),
		"TIMEOUT_EXCEEDED", "MEMORY_LIMIT_EXCEEDED", "TOO_MANY_ROWS_OR_BYTES", "QUOTA_EXPIRED",
		"bound `observed_at`", "filter on the key", "aggregate in ClickHouse", "split a long period",
	} {
		if !strings.Contains(limits, want) {
			t.Errorf("docs/clickhouse.md, limits of the analyst account: %q missing (the configured limit, its error, or how to narrow)", want)
		}
	}
}

// thousands writes n with a comma every three digits, as the docs do.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
