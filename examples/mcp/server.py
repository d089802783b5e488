"""An example MCP server for the relay: a tiny knowledge base with one `search` tool.

Run it beside the relay (see the README, "MCP servers"):

    .venv/bin/python -m examples.mcp.server        # Streamable HTTP on 127.0.0.1:8200/mcp

The relay passes the caller it authenticated and the session id in each
request's `_meta` (`identity`, absent with RELAY_AUTH=none, and `session_id`);
this server shows the internal article only to the identity `support-web`.
"""

from __future__ import annotations

import argparse
from typing import Any

from mcp.server.mcpserver import Context, MCPServer

__all__ = ["ARTICLES", "create_server"]

# topic -> (audience identity, or None for everyone; the answer)
ARTICLES: dict[str, tuple[str | None, str]] = {
    "returns": (None, "Returns are free within 30 days; start one from the order page."),
    "refund-override": ("support-web", "Agents may refund up to 50 EUR without approval."),
}


def create_server() -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer("knowledge-base")

    @server.tool()
    def search(topic: str, ctx: Context) -> str:
        """Find the knowledge-base article on a topic, such as "returns"."""
        identity = (ctx.request_context.meta or {}).get("identity")
        article = ARTICLES.get(topic.strip().lower())
        if article is None or article[0] not in (None, identity):
            return "No article found."
        return article[1]

    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8200)
    args = parser.parse_args()
    import uvicorn

    uvicorn.run(create_server().streamable_http_app(), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
