"""Flask extension objects, created unbound here and initialised by the app factory."""

from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
babel = Babel()
