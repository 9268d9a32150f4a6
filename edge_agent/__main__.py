"""``python -m edge_agent``: the same CLI as ``mobilytics-agent``."""

from edge_agent.cli import app

app(prog_name="mobilytics-agent")
