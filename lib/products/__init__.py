"""The six products, one module each; `route_req` (routes.py) dispatches a request to its product.

Each module answers one licensing question (its docstring says which) over the same
analysis of the media (the catalog segments heard in it), with `process_<api_type>(analysis)`.
The names live here, apart from the routes, so that what only needs the names (the
command line's parser, key checks) does not load the products and the API's models.
"""

from __future__ import annotations

from lib.errors import NotFound

# what `api_type` may be; routes.py and openapi.yaml's ApiType list the same (tests check)
API_TYPES = ["yt", "ml", "neyt", "dn", "mlsi", "dt"]
FINGERPRINT = "fingerprint"  # the fingerprint-index API (/api/v1/...), sold as a product of its own
STREAMS = "streams"  # stream monitoring (/api/v1/streams), billed by the minute listened
PRODUCTS = [*API_TYPES, FINGERPRINT, STREAMS]  # what a key may include


def checked(api_type: str) -> str:
    """`api_type` if a product has that name, else `NotFound` naming the products there are."""
    if api_type not in API_TYPES:
        raise NotFound("unknown_api_type", f"no product {api_type!r}; the products are {', '.join(API_TYPES)}")
    return api_type
