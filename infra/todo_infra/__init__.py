"""CDK app: the Data, Api, Etl and Monitoring stacks and the Lambda packaging step."""
