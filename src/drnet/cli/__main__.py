from drnet.cli import main

raise SystemExit(main())
