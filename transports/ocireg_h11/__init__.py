"""An ocireg transport over h11: the plain h11 client loop on ``socket`` + ``ssl``.

It is written as an outside transport would be, against ocireg's public names
alone: to write your own, read the contract in :class:`ocireg.Transport` (module
``ocireg._transport``) and use this module as an example.
"""

from __future__ import annotations

from ._transport import H11Transport

__all__ = ["H11Transport"]
