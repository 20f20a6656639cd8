package dashboard

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/sonla-ioc/ioc/internal/auth"
)

// webPages are every page's files: the dashboard's (served at /), its
// admin pages (served at /admin/…, notifications.go) and the sign-in and
// administration pages (internal/auth, served at /auth/static/).
func webPages(t *testing.T) map[string]fs.FS {
	t.Helper()
	dash, err := fs.Sub(webFS, "web")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := fs.Sub(adminFS, "admin")
	if err != nil {
		t.Fatal(err)
	}
	return map[string]fs.FS{"dashboard/web": dash, "dashboard/admin": admin, "internal/auth/web": auth.WebFiles()}
}

// everyPage are the pages the strings test must find (a page added later
// is found on its own; these may not silently drop out of the scan).
var everyPage = []string{
	"dashboard/web/index.html", "dashboard/web/kpi.html", "dashboard/web/device.html", "dashboard/web/service-index.html", "dashboard/admin/notifications.html",
	"internal/auth/web/login.html", "internal/auth/web/admin.html",
}

// translations reads lib/strings.js: the JSON after "export default".
func translations(t *testing.T) map[string]map[string]map[string]string {
	t.Helper()
	b, err := fs.ReadFile(webFS, "web/lib/strings.js")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\nexport default ")
	if i < 0 {
		t.Fatal("lib/strings.js has no line that starts with `export default`")
	}
	body := strings.TrimSuffix(strings.TrimSpace(s[i+len("\nexport default "):]), ";")
	var table map[string]map[string]map[string]string
	if err := json.Unmarshal([]byte(body), &table); err != nil {
		t.Fatalf("lib/strings.js after `export default` is not JSON (double quotes, no trailing commas, no comments): %v", err)
	}
	return table
}

var (
	scriptTag  = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	srcAttr    = regexp.MustCompile(`(?i)\bsrc\s*=\s*"([^"]*)"`)
	moduleAttr = regexp.MustCompile(`(?i)\btype\s*=\s*"module"`)
	i18nAttr   = regexp.MustCompile(`\bdata-i18n(?:-([a-z-]+))?="([^"]*)"`)
	tCall      = regexp.MustCompile(`\bt\(\s*'([^']+)'\s*[,)]`)
	// A page's private translations: its own attribute, table or stored choice.
	privateAttr  = regexp.MustCompile(`\sdata-(?:t|ph)="`)
	privateTable = regexp.MustCompile(`\b(?:const|let|var)\s+(?:STRINGS|TEXT)\b`)
	// A text keyed by language in a module ({ vi: 'Tải về', en: 'Download' }).
	langKeyed   = regexp.MustCompile(`\bvi\s*:\s*['"\x60\[]`)
	langStore   = regexp.MustCompile(`localStorage\.(?:get|set)Item\(\s*'[^']*lang`)
	placeholder = regexp.MustCompile(`\{(\w+)\}`)
	// Keys the code builds from a prefix and a value (t('wall.state.' + s)).
	builtKeys = []string{
		"common.lang.vi", "common.lang.en",
		"wall.state.ok", "wall.state.warning", "wall.state.alert", "wall.state.offline", "wall.state.stale", "wall.state.unknown",
		"wall.sev.warning", "wall.sev.alert", "wall.sev.critical",
		"wall.aqi.good", "wall.aqi.moderate", "wall.aqi.poor", "wall.aqi.bad", "wall.aqi.verybad", "wall.aqi.hazardous",
		"admin.role.operator", "admin.role.leadership", "admin.role.analyst", "admin.role.admin",
		"device.conn.connecting", "device.conn.live", "device.conn.retry", "device.conn.forbidden",
		"device.status.online", "device.status.stale", "device.status.offline", "device.status.unknown",
		"device.cause.reading", "device.cause.late", "device.cause.silent", "device.cause.feed_silent", "device.cause.start",
		"device.sev.warning", "device.sev.alert", "device.sev.critical",
		"device.state.open", "device.state.escalated", "device.state.acknowledged", "device.state.resolved",
		"device.type.air_quality", "device.type.water_level", "device.type.rainfall", "device.type.traffic", "device.type.streetlight",
		"notifications.notice.open", "notifications.notice.escalated", "notifications.notice.repeat",
		"notifications.notice.acknowledged", "notifications.notice.resolved",
		"notifications.st.sent", "notifications.st.retry", "notifications.st.failed", "notifications.st.dropped",
		"notifications.st.deferred", "notifications.st.cancelled",
		"kpiDrill.by.unit", "kpiDrill.by.field", "kpiDrill.by.main_task", "kpiDrill.by.month",
		"svcIndex.kind.city", "svcIndex.kind.department", "svcIndex.kind.ward", "svcIndex.kind.commune",
		"svcIndex.reason.late", "svcIndex.reason.not_digitised", "svcIndex.reason.not_paid_online", "svcIndex.reason.disliked",
		"svcIndex.reason.not_synced", "svcIndex.reason.no_e_result", "svcIndex.reason.dissatisfied", "svcIndex.reason.feedback_late",
		"svcIndex.indicator", "svcIndex.numerator", "svcIndex.denominator", "svcIndex.rate",
		"svcIndex.points", "svcIndex.rule", "svcIndex.dossier", "svcIndex.procedure", "svcIndex.reasonCol", "svcIndex.received",
		"svcIndex.due",
	}
)

