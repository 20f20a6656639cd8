-- Administrative feeds: the city's one-stop-shop, e-office, task-tracking,
-- finance, portal, rating and registry systems (docs/admin-events.md), and
-- the rollups behind the leadership's KPI tiles (docs/kpis.md).
--
-- Every *_raw table keeps one row per event version: its ORDER BY key is the
-- event's identity (entity, state, time) plus its version (reported_at, or
-- the event's own time). A replayed or redelivered event has the same key
-- and collapses; a correction (later reported_at) is a new row, and the
-- views keep the newest. The views read the raw tables only and deduplicate
-- with GROUP BY and argMax, so they never show a duplicate and need no
-- FINAL. Times are DateTime('Asia/Ho_Chi_Minh') plus exact epoch ms;
-- ingested_ms is when the pipeline first received the event.

-- Procedure catalogue: every publication (công bố) or withdrawal of a
-- public administrative procedure.
CREATE TABLE IF NOT EXISTS {{.DB}}.procedure_events_raw {{.OnCluster}} (
    event_id         String,
    code             String,
    name             String,
    field            {{lc}},
    level            {{lc}},
    processing_days  UInt16,
    status           Enum8('published' = 1, 'withdrawn' = 2),
    at               DateTime('Asia/Ho_Chi_Minh'),
    at_ms            Int64,
    version          Int64,
    source           {{lc}},
    ingested_ms      Int64,
    kafka_partition  Int32,
    kafka_offset     Int64,
    inserted_at      DateTime DEFAULT now()
) ENGINE = {{engine "ReplacingMergeTree" "procedure_events_raw"}}
ORDER BY (code, at_ms, status, version);
{{if .Cluster}}
CREATE TABLE IF NOT EXISTS {{.DB}}.procedure_events_raw_all {{.OnCluster}}
AS {{.DB}}.procedure_events_raw
ENGINE = {{distributed "procedure_events_raw" "cityHash64(code)"}};
{{end}}
-- Dossier lifecycle at the 13 one-stop shops: one row per state change
-- (received, in_progress, supplement_requested, resolved, returned,
-- withdrawn). Dossier ids are opaque; no personal data is stored.
CREATE TABLE IF NOT EXISTS {{.DB}}.dossier_events_raw {{.OnCluster}} (
    event_id         String,
    dossier_id       String,
    procedure_code   String,
    unit             {{lc}},
    channel          Enum8('online' = 1, 'in_person' = 2),
    state            Enum8('received' = 1, 'in_progress' = 2, 'supplement_requested' = 3, 'resolved' = 4, 'returned' = 5, 'withdrawn' = 6),
    at               DateTime('Asia/Ho_Chi_Minh'),
    at_ms            Int64,
    received_at      DateTime('Asia/Ho_Chi_Minh'),
    received_ms      Int64,
    due_at           DateTime('Asia/Ho_Chi_Minh'),
    due_ms           Int64,
    version          Int64,
    source           {{lc}},
    ingested_ms      Int64,
    kafka_partition  Int32,
    kafka_offset     Int64,
    inserted_at      DateTime DEFAULT now()
) ENGINE = {{engine "ReplacingMergeTree" "dossier_events_raw"}}
PARTITION BY toYear(at)
ORDER BY (dossier_id, at_ms, state, version);
{{if .Cluster}}
CREATE TABLE IF NOT EXISTS {{.DB}}.dossier_events_raw_all {{.OnCluster}}
AS {{.DB}}.dossier_events_raw
ENGINE = {{distributed "dossier_events_raw" "cityHash64(dossier_id)"}};
{{end}}
-- Documents issued by the People's Committees and departments.
CREATE TABLE IF NOT EXISTS {{.DB}}.documents_raw {{.OnCluster}} (
    event_id         String,
    document_id      String,
    unit             {{lc}},
    number           String,
    doc_type         {{lc}},
    issued_at        DateTime('Asia/Ho_Chi_Minh'),
    issued_ms        Int64,
    signed           UInt8,
    version          Int64,
    source           {{lc}},
    ingested_ms      Int64,
    kafka_partition  Int32,
    kafka_offset     Int64,
    inserted_at      DateTime DEFAULT now()
) ENGINE = {{engine "ReplacingMergeTree" "documents_raw"}}
PARTITION BY toYear(issued_at)
ORDER BY (document_id, version);
{{if .Cluster}}
CREATE TABLE IF NOT EXISTS {{.DB}}.documents_raw_all {{.OnCluster}}
AS {{.DB}}.documents_raw
ENGINE = {{distributed "documents_raw" "cityHash64(document_id)"}};
{{end}}
-- Reform-plan tasks: one row per state change (assigned, in_progress, done).
CREATE TABLE IF NOT EXISTS {{.DB}}.task_events_raw {{.OnCluster}} (
    event_id         String,
    task_id          String,
    plan             String,
    plan_year        UInt16,
    main_task        UInt8,
    title            String,
    owner_unit       {{lc}},
    due_date         Date,
    due_ms           Int64,
    state            Enum8('assigned' = 1, 'in_progress' = 2, 'done' = 3),
    at               DateTime('Asia/Ho_Chi_Minh'),
    at_ms            Int64,
    version          Int64,
    source           {{lc}},
    ingested_ms      Int64,
    kafka_partition  Int32,
    kafka_offset     Int64,
    inserted_at      DateTime DEFAULT now()
) ENGINE = {{engine "ReplacingMergeTree" "task_events_raw"}}
ORDER BY (task_id, at_ms, state, version);
{{if .Cluster}}
CREATE TABLE IF NOT EXISTS {{.DB}}.task_events_raw_all {{.OnCluster}}
AS {{.DB}}.task_events_raw
ENGINE = {{distributed "task_events_raw" "cityHash64(task_id)"}};
{{end}}
-- Budget: revenue collected (type revenue, by period and source) and the
-- year's estimates set by the province and by the city People's Council
-- (type estimate). Amounts in whole VND.
CREATE TABLE IF NOT EXISTS {{.DB}}.budget_entries_raw {{.OnCluster}} (
    event_id         String,
    entry_id         String,
    type             Enum8('revenue' = 1, 'estimate' = 2),
    period           String,
    period_start     Date,
    period_start_ms  Int64,
    year             UInt16,
    amount_vnd       Int64,
    source           {{lc}},
    authority        {{lc}},
    at               DateTime('Asia/Ho_Chi_Minh'),
    at_ms            Int64,
    version          Int64,
    system           {{lc}},
    ingested_ms      Int64,
    kafka_partition  Int32,
    kafka_offset     Int64,
    inserted_at      DateTime DEFAULT now()
) ENGINE = {{engine "ReplacingMergeTree" "budget_entries_raw"}}
ORDER BY (entry_id, version);
{{if .Cluster}}
CREATE TABLE IF NOT EXISTS {{.DB}}.budget_entries_raw_all {{.OnCluster}}
AS {{.DB}}.budget_entries_raw
ENGINE = {{distributed "budget_entries_raw" "cityHash64(entry_id)"}};
{{end}}
-- City portal traffic per day.
CREATE TABLE IF NOT EXISTS {{.DB}}.portal_traffic_raw {{.OnCluster}} (
    event_id         String,
    day              Date,
    day_ms           Int64,
    visits           UInt64,
    interactions     UInt64,
    version          Int64,
    source           {{lc}},
    ingested_ms      Int64,
    kafka_partition  Int32,
    kafka_offset     Int64,
    inserted_at      DateTime DEFAULT now()
) ENGINE = {{engine "ReplacingMergeTree" "portal_traffic_raw"}}
ORDER BY (day, version);
{{if .Cluster}}
CREATE TABLE IF NOT EXISTS {{.DB}}.portal_traffic_raw_all {{.OnCluster}}
AS {{.DB}}.portal_traffic_raw
ENGINE = {{distributed "portal_traffic_raw" "cityHash64(day)"}};
{{end}}
-- The province's ratings of the one-stop shops, per unit and period.
CREATE TABLE IF NOT EXISTS {{.DB}}.shop_ratings_raw {{.OnCluster}} (
    event_id         String,
    unit             {{lc}},
    period           String,
    period_year      UInt16,
    rating           Enum8('excellent' = 1, 'good' = 2, 'fair' = 3, 'average' = 4, 'poor' = 5),
    rated_at         DateTime('Asia/Ho_Chi_Minh'),
    rated_ms         Int64,
    version          Int64,
    source           {{lc}},
    ingested_ms      Int64,
    kafka_partition  Int32,
    kafka_offset     Int64,
    inserted_at      DateTime DEFAULT now()
) ENGINE = {{engine "ReplacingMergeTree" "shop_ratings_raw"}}
ORDER BY (unit, period, version);
{{if .Cluster}}
CREATE TABLE IF NOT EXISTS {{.DB}}.shop_ratings_raw_all {{.OnCluster}}
AS {{.DB}}.shop_ratings_raw
ENGINE = {{distributed "shop_ratings_raw" "cityHash64(unit)"}};
{{end}}
-- Registry of the city's units, one row per change: kind (city, department,
-- ward, commune), one-stop shop, digital signature, active or dissolved.
CREATE TABLE IF NOT EXISTS {{.DB}}.org_unit_events_raw {{.OnCluster}} (
    event_id           String,
    unit_id            String,
    name               String,
    kind               Enum8('city' = 1, 'department' = 2, 'ward' = 3, 'commune' = 4),
    one_stop_shop      UInt8,
    digital_signature  UInt8,
    status             Enum8('active' = 1, 'dissolved' = 2),
    at                 DateTime('Asia/Ho_Chi_Minh'),
    at_ms              Int64,
    version            Int64,
    source             {{lc}},
    ingested_ms        Int64,
    kafka_partition    Int32,
    kafka_offset       Int64,
    inserted_at        DateTime DEFAULT now()
) ENGINE = {{engine "ReplacingMergeTree" "org_unit_events_raw"}}
ORDER BY (unit_id, at_ms, status, version);
{{if .Cluster}}
CREATE TABLE IF NOT EXISTS {{.DB}}.org_unit_events_raw_all {{.OnCluster}}
AS {{.DB}}.org_unit_events_raw
ENGINE = {{distributed "org_unit_events_raw" "cityHash64(unit_id)"}};
{{end}}
-- ---- event views: one row per event, newest version -----------------------

