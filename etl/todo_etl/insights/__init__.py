"""The insights loader: each gold run's per-user insights, loaded back into the table (ADR 0014)."""