// Every page is made of ES modules (lib/i18n.js, lib/ws.js, one module per
// panel): no classic script of ours and no inline script (the strict CSP
// refuses it), only the vendored uPlot loads as a classic script. Every
// key a page or a module uses is in the translation table, in Vietnamese
// and in English, with the same {placeholders} in both.
func TestPagesAreModulesAndEveryStringIsTranslated(t *testing.T) {
	table := translations(t)
	used := map[string]string{} // key -> where
	for _, k := range builtKeys {
		used[k] = "built in code"
	}
	for _, k := range auth.LoginMessageKeys() {
		used[k] = "internal/auth loginMessages"
	}
	pages := map[string]bool{}
	for root, fsys := range webPages(t) {
		err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasPrefix(path, "vendor/") {
				return err
			}
			b, err := fs.ReadFile(fsys, path)
			if err != nil {
				return err
			}
			name := root + "/" + path
			switch {
			case strings.HasSuffix(path, ".html"):
				pages[name] = true
				if m := privateAttr.FindString(string(b)); m != "" {
					t.Errorf("%s: a private translation attribute (%s…); use data-i18n with a key of lib/strings.js", name, strings.TrimSpace(m))
				}
				for _, m := range scriptTag.FindAllStringSubmatch(string(b), -1) {
					src := srcAttr.FindStringSubmatch(m[1])
					switch {
					case src == nil || strings.TrimSpace(m[2]) != "":
						t.Errorf("%s: an inline script (the CSP refuses it; use a module file): %.80s", name, m[0])
					case strings.Contains(src[1], "vendor/"):
					case !moduleAttr.MatchString(m[1]):
						t.Errorf("%s: %s is a classic script; load it with <script type=\"module\">", name, src[1])
					}
				}
				for _, m := range i18nAttr.FindAllStringSubmatch(string(b), -1) {
					if m[1] == "arg" || strings.Contains(m[2], "{{") {
						continue // a value, or a key the server fills in (loginMessages)
					}
					used[m[2]] = name
				}
			case strings.HasSuffix(path, ".js"):
				if strings.Contains(string(b), "'use strict'") {
					t.Errorf("%s: a classic script ('use strict'); modules are strict already", name)
				}
				if m := privateTable.FindString(string(b)); m != "" {
					t.Errorf("%s: a private table (%s); put its strings in lib/strings.js", name, m)
				}
				if path != "lib/strings.js" && langKeyed.MatchString(string(b)) {
					t.Errorf("%s: a text keyed by language (%s…); put it in lib/strings.js and use t()", name, langKeyed.FindString(string(b)))
				}
				if path != "lib/i18n.js" && langStore.MatchString(string(b)) {
					t.Errorf("%s: stores the language itself; lib/i18n.js remembers it (one choice per browser)", name)
				}
				for _, line := range strings.Split(string(b), "\n") {
					if strings.HasPrefix(strings.TrimSpace(line), "//") {
						continue
					}
					for _, m := range tCall.FindAllStringSubmatch(line, -1) {
						used[m[1]] = name
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range everyPage {
		if !pages[p] {
			t.Errorf("the scan did not find %s (found %v)", p, pages)
		}
	}
	keys := make([]string, 0, len(used))
	for k := range used {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sec, key, ok := strings.Cut(k, ".")
		e := table[sec][key]
		if !ok || e == nil {
			t.Errorf("%s uses %q: not in lib/strings.js", used[k], k)
			continue
		}
		for _, l := range []string{"vi", "en"} {
			if strings.TrimSpace(e[l]) == "" {
				t.Errorf("%q (used by %s) has no %q text in lib/strings.js", k, used[k], l)
			}
		}
	}
	for sec, entries := range table {
		for key, e := range entries {
			vi, en := placeholders(e["vi"]), placeholders(e["en"])
			if !slices.Equal(vi, en) {
				t.Errorf("%s.%s: placeholders %v in Vietnamese, %v in English", sec, key, vi, en)
			}
			for l := range e {
				if l != "vi" && l != "en" && l != "vi.one" && l != "en.one" {
					t.Errorf("%s.%s: unknown language %q (vi, en, vi.one, en.one)", sec, key, l)
				}
			}
		}
	}
}

func placeholders(s string) []string {
	var out []string
	for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// Module scripts need a JavaScript MIME type (the server also sends
// nosniff); the shared modules load without a session, because the
// sign-in page uses them, while the wall's own modules stay behind it.
func TestModulesAreServedAsJavaScript(t *testing.T) {
	_, srv, _ := kioskServerBuffers(t, WallConfig{}, 1, false) // closed: no dev_open
	for _, c := range []struct {
		path string
		code int
	}{
		{"/lib/i18n.js", 200}, {"/lib/strings.js", 200}, {"/lib/ws.js", 200}, {"/lib/dom.js", 200},
		{"/auth/static/login.js", 200}, {"/auth/static/admin.js", 200},
		{"/app.js", http.StatusUnauthorized}, {"/wall/map.js", http.StatusUnauthorized},
		{"/device.js", http.StatusUnauthorized}, {"/admin/notifications.js", http.StatusUnauthorized},
	} {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		ct := resp.Header.Get("Content-Type")
		if resp.StatusCode != c.code && !(c.code == http.StatusUnauthorized && resp.StatusCode == http.StatusFound) {
			t.Errorf("GET %s without a session: %d, want %d", c.path, resp.StatusCode, c.code)
		}
		if c.code == 200 && !strings.HasPrefix(ct, "text/javascript") {
			t.Errorf("GET %s: Content-Type %q, want text/javascript", c.path, ct)
		}
	}
}
