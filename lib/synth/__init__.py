"""Generated audio with known answers: the demo catalog's songs and mixes of them
(numpy and soundfile only; tests, benchmarks and `make run` use it)."""
