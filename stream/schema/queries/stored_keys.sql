-- Which readings of a batch a writer is about to insert are already stored
-- (watermark.go Lowerer.Stored): the keys of the batch observed before the
-- analyst view's watermark arrive as the external table batch_keys; the
-- time bounds let the partition key and the primary key prune.
SELECT partner, device_id, metric, observed_ms
FROM {{.DB}}.sensor_readings_raw
WHERE observed_at >= toDateTime({{.FromSec}}) AND observed_at <= toDateTime({{.ToSec}})
  AND (partner, device_id, metric, observed_ms) IN (SELECT partner, device_id, metric, observed_ms FROM batch_keys)
