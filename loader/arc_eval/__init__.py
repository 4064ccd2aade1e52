"""arc-eval: storage and analytics for evaluating AI agents.

Sandbox code imports the clients from here; see the README for the API.
"""

__version__ = "0.1.0"
