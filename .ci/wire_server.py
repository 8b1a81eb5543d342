"""The wire tier's server: mongoeco's MongoDB wire-protocol server on 127.0.0.1:PORT.

Runs in its own Python 3.13 virtualenv (mongoeco needs 3.13; Folio runs on 3.11+), started and
stopped by `.ci/wire-tier`. It is a stand-in that speaks the protocol, not MongoDB: see
docs/engines.md for what differs.
"""

import asyncio
import signal
import sys

from mongoeco.wire import AsyncMongoEcoProxyServer


async def serve(port: int) -> None:
    """Serve until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = AsyncMongoEcoProxyServer(host="127.0.0.1", port=port)
    await server.start()
    print(f"wire server listening on {server.address}", flush=True)
    await stop.wait()
    await server.close()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
