package deploy_test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestGrafanaShowsDelivery checks that the pipeline dashboard shows what
// issue 5 asks operators to see on every role: received, accepted,
// deduplicated, dead-lettered (by reason), inserted, consumer lag, batch
// sizes and insert latency as quantiles, each with a metric the code
// declares (TestGrafanaDashboard checks that every queried name exists).
func TestGrafanaShowsDelivery(t *testing.T) {
	known := exportedMetrics(t)
	b, err := os.ReadFile(repoPath("deploy/grafana/ioc-pipeline.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("ioc-pipeline.json: %v", err)
	}
	// shown maps a metric to the expressions that query it.
	shown := map[string][]string{}
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			for _, m := range promMetrics(q.Expr) {
				shown[m] = append(shown[m], q.Expr)
			}
		}
	}
	for _, c := range []struct {
		what, metric, must string // must: a fragment one of its expressions contains
	}{
		{"received", "ioc_ingest_mqtt_received_total", "rate("},
		{"accepted", "ioc_ingest_readings_total", "rate("},
		{"consumed", "ioc_stream_records_consumed_total", "rate("},
		{"deduplicated", "ioc_stream_duplicate_readings_total", "rate("},
		{"dead-lettered by ingest, by reason", "ioc_ingest_dead_letters_total", "by (reason)"},
		{"dead-lettered by the HTTP endpoint, by reason", "ioc_ingest_http_dead_letters_total", "by (reason)"},
		{"dead-lettered by stream, by reason", "ioc_stream_invalid_records_total", "by (reason)"},
		{"dead-lettered by feeds, by reason", "ioc_feeds_invalid_records_total", "by (reason)"},
		{"inserted", "ioc_stream_rows_written_total", "rate("},
		{"inserted administrative events", "ioc_feeds_rows_written_total", "rate("},
		{"consumer lag", "ioc_stream_consumer_lag", "ioc_stream_consumer_lag"},
		{"consumer lag by topic", "ioc_stream_consumer_lag_records", "by (topic)"},
		{"feeds consumer lag by topic", "ioc_feeds_consumer_lag", "by (topic)"},
		{"batch sizes", "ioc_stream_batch_rows_bucket", "histogram_quantile("},
		{"insert latency", "ioc_stream_insert_seconds_bucket", "histogram_quantile("},
		{"feed insert latency", "ioc_feeds_insert_seconds_bucket", "histogram_quantile("},
	} {
		if !known[c.metric] {
			t.Errorf("%s: the code declares no metric %s", c.what, c.metric)
			continue
		}
		exprs := shown[c.metric]
		if !slices.ContainsFunc(exprs, func(e string) bool { return strings.Contains(e, c.must) }) {
			t.Errorf("%s: no panel queries %s with %q (found %q)", c.what, c.metric, c.must, exprs)
		}
	}
}
