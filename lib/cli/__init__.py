"""`python -m lib ...`: the command line. Every command builds `Settings`, then a `Service`."""
