"""`route_req`: the table from `api_type` to its product's `process_<api_type>`."""

from __future__ import annotations

from collections.abc import Callable

from gen.models import Result
from lib.analysis import Analysis
from lib.products.dn import process_dn
from lib.products.dt import process_dt
from lib.products.ml import process_ml
from lib.products.mlsi import process_mlsi
from lib.products.neyt import process_neyt
from lib.products.yt import process_yt

ROUTES: dict[str, Callable[[Analysis], Result]] = {
    "yt": process_yt,
    "ml": process_ml,
    "neyt": process_neyt,
    "dn": process_dn,
    "mlsi": process_mlsi,
    "dt": process_dt,
}


def route_req(api_type: str, analysis: Analysis) -> Result:
    """Ask the product `api_type` (`checked` by the caller) its question of `analysis`."""
    return ROUTES[api_type](analysis)