CREATE VIEW IF NOT EXISTS {{.DB}}.procedure_events {{.OnCluster}} AS
SELECT code, at_ms, status,
       argMax(event_id, version) AS event_id, argMax(name, version) AS name, argMax(field, version) AS field,
       argMax(level, version) AS level, argMax(processing_days, version) AS processing_days,
       any(at) AS at, max(version) AS latest_version, argMax(source, version) AS source, min(ingested_ms) AS ingested_ms
FROM {{.DB}}.{{.ReadTable "procedure_events_raw"}}
GROUP BY code, at_ms, status;

CREATE VIEW IF NOT EXISTS {{.DB}}.dossier_events {{.OnCluster}} AS
SELECT dossier_id, at_ms, state,
       argMax(event_id, version) AS event_id, argMax(procedure_code, version) AS procedure_code,
       argMax(unit, version) AS unit, argMax(channel, version) AS channel, any(at) AS at,
       argMax(received_ms, version) AS received_ms, argMax(received_at, version) AS received_at,
       argMax(due_ms, version) AS due_ms, argMax(due_at, version) AS due_at,
       max(version) AS latest_version, argMax(source, version) AS source, min(ingested_ms) AS ingested_ms
FROM {{.DB}}.{{.ReadTable "dossier_events_raw"}}
GROUP BY dossier_id, at_ms, state;

