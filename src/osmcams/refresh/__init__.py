"""The cron refresh: its configuration, a run, the mirror of cameras, the backfill."""
