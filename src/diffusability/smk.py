"""What every workflow/scripts adapter needs: the job's log file as stdout/stderr and logging, and a provenance
sidecar (`<name>.provenance.json`) beside every CSV the job writes."""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path


def _plain(obj):
    """Snakemake's Namedlists and the like as JSON-ready lists and dicts."""
    if hasattr(obj, "items"):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj if isinstance(obj, (str, int, float, bool, type(None))) else str(obj)


def write_sidecars(snakemake) -> None:
    """One provenance file per CSV output: the rule, its wildcards, params and inputs, the resolved workflow
    config, the git commit and package versions."""
    from .provenance import provenance, write_json
    csvs = [Path(f) for f in snakemake.output if str(f).endswith(".csv")]
    if not csvs:
        return
    record = provenance(config=_plain(snakemake.config))
    record.update(rule=snakemake.rule, wildcards=_plain(dict(snakemake.wildcards.items())),
                  params=_plain(dict(snakemake.params.items())), inputs=[str(f) for f in snakemake.input])
    for csv in csvs:
        write_json(csv.with_suffix(".provenance.json"), record)


@contextlib.contextmanager
def logged(snakemake):
    """Send the job's prints, progress bars, warnings and tracebacks to its `log:` file; on success, write the
    provenance sidecars of its CSV outputs."""
    log_file = Path(snakemake.log[0])
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("w", buffering=1) as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        logging.basicConfig(stream=f, level=logging.INFO, force=True,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.captureWarnings(True)
        try:
            yield
            write_sidecars(snakemake)
        except BaseException:
            logging.exception("job failed")
            raise
