"""moto's server for the tests, with the backend serving one request at a time.

DynamoDB applies a conditional write or a transaction atomically against concurrent ones;
moto's threaded server does not (two concurrent transactions can both pass their
conditions), and the store contract's concurrency tests would see that as a hookpost bug.
Connections are still handled concurrently; only the backend work is serialized.

Usage: python3 scripts/moto_server.py HOST PORT
"""

import os
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialized(environ, start_response):
        with lock:
            return list(app(environ, start_response))

    run_simple(host, port, serialized, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
