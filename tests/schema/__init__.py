"""Server events checked against the official schema, event by event."""
