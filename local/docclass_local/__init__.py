"""docclass_local: the local stack and CLI (never deployed)."""
