-- ioc deadletter replay: what each replayed dead letter became.
INSERT INTO {{raw "dead_letter_replays"}} (dl_id, replayed_at, replayed_ms, outcome, reason, detail, old_reason, source_topic, event_ids, operator, note)
