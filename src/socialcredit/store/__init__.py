"""Storage: the schema, the ledger and the registry over SQLite or PostgreSQL."""
