"""Data access: the only layer that talks to DynamoDB (boto3 lives here and nowhere above)."""
