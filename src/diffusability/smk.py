"""What every workflow/scripts adapter needs: the job's log file as stdout/stderr and logging."""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path


@contextlib.contextmanager
def logged(snakemake):
    """Send the job's prints, progress bars, warnings and tracebacks to its `log:` file."""
    log_file = Path(snakemake.log[0])
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("w", buffering=1) as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        logging.basicConfig(stream=f, level=logging.INFO, force=True,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.captureWarnings(True)
        try:
            yield
        except BaseException:
            logging.exception("job failed")
            raise
