"""The licensing products (`api_type`: yt, ml, neyt, dn, mlsi, dt), one module each.

They arrive with the identify HTTP API; the engine under them is lib/engine.py.
"""
