"""Reads of the insights item the loader writes under the user's partition (ADR 0014)."""

from __future__ import annotations

from typing import Any

from todo_api.models.insights import Insights
from todo_api.repository.dynamodb import from_item, key_values
from todo_contracts.keys import insights_key

INSIGHTS_FIELDS = tuple(Insights.model_fields)


class InsightsRepository:
    """GetItem of one user's insights; never written here (the loader owns the writes)."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self.table_name = table_name

    def get(self, user_id: str) -> Insights | None:
        """The insights of `user_id`, or None before a load has seen the user.

        An eventually consistent read: the item changes at most once per gold run, and a read a
        moment stale is still that run's or the previous one's figures.
        """
        response = self._client.get_item(TableName=self.table_name, Key=key_values(insights_key(user_id)))
        item = response.get("Item")
        if not item:
            return None
        values = from_item(item)
        # Attributes the loader leaves out (null in gold) are null in the answer.
        return Insights.model_validate({name: values.get(name) for name in INSIGHTS_FIELDS})
