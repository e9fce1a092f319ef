"""The six products, one module each; `route_req` dispatches a request to its product.

Each module answers one licensing question (its docstring says which) over the same
analysis of the media (the catalog segments heard in it), with `process_<api_type>(analysis)`.
"""

from __future__ import annotations

from collections.abc import Callable

from gen.models import Result
from lib.analysis import Analysis
from lib.errors import NotFound
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


API_TYPES = list(ROUTES)  # what `api_type` may be; openapi.yaml's ApiType lists the same (a test checks)
FINGERPRINT = "fingerprint"  # the fingerprint-index API (/api/v1/...), sold as a product of its own
PRODUCTS = [*API_TYPES, FINGERPRINT]  # what a key may include


def checked(api_type: str) -> str:
    """`api_type` if a product has that name, else `NotFound` naming the products there are."""
    if api_type not in ROUTES:
        raise NotFound("unknown_api_type", f"no product {api_type!r}; the products are {', '.join(API_TYPES)}")
    return api_type


def route_req(api_type: str, analysis: Analysis) -> Result:
    """Ask the product `api_type` (`checked` by the caller) its question of `analysis`."""
    return ROUTES[api_type](analysis)
