"""Tables and repositories of the compatibility APIs (issue 5), one module per vendor.

Each module defines its models on `helpline.store.models.Base` and a repository that takes
`(scope, clock)` like the others; `helpline.store.facade.Repositories` attaches it. Importing
this package registers the models, so `Base.metadata` holds them wherever the store is used.
"""

from helpline.store.compat import (
    callfire,  # noqa: F401
    ccai,  # noqa: F401
    stringee,  # noqa: F401
)
