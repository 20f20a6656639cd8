-- Readings Off to Off+N: reading i is device i % 2000, metric i / 2000 % 5,
-- observed at First + (i / 10,000) * Step (one slot: every device and
-- metric once).
INSERT INTO {{raw "sensor_readings_raw"}} (event_id, partner, device_id, metric, value_kind, value, unit, observed_at, observed_ms, received_at, received_ms, time_from_source, ward, registered, kafka_partition, kafka_offset)
SELECT hex(cityHash64(i)), 'p1', concat('dev-', toString(i % 2000)),
    arrayElement(['pm25', 'pm10', 'temp', 'humidity', 'noise'], intDiv(i, 2000) % 5 + 1), 'number',
    (i % 997) / 10.0, 'u', toDateTime(ts), ts * 1000, toDateTime(ts + 1), ts * 1000 + 1000, 1,
    arrayElement(['ward-a', 'ward-b', 'ward-c', 'ward-d'], i % 2000 % 4 + 1), 1, 0, i
FROM (SELECT number + {{.Off}} AS i, {{.First}} + intDiv(i, 10000) * {{.Step}} AS ts FROM system.numbers LIMIT {{.N}})
