"""The CloudWatch namespace of every metric the system publishes.

The stacks set it as each function's POWERTOOLS_METRICS_NAMESPACE and point alarms and dashboard
widgets at it; the functions and the Glue jobs fall back to it when run outside a stack.
"""

from __future__ import annotations

NAMESPACE = "TodoInsights"
