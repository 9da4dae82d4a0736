"""The checkout's maintenance commands (python -m tools.NAME), not part of the installed package."""
