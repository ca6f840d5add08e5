"""The metrics Lambda: publishes the gold KPI snapshot as CloudWatch metrics (EMF), no table scans."""
