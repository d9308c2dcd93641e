"""The registry's HTTP API: one small router per area, all behind bearer keys and roles.

Importing this package costs nothing; ``app.create_app`` pulls in FastAPI, so the command
line stays fast for everything but ``scs serve``.
"""
