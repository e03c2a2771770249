"""``python -m w2s_jax`` is ``python -m w2s_jax.sweep``."""

import sys

from w2s_jax.sweep import main

sys.exit(main())
