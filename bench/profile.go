package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// StartProfiles takes a CPU profile of every role over the coming window,
// then a heap profile, into dir (the roles run with IOC_PPROF=1). It
// returns at once; the files appear when the window ends.
func StartProfiles(ctx context.Context, pl *Pipeline, dir string, window time.Duration, log *slog.Logger) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Warn("profiles", "err", err)
		return
	}
	secs := max(1, int((window - 2*time.Second).Seconds()))
	stamp := time.Now().Format("20060102-150405")
	for _, r := range pl.Roles {
		go func() {
			for _, kind := range []string{fmt.Sprintf("profile?seconds=%d", secs), "heap", "allocs"} {
				name := map[bool]string{true: "cpu", false: kind}[kind[0] == 'p']
				path := filepath.Join(dir, fmt.Sprintf("%s-%s-%s.pprof", stamp, r.Name, name))
				if err := fetch(ctx, "http://"+r.Ops+"/debug/pprof/"+kind, path); err != nil {
					log.Warn("profile", "role", r.Name, "kind", name, "err", err)
					return
				}
				log.Info("profile saved", "path", path)
			}
		}()
	}
}

func fetch(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, res.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
