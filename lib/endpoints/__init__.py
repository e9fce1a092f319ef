"""The six products, one module each; `route_req` dispatches a request to its product.

Each module answers one licensing question (its docstring says which) over the same
analysis of the media (the catalog segments heard in it), with `process_<api_type>(analysis)`.
"""

from __future__ import annotations

from collections.abc import Callable

from gen.models import Result
from lib.endpoints.dn import process_dn
from lib.endpoints.dt import process_dt
from lib.endpoints.ml import process_ml
from lib.endpoints.mlsi import process_mlsi
from lib.endpoints.neyt import process_neyt
from lib.endpoints.yt import process_yt
from lib.engine import Analysis

ROUTES: dict[str, Callable[[Analysis], Result]] = {
    "yt": process_yt,
    "ml": process_ml,
    "neyt": process_neyt,
    "dn": process_dn,
    "mlsi": process_mlsi,
    "dt": process_dt,
}


def route_req(api_type: str, analysis: Analysis) -> Result:
    """Ask the product `api_type` (validated by the caller) its question of `analysis`."""
    return ROUTES[api_type](analysis)
