"""Business logic: users, tasks, cursors, preconditions and idempotency (no boto3 here)."""
