"""The recommendation engine: dbt models in, validated recommendations and reviewed config versions out.

- :mod:`.inputs` reads the analytics models (never raw tables) into one JSON-able dictionary;
- :mod:`.prompt` renders it with a versioned template; :mod:`.providers` asks an LLM or the offline
  :mod:`.rules`; :mod:`.validate` checks every item; :mod:`.engine` writes the session and its
  recommendations in one transaction; :mod:`.review` approves, rejects and applies them.
"""
