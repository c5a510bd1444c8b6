"""Background jobs: a huey queue (SQLite file by default, Redis when CIVICPULSE_REDIS_URL is set) and schedules."""
