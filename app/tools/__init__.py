"""Server-side tools: the operator's functions, run by the relay and hidden from the client.

- `spec`: the `RELAY_TOOLS_FILE` format, validated at startup;
- `tracker`: the Sans-I/O `ToolTracker` (upstream events in, commands out);
- `caller`: the shared HTTP client that calls the tool servers;
- `runner`: one session's calls as tasks the session owns.
"""
