"""The CDC function: DynamoDB stream records become bronze records delivered through Firehose."""
