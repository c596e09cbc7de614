"""Storage: key-value backends, the journal, the database schema, the Chain store, signature workers, tuning."""
