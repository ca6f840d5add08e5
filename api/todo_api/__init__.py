"""Todo API: FastAPI app on Lambda (Mangum) over the DynamoDB single table."""