CREATE VIEW IF NOT EXISTS {{.DB}}.documents {{.OnCluster}} AS
SELECT document_id,
       argMax(event_id, version) AS event_id, argMax(unit, version) AS unit, argMax(number, version) AS number,
       argMax(doc_type, version) AS doc_type, argMax(issued_at, version) AS issued_at,
       argMax(issued_ms, version) AS issued_ms, argMax(signed, version) AS signed,
       max(version) AS latest_version, argMax(source, version) AS source, min(ingested_ms) AS ingested_ms
FROM {{.DB}}.{{.ReadTable "documents_raw"}}
GROUP BY document_id;

CREATE VIEW IF NOT EXISTS {{.DB}}.task_events {{.OnCluster}} AS
SELECT task_id, at_ms, state,
       argMax(event_id, version) AS event_id, argMax(plan, version) AS plan, argMax(plan_year, version) AS plan_year,
       argMax(main_task, version) AS main_task, argMax(title, version) AS title,
       argMax(owner_unit, version) AS owner_unit, argMax(due_date, version) AS due_date,
       argMax(due_ms, version) AS due_ms, any(at) AS at,
       max(version) AS latest_version, argMax(source, version) AS source, min(ingested_ms) AS ingested_ms
FROM {{.DB}}.{{.ReadTable "task_events_raw"}}
GROUP BY task_id, at_ms, state;

