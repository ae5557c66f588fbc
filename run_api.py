"""The HTTP API from a checkout: `python run_api.py` is the `stars-api` command
(api/main.py), for a checkout that was not installed."""

import sys

from api.main import main

if __name__ == "__main__":
    sys.exit(main())
