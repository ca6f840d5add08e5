"""Glue Spark jobs as pure PySpark: bronze CDC and access logs to silver, silver to gold."""
