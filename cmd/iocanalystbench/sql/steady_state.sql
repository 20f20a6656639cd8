-- The analyst view's watermark and the newest reading of the current
-- month's merged base (its largest part): the grouped half skips the base
-- only when the first is after the second.
SELECT
    (SELECT min(grouped_from) FROM {{raw "analyst_watermark"}}) AS watermark,
    (SELECT toDateTime(max(max_time)) FROM system.parts
     WHERE database = '{{.DB}}' AND table = 'sensor_readings_raw' AND active AND level > 0) AS base_max
