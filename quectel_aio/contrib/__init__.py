"""Adapters that put module SSL sockets under common asyncio libraries.

* :mod:`quectel_aio.contrib.aiohttp`: ``ModemConnector`` for ``aiohttp.ClientSession``.
* :mod:`quectel_aio.contrib.httpx`: ``ModemTransport`` for ``httpx.AsyncClient``.
* :mod:`quectel_aio.contrib.anyio`: ``ModemByteStream``, an ``anyio.abc.ByteStream``.

Each submodule imports its library on import; install the matching extra
(``quectel-aio[aiohttp]``, ``quectel-aio[httpx]``). TLS always runs on the
module: host-side ``ssl.SSLContext`` objects are refused, and the server is
verified against the CA in the :class:`~quectel_aio.SSLConfig` you pass.
"""

from __future__ import annotations
