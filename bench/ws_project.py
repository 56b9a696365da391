"""fanout.py's project server: the app as `journeys serve` builds it (embedded mode, settings
from the environment, on a migrated database), served by uvicorn after `ws_server`'s set-up.

Started by the driver: `python bench/ws_project.py --port P --ws-ping S --uvicorn-options JSON`.
"""

from __future__ import annotations

import uvicorn
from ws_server import arguments, prepare_process, uvicorn_options


def main() -> None:
    args = arguments("ws_project.py").parse_args()
    prepare_process()
    from gql.app import create_app
    from service.services import Services
    from service.settings import Settings

    services = Services.from_settings(Settings.from_env())
    uvicorn.run(create_app(services), **uvicorn_options(args))


if __name__ == "__main__":
    main()
