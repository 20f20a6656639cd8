-- What Migrate creates before any migration: the database and the table
-- recording the migrations applied (not a migration itself, so not in sql/).
-- Engine is TinyLog on one node; in cluster mode one replicated table
-- shared by every server (one ZooKeeper path, each server a replica), so
-- that whichever server the migration reaches next knows what was applied.
CREATE DATABASE IF NOT EXISTS {{.DB}}{{.OnCluster}};
CREATE TABLE IF NOT EXISTS {{.DB}}.schema_migrations{{.OnCluster}}
    (version UInt32, name String, server String, applied_at DateTime DEFAULT now())
    ENGINE = {{.Engine}};
