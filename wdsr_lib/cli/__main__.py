"""`python -m wdsr_lib.cli`: the `wdsr` command."""
import sys

from wdsr_lib.cli.main import main

sys.exit(main())
