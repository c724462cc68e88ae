"""Process runtime: the warm fork server, its client, and GPU device claims (imports core only)."""