CREATE VIEW IF NOT EXISTS {{.DB}}.budget_entries {{.OnCluster}} AS
SELECT entry_id,
       argMax(event_id, version) AS event_id, argMax(type, version) AS type, argMax(period, version) AS period,
       argMax(period_start, version) AS period_start, argMax(period_start_ms, version) AS period_start_ms,
       argMax(year, version) AS year, argMax(amount_vnd, version) AS amount_vnd,
       argMax(source, version) AS source, argMax(authority, version) AS authority,
       argMax(at, version) AS at, argMax(at_ms, version) AS at_ms,
       max(version) AS latest_version, argMax(system, version) AS system, min(ingested_ms) AS ingested_ms
FROM {{.DB}}.{{.ReadTable "budget_entries_raw"}}
GROUP BY entry_id;

CREATE VIEW IF NOT EXISTS {{.DB}}.portal_traffic {{.OnCluster}} AS
SELECT day,
       argMax(event_id, version) AS event_id, any(day_ms) AS day_ms,
       argMax(visits, version) AS visits, argMax(interactions, version) AS interactions,
       max(version) AS latest_version, argMax(source, version) AS source, min(ingested_ms) AS ingested_ms
FROM {{.DB}}.{{.ReadTable "portal_traffic_raw"}}
GROUP BY day;

CREATE VIEW IF NOT EXISTS {{.DB}}.shop_ratings {{.OnCluster}} AS
SELECT unit, period,
       argMax(event_id, version) AS event_id, argMax(period_year, version) AS period_year,
       argMax(rating, version) AS rating, argMax(rated_at, version) AS rated_at,
       argMax(rated_ms, version) AS rated_ms,
       max(version) AS latest_version, argMax(source, version) AS source, min(ingested_ms) AS ingested_ms
FROM {{.DB}}.{{.ReadTable "shop_ratings_raw"}}
GROUP BY unit, period;

CREATE VIEW IF NOT EXISTS {{.DB}}.org_unit_events {{.OnCluster}} AS
SELECT unit_id, at_ms, status,
       argMax(event_id, version) AS event_id, argMax(name, version) AS name, argMax(kind, version) AS kind,
       argMax(one_stop_shop, version) AS one_stop_shop, argMax(digital_signature, version) AS digital_signature,
       any(at) AS at, max(version) AS latest_version, argMax(source, version) AS source, min(ingested_ms) AS ingested_ms
FROM {{.DB}}.{{.ReadTable "org_unit_events_raw"}}
GROUP BY unit_id, at_ms, status;

-- ---- current state: one row per entity, as the newest events say ---------

