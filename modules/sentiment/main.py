"""The module's entry point, as iotedgedev's Python template runs it: ``python -u main.py``."""

from edgeship_sentiment.__main__ import main

if __name__ == "__main__":
    main()
