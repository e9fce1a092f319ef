"""Cleared: music fingerprinting and copyright clearance.

The pipeline, top to bottom: lib/fingerprint (decode → spectrogram → peaks → hashes →
index → match), lib/store (catalog), lib/engine.py (the provider), lib/cli.py.
"""