-- The catalogue: the newest status of every procedure.
CREATE VIEW IF NOT EXISTS {{.DB}}.procedures {{.OnCluster}} AS
SELECT code,
       argMax(name, k) AS name, argMax(field, k) AS field, argMax(level, k) AS level,
       argMax(processing_days, k) AS processing_days, argMax(status, k) AS status,
       toDateTime(intDiv(max(at_ms), 1000), 'Asia/Ho_Chi_Minh') AS since
FROM (SELECT code, name, field, level, processing_days, status, at_ms, (at_ms, toUInt8(status), version) AS k
      FROM {{.DB}}.{{.ReadTable "procedure_events_raw"}})
GROUP BY code;

-- Dossiers: one row each, with the field of its procedure, its latest
-- state, when it was resolved and whether on time (resolved_at <= due_at,
-- the due time of its latest event). resolved_ms is 0 while unresolved.
CREATE VIEW IF NOT EXISTS {{.DB}}.dossiers {{.OnCluster}} AS
SELECT dossier_id, procedure_code, field, unit, channel, last_state AS state, received_at, received_ms, due_at, due_ms,
       resolved_ms, if(resolved_ms = 0, NULL, toDateTime(intDiv(resolved_ms, 1000), 'Asia/Ho_Chi_Minh')) AS resolved_at,
       settled_ms, resolved_ms > 0 AND resolved_ms <= due_ms AS on_time, resolved_ms > due_ms AS resolved_late, events
FROM (
    SELECT dossier_id,
           argMax(procedure_code, k) AS procedure_code, toString(argMax(unit, k)) AS unit,
           argMax(channel, k) AS channel, argMax(state, k) AS last_state,
           argMax(received_at, k) AS received_at, argMax(received_ms, k) AS received_ms,
           argMax(due_at, k) AS due_at, argMax(due_ms, k) AS due_ms,
           minIf(at_ms, state = 'resolved') AS resolved_ms,
           minIf(at_ms, state IN ('resolved', 'returned', 'withdrawn')) AS settled_ms,
           uniqExact(at_ms, state) AS events
    FROM (SELECT dossier_id, procedure_code, unit, channel, state, received_at, received_ms, due_at, due_ms, at_ms,
                 (at_ms, toUInt8(state), version) AS k
          FROM {{.DB}}.{{.ReadTable "dossier_events_raw"}})
    GROUP BY dossier_id
) ANY LEFT JOIN (
    SELECT code AS procedure_code, toString(argMax(field, (at_ms, version))) AS field
    FROM {{.DB}}.{{.ReadTable "procedure_events_raw"}}
    GROUP BY code
) USING procedure_code;

-- Reform-plan tasks: one row each, with the newest state.
CREATE VIEW IF NOT EXISTS {{.DB}}.tasks {{.OnCluster}} AS
SELECT task_id, plan, plan_year, main_task, title, owner_unit, due_date, last_state AS state,
       if(done_ms = 0, NULL, toDateTime(intDiv(done_ms, 1000), 'Asia/Ho_Chi_Minh')) AS done_at
FROM (
    SELECT task_id,
           argMax(plan, k) AS plan, argMax(plan_year, k) AS plan_year, argMax(main_task, k) AS main_task,
           argMax(title, k) AS title, argMax(owner_unit, k) AS owner_unit, argMax(due_date, k) AS due_date,
           argMax(state, k) AS last_state, minIf(at_ms, state = 'done') AS done_ms
    FROM (SELECT task_id, plan, plan_year, main_task, title, owner_unit, due_date, state, at_ms, (at_ms, toUInt8(state), version) AS k
          FROM {{.DB}}.{{.ReadTable "task_events_raw"}})
    GROUP BY task_id
);

-- The unit registry as it stands.
CREATE VIEW IF NOT EXISTS {{.DB}}.org_units {{.OnCluster}} AS
SELECT unit_id,
       argMax(name, k) AS name, argMax(kind, k) AS kind, argMax(one_stop_shop, k) AS one_stop_shop,
       argMax(digital_signature, k) AS digital_signature, argMax(status, k) AS status,
       toDateTime(intDiv(max(at_ms), 1000), 'Asia/Ho_Chi_Minh') AS since
