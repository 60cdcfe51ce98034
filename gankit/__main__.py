import sys

from gankit.tools.cli import main

sys.exit(main())
