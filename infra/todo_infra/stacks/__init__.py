"""The four stacks: Data, Api, Etl, Monitoring."""
