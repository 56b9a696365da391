"""The dashboard's browser files (static/), served by gql/dashboard.py.

static/vendor/ holds third-party files built by `make vendor` from
package-lock.json (build.mjs); they are committed, so serving needs no Node.
"""

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
