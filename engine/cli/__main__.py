import sys

try:
    from . import main
except KeyboardInterrupt:          # Ctrl-C before the command's own handler is in place
    sys.exit(130)

sys.exit(main())
