"""What every stage shares: configuration, the Spark session, IO, the run ledger, masking, errors and the CLI."""
