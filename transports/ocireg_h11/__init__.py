"""ocireg transports over h11: the plain h11 client loop on ``socket`` + ``ssl``
(:class:`H11Transport`), and on asyncio streams (:class:`AsyncH11Transport`).

It is written as an outside transport would be, against ocireg's public names
alone: to write your own, read the contract in :class:`ocireg.Transport` (module
``ocireg._transport``) and use this module as an example.
"""

from __future__ import annotations

from ._async import AsyncH11Transport
from ._transport import H11Transport

__all__ = ["AsyncH11Transport", "H11Transport"]
