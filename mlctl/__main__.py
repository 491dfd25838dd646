from mlctl.cli import main

raise SystemExit(main())
