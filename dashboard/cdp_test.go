package dashboard

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// browser is headless Chromium driven over the DevTools protocol: enough to
// load a page, evaluate JavaScript, collect console errors and take
// screenshots, with no Node.js at test time.
type browser struct {
	t      *testing.T
	cmd    *exec.Cmd
	conn   *websocket.Conn
	mu     sync.Mutex
	nextID int
	waits  map[int]chan json.RawMessage
	errs   []string // console errors, exceptions, CSP violations
	logs   []string
}

func startBrowser(t *testing.T, width, height int) *browser {
	t.Helper()
	bin := chromium(t)
	dir, err := os.MkdirTemp("", "ioc-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+dir,
		"--remote-debugging-port=0", fmt.Sprintf("--window-size=%d,%d", width, height), "--hide-scrollbars", "about:blank")
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting chromium: %v", err)
	}
	b := &browser{t: t, cmd: cmd, waits: map[int]chan json.RawMessage{}}
	t.Cleanup(func() {
		if b.conn != nil {
			b.conn.Close()
		}
		cancel()
		_ = cmd.Wait()
		_ = os.RemoveAll(dir) // best effort: the browser's helpers may still be writing
	})
	var port string
	testpoll.Eventually(t, 30*time.Second, "chromium's DevTools port", func() (bool, string) {
		f, err := os.Open(filepath.Join(dir, "DevToolsActivePort"))
		if err != nil {
			return false, err.Error()
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		if sc.Scan() {
			port = strings.TrimSpace(sc.Text())
		}
		return port != "", "DevToolsActivePort empty"
	})
	var targets []struct {
		Type string `json:"type"`
		URL  string `json:"webSocketDebuggerUrl"`
	}
	testpoll.Eventually(t, 10*time.Second, "chromium's page target", func() (bool, string) {
		resp, err := http.Get("http://127.0.0.1:" + port + "/json/list")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(&targets)
		return len(targets) > 0, "no target"
	})
	for _, tg := range targets {
		if tg.Type == "page" {
			conn, _, err := websocket.DefaultDialer.Dial(tg.URL, nil)
			if err != nil {
				t.Fatalf("connecting to chromium's page: %v", err)
			}
			b.conn = conn
		}
	}
	if b.conn == nil {
		t.Fatal("chromium has no page target")
	}
	go b.read()
	for _, m := range []string{"Runtime.enable", "Log.enable", "Page.enable"} {
		b.call(m, nil)
	}
	b.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false})
	return b
}

