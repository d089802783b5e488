"""A faithful local stand-in for the Azure OpenAI realtime WebSocket service (GA and preview).

Start one with ``async with Simulator() as sim:`` and point the relay at ``sim.url``;
run it standalone with ``python -m app.simulator``. It is never the real service.
"""

from app.simulator.connection import SimConnection
from app.simulator.handshake import Handshake
from app.simulator.server import Simulator

__all__ = ["Handshake", "SimConnection", "Simulator"]