FROM (SELECT unit_id, name, kind, one_stop_shop, digital_signature, status, at_ms, (at_ms, version) AS k
      FROM {{.DB}}.{{.ReadTable "org_unit_events_raw"}})
GROUP BY unit_id;

-- ---- rollups by day, month, unit and field (Asia/Ho_Chi_Minh) ---------------
-- Views over the deduplicated state, so a replay never counts twice and a
-- late event lands in the day it belongs to. (A materialized view would add
-- up every delivery of an event, duplicates included.)

-- Dossiers per day of the city calendar, unit, field and channel: received
-- that day, resolved that day (on time / late), returned, withdrawn.
CREATE VIEW IF NOT EXISTS {{.DB}}.kpi_dossiers_daily {{.OnCluster}} AS
SELECT day, unit, field, channel,
       sum(received) AS received, sum(resolved) AS resolved, sum(resolved_on_time) AS resolved_on_time,
       sum(resolved_late) AS resolved_late, sum(returned) AS returned, sum(withdrawn) AS withdrawn
FROM (
    SELECT toDate(toDateTime(intDiv(at_ms, 1000), 'Asia/Ho_Chi_Minh')) AS day, unit, field, toString(channel) AS channel,
           toUInt64(state = 'received') AS received, toUInt64(state = 'resolved') AS resolved,
           toUInt64(state = 'resolved' AND at_ms <= due_ms) AS resolved_on_time,
           toUInt64(state = 'resolved' AND at_ms > due_ms) AS resolved_late,
           toUInt64(state = 'returned') AS returned, toUInt64(state = 'withdrawn') AS withdrawn
    FROM (
        SELECT dossier_id, state, min(at_ms) AS at_ms,
               argMax(due_ms, version) AS due_ms, toString(argMax(unit, version)) AS unit,
               argMax(channel, version) AS channel, argMax(procedure_code, version) AS procedure_code
        FROM {{.DB}}.{{.ReadTable "dossier_events_raw"}}
        WHERE state IN ('received', 'resolved', 'returned', 'withdrawn')
        GROUP BY dossier_id, state
    ) ANY LEFT JOIN (
        SELECT code AS procedure_code, toString(argMax(field, (at_ms, version))) AS field
        FROM {{.DB}}.{{.ReadTable "procedure_events_raw"}}
        GROUP BY code
    ) USING procedure_code
)
GROUP BY day, unit, field, channel;

CREATE VIEW IF NOT EXISTS {{.DB}}.kpi_dossiers_monthly {{.OnCluster}} AS
SELECT month, unit, field, channel,
       sum(received) AS received, sum(resolved) AS resolved, sum(resolved_on_time) AS resolved_on_time,
       sum(resolved_late) AS resolved_late, sum(returned) AS returned, sum(withdrawn) AS withdrawn
FROM (
    SELECT toStartOfMonth(toDateTime(intDiv(at_ms, 1000), 'Asia/Ho_Chi_Minh')) AS month, unit, field, toString(channel) AS channel,
           toUInt64(state = 'received') AS received, toUInt64(state = 'resolved') AS resolved,
           toUInt64(state = 'resolved' AND at_ms <= due_ms) AS resolved_on_time,
           toUInt64(state = 'resolved' AND at_ms > due_ms) AS resolved_late,
           toUInt64(state = 'returned') AS returned, toUInt64(state = 'withdrawn') AS withdrawn
    FROM (
        SELECT dossier_id, state, min(at_ms) AS at_ms,
               argMax(due_ms, version) AS due_ms, toString(argMax(unit, version)) AS unit,
               argMax(channel, version) AS channel, argMax(procedure_code, version) AS procedure_code
        FROM {{.DB}}.{{.ReadTable "dossier_events_raw"}}
        WHERE state IN ('received', 'resolved', 'returned', 'withdrawn')
        GROUP BY dossier_id, state
    ) ANY LEFT JOIN (
        SELECT code AS procedure_code, toString(argMax(field, (at_ms, version))) AS field
        FROM {{.DB}}.{{.ReadTable "procedure_events_raw"}}
        GROUP BY code
    ) USING procedure_code
)
GROUP BY month, unit, field, channel;

