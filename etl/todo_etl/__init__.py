"""ETL: the CDC and metrics Lambdas, the Glue jobs and the lake layout."""
