from ocireg.cli import main

raise SystemExit(main())
