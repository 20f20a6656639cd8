-- The analyst view's watermark (130_analyst_watermark.sql), in ms: readings
-- observed before it are read without grouping. No row reads as 0.
SELECT toInt64(toUInt32(min(grouped_from))) * 1000 FROM {{.DB}}.analyst_watermark