func (b *browser) read() {
	for {
		var m struct {
			ID     int             `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
			Result json.RawMessage `json:"result"`
			Error  json.RawMessage `json:"error"`
		}
		if err := b.conn.ReadJSON(&m); err != nil {
			return
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch := b.waits[m.ID]; ch != nil {
				if m.Error != nil {
					ch <- json.RawMessage(`{"__error":` + string(m.Error) + `}`)
				} else {
					ch <- m.Result
				}
				delete(b.waits, m.ID)
			}
		}
		switch m.Method {
		case "Runtime.exceptionThrown":
			b.errs = append(b.errs, "exception: "+string(m.Params))
		case "Runtime.consoleAPICalled":
			var p struct {
				Type string `json:"type"`
				Args []struct {
					Value any `json:"value"`
				} `json:"args"`
			}
			_ = json.Unmarshal(m.Params, &p)
			line := p.Type + ":"
			for _, a := range p.Args {
				line += fmt.Sprint(" ", a.Value)
			}
			b.logs = append(b.logs, line)
			if p.Type == "error" {
				b.errs = append(b.errs, "console "+line)
			}
		case "Log.entryAdded":
			var p struct {
				Entry struct {
					Level, Text, URL string
				} `json:"entry"`
			}
			_ = json.Unmarshal(m.Params, &p)
			// A refused websocket during a deliberate server restart is
			// expected; anything else at error level is a defect.
			// The unit-level test has no ClickHouse: /api/history answers 503.
			if p.Entry.Level == "error" && !strings.Contains(p.Entry.Text, "WebSocket") && !strings.Contains(p.Entry.URL, "/ws") &&
				!strings.Contains(p.Entry.URL, "/api/history") {
				b.errs = append(b.errs, "log: "+p.Entry.Text+" "+p.Entry.URL)
			}
		}
		b.mu.Unlock()
	}
}

func (b *browser) call(method string, params any) json.RawMessage {
	b.t.Helper()
	r, err := b.try(method, params)
	if err != nil {
		b.t.Fatal(err)
	}
	return r
}

// try is call that hands back Chromium's error instead of failing the test.
func (b *browser) try(method string, params any) (json.RawMessage, error) {
	b.t.Helper()
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan json.RawMessage, 1)
	b.waits[id] = ch
	b.mu.Unlock()
	if params == nil {
		params = map[string]any{}
	}
	if err := b.conn.WriteJSON(map[string]any{"id": id, "method": method, "params": params}); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case r := <-ch:
		if strings.HasPrefix(string(r), `{"__error"`) {
			return nil, fmt.Errorf("%s: %s", method, r)
		}
		return r, nil
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("%s: no answer from chromium in 30s", method)
	}
}

// navigating says whether err is Chromium's answer to an evaluation that
// ran while the page was being replaced (a click on a link, a reload).
func navigating(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "navigated or closed") || strings.Contains(err.Error(), "Cannot find context") ||
		strings.Contains(err.Error(), "context was destroyed"))
}

func (b *browser) navigate(url string) { b.call("Page.navigate", map[string]any{"url": url}) }

// eval runs JavaScript in the page and decodes its (JSON-able) result.
func (b *browser) eval(js string, out any) {
	b.t.Helper()
	r := b.call("Runtime.evaluate", map[string]any{"expression": js, "returnByValue": true, "awaitPromise": true})
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception json.RawMessage `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(r, &res); err != nil || res.Exception != nil {
		b.t.Fatalf("evaluating %s: %v %s", js, err, res.Exception)
	}
	if out != nil && len(res.Result.Value) > 0 {
		if err := json.Unmarshal(res.Result.Value, out); err != nil {
			b.t.Fatalf("evaluating %s: result %s: %v", js, res.Result.Value, err)
		}
	}
}

// waitJS polls a JavaScript condition (returning true) for up to within.
func (b *browser) waitJS(what, js string, within time.Duration) {
	b.t.Helper()
	var last string
	if testpoll.Poll(within, testpoll.Interval, func() bool {
		// The page may be in the middle of a navigation: not yet, ask again.
		r, err := b.try("Runtime.evaluate", map[string]any{"expression": "(() => { try { return !!(" + js + "); } catch (e) { return false; } })()",
			"returnByValue": true, "awaitPromise": true})
		if navigating(err) {
			return false
		}
		if err != nil {
			b.t.Fatal(err)
		}
		var res struct {
			Result struct {
				Value bool `json:"value"`
			} `json:"result"`
		}
		return json.Unmarshal(r, &res) == nil && res.Result.Value
	}) {
		return
	}
	b.eval(`document.body ? document.body.innerText.slice(0, 1500) : ''`, &last)
	b.t.Fatalf("%s: not true within %s (%s)\npage text:\n%s\nconsole:\n%s", what, within, js, last, strings.Join(b.logs, "\n"))
}

func (b *browser) errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}

// screenshot writes a PNG of the viewport.
func (b *browser) screenshot(path string) {
	b.t.Helper()
	var r struct {
		Data string `json:"data"`
	}
	if err := json.Unmarshal(b.call("Page.captureScreenshot", map[string]any{"format": "png"}), &r); err != nil {
		b.t.Fatal(err)
	}
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// chromium finds the browser. Its absence fails the test: a wall that was
// never rendered has not been tested.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("IOC_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: this test renders the wall in a real browser. " +
		"Install it (Debian/Ubuntu: apt-get install chromium) or set IOC_CHROMIUM to a Chromium or Chrome binary.")
	return ""
}

// screenshotDir is $IOC_SCREENSHOT_DIR, or a temporary folder.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("IOC_SCREENSHOT_DIR")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	return abs
}
