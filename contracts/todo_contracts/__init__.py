"""Facts every part of the system shares, in one place: API, ETL, infra and the local platform.

Standard library only, so every Lambda bundle, the Glue library zip and the CDK app can carry it:

- `table`: the DynamoDB single table (keys, indexes, stream view, TTL, entity types);
- `lake_layout`: the lake (layers, folders, object keys, every table's columns);
- `timestamps`: the one RFC 3339 spelling of an instant the system writes;
- `metrics`: the CloudWatch namespace every function publishes to;
- `routes`: the API's public (unauthenticated) routes;
- `identity`: the user pool's password policy;
- `limits`: the dev stage's rate limits and the stream mapping's batch size and retries.

The local parity tests (`infra/tests/test_infra_local_parity.py`) check that the CDK stacks and
the local platform both take these values from here.
"""