-- Documents per day and issuing unit: issued, signed digitally.
CREATE VIEW IF NOT EXISTS {{.DB}}.kpi_documents_daily {{.OnCluster}} AS
SELECT toDate(issued_at) AS day, unit, count() AS issued, sum(signed) AS signed
FROM (SELECT document_id, argMax(issued_at, version) AS issued_at, toString(argMax(unit, version)) AS unit,
             toUInt64(argMax(signed, version)) AS signed
      FROM {{.DB}}.{{.ReadTable "documents_raw"}} GROUP BY document_id)
GROUP BY day, unit;

CREATE VIEW IF NOT EXISTS {{.DB}}.kpi_documents_monthly {{.OnCluster}} AS
SELECT toStartOfMonth(issued_at) AS month, unit, count() AS issued, sum(signed) AS signed
FROM (SELECT document_id, argMax(issued_at, version) AS issued_at, toString(argMax(unit, version)) AS unit,
             toUInt64(argMax(signed, version)) AS signed
      FROM {{.DB}}.{{.ReadTable "documents_raw"}} GROUP BY document_id)
GROUP BY month, unit;

-- Budget revenue per month and source, in VND.
CREATE VIEW IF NOT EXISTS {{.DB}}.kpi_budget_monthly {{.OnCluster}} AS
SELECT toStartOfMonth(period_start) AS month, source, sum(amount_vnd) AS revenue_vnd, count() AS entries
FROM (SELECT entry_id, argMax(type, version) AS type, argMax(period_start, version) AS period_start,
             toString(argMax(source, version)) AS source, argMax(amount_vnd, version) AS amount_vnd
      FROM {{.DB}}.{{.ReadTable "budget_entries_raw"}} GROUP BY entry_id)
WHERE type = 'revenue'
GROUP BY month, source;

-- Portal traffic per month.
CREATE VIEW IF NOT EXISTS {{.DB}}.kpi_portal_monthly {{.OnCluster}} AS
SELECT toStartOfMonth(day) AS month, sum(visits) AS visits, sum(interactions) AS interactions, count() AS days
FROM (SELECT day, argMax(visits, version) AS visits, argMax(interactions, version) AS interactions
      FROM {{.DB}}.{{.ReadTable "portal_traffic_raw"}} GROUP BY day)
GROUP BY month;

-- Reform-plan tasks completed per month, by plan year, main task and owner.
CREATE VIEW IF NOT EXISTS {{.DB}}.kpi_tasks_monthly {{.OnCluster}} AS
SELECT toStartOfMonth(toDateTime(intDiv(done_ms, 1000), 'Asia/Ho_Chi_Minh')) AS month, plan_year, main_task, owner_unit,
       count() AS done
FROM (SELECT task_id, minIf(at_ms, state = 'done') AS done_ms, argMax(plan_year, version) AS plan_year,
             argMax(main_task, version) AS main_task, toString(argMax(owner_unit, version)) AS owner_unit
      FROM {{.DB}}.{{.ReadTable "task_events_raw"}} GROUP BY task_id)
WHERE done_ms > 0
GROUP BY month, plan_year, main_task, owner_unit;

-- Procedures per field: published and withdrawn, as the catalogue stands.
CREATE VIEW IF NOT EXISTS {{.DB}}.kpi_procedures_by_field {{.OnCluster}} AS
SELECT field, countIf(status = 'published') AS published, countIf(status = 'withdrawn') AS withdrawn
FROM (SELECT code, toString(argMax(field, k)) AS field, argMax(status, k) AS status
      FROM (SELECT code, field, status, (at_ms, toUInt8(status), version) AS k
            FROM {{.DB}}.{{.ReadTable "procedure_events_raw"}})
      GROUP BY code)
GROUP BY field;
