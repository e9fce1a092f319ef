"""Cleared: music fingerprinting and copyright clearance.

The pipeline, top to bottom: lib/fingerprint (decode → spectrogram → peaks → hashes →
index → match), lib/store (catalog), lib/core/recognizer.py (the provider), lib/cli/main.py.
"""
