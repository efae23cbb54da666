import sys

try:
    from engine.cli import main
except KeyboardInterrupt:          # Ctrl-C before the command's own handler is in place
    sys.exit(130)

sys.exit(main())
