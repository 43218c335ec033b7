"""/compat/callfire: CallFire Call Center Connect (seed 003) on the native engine and store.

`routes.py` has the methods, `common.py` their parameters, key and error shape; the dialer
behind them is `helpline.core.dialer`, run by `helpline.runtime.campaigns`.
"""

from helpline.api.compat.callfire.common import validation_format
from helpline.api.compat.callfire.routes import router
from helpline.api.errors import register_validation_format

register_validation_format("/compat/callfire", validation_format)

__all__ = ["router"]
