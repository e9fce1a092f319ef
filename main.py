"""Entry point of the deployed service.

The HTTP entry for Google Cloud Functions (`api(request)`, served by
functions-framework) arrives with the identify API; until then this runs the command
line, so `python main.py identify FILE` works like `python -m lib identify FILE`.
"""

import sys

from lib.cli import main

if __name__ == "__main__":
    sys.exit(main())
