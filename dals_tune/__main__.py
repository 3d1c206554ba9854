"""`python -m dals_tune ...`"""

from dals_tune.cli import main

raise SystemExit(main())
