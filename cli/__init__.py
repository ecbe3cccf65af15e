"""The `qlog` command-line interface (installed as the `qlog_cli` package)."""
