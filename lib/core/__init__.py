"""The use cases, with no web framework: identify, ingest, uploads, tasks and their
workers, webhooks, safe downloads, covers and waveforms, wired together by `Service`."""
