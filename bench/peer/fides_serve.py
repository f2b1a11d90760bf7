"""Start the Fides webserver on a loopback address.

`fides webserver` binds 0.0.0.0; this does the same thing (the same config check and the
same uvicorn server over `fides.api.main.app`) bound to the host given, so that the peer
comparison listens on loopback only. Usage: fides_serve.py HOST PORT
"""

import sys
from logging import WARNING

from uvicorn import Config, Server

from fides.api.main import app
from fides.config import CONFIG, check_required_webserver_config_values


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    check_required_webserver_config_values(config=CONFIG)
    Server(Config(app, host=host, port=port, log_level=WARNING)).run()


if __name__ == "__main__":
    main()
