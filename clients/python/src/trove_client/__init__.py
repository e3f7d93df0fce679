"""Python client for Trove, the knowledge and memory server: `Trove` (blocking) and
`AsyncTrove` (asyncio) over its REST API, with typed models, API key or session auth, retries
of 429 and 503 answers honouring `Retry-After`, time limits, and `TroveError` carrying the
server's error `code`."""

__version__ = "0.1.0"

from ._async import AsyncTrove
from ._core import NO_RETRIES, RetryPolicy
from ._errors import TroveConnectionError, TroveError
from ._models import Answer, Citation, Document, DocumentDetail, Job, JobError, Memory, Page, SearchHit, SearchResult, Vault
from ._sync import Trove

__all__ = [
    "Answer",
    "AsyncTrove",
    "Citation",
    "Document",
    "DocumentDetail",
    "Job",
    "JobError",
    "Memory",
    "NO_RETRIES",
    "Page",
    "RetryPolicy",
    "SearchHit",
    "SearchResult",
    "Trove",
    "TroveConnectionError",
    "TroveError",
    "Vault",
]
