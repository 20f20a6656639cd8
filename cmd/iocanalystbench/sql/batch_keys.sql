-- The keys of Pct percent of readings Off to Off+N as sql/generate.sql
-- makes them (and sql/redeliver.sql picks its copies): what a stream
-- batch carrying them would look up.
SELECT 'p1', concat('dev-', toString(i % 2000)),
    arrayElement(['pm25', 'pm10', 'temp', 'humidity', 'noise'], intDiv(i, 2000) % 5 + 1), toInt64(ts * 1000)
FROM (SELECT number + {{.Off}} AS i, {{.First}} + intDiv(i, 10000) * {{.Step}} AS ts FROM system.numbers LIMIT {{.N}})
WHERE cityHash64(hex(cityHash64(i))) % 100 < {{.Pct}}
