"""What running the service needs around it: structured logs, the catalog fetched at start."""
