"""autograd-conformance: probes of PyTorch autograd behaviour, a version-aware expectations table, and reports.

The modules, by layer (each imports only from the layers above it; one job per module):

Vocabulary and policy
    ``facts`` (fact names, value types, kinds and the kind policy: what is compared, what is wording, what
    fails a gate), ``devices`` (the device names, the reference device, availability), ``modes`` (the execution
    modes, eager and compile, and how ids name them), ``normalize``
    (message clean-up), ``ids`` (probe ids and record keys), ``files`` (atomic writes).
Probe-facing: what probe modules import
    ``observe`` (the ``Observation`` recorder and the probe context), ``compiled`` (compile mode: a probe run
    under torch.compile, observed by a ``CompiledObservation``), ``dimensions`` (shared dtype and grad-mode
    parametrize lists), ``registry`` (ops with their declared autograd class), ``invariants`` (hypothesis
    properties inside probes), ``opdb`` (torch's OpInfo database, imported without side effects).
The table
    ``tablefile`` (TOML documents to and from disk), ``expectations`` (the table's meaning: resolution per
    probe id, torch version, device and mode), ``compact`` (folding rows into patterns, with its resolution check).
Judging
    ``verdict`` (comparing an observation with the expectation), ``result`` (``ProbeResult``, the typed record
    of one probe).
Outputs
    ``report`` (``RunInfo``/``Report``, the JSON record and its schema in ``schema/``), ``stream`` (the result
    stream of a run in progress), ``summary`` (terminal summary lines), ``html`` + ``templates/`` (the pages),
    ``diff`` (cross-run diff), ``changelog`` (the changes the table states between described releases),
    ``repro`` (repro snippets), ``synthetic`` (reports of any size for tests and benchmarks).
Recording: writing the table from what torch did
    ``record`` (the live-run recorder, ``pytest --ac-record``), ``merge`` (the saved-runs recorder,
    ``autograd-conformance record``).
Entry points
    ``probes`` (probe suites and modules: where probes live, the ``obs`` fixture they get), ``plugin``
    (pytest options and thin hooks), ``session`` (one run: options to exit status), ``schedule`` (xdist
    scheduling that keeps the ops family on one worker),
    ``options`` (``RunOptions``, parsed once), ``items`` (pytest items as probes), ``history`` (recording the
    table on every described torch release), ``cli`` (the ``autograd-conformance`` command), ``direct`` (probes
    without pytest: the benchmark's floor).

(PYTEST_DONT_REWRITE: ``autograd-conformance run`` imports the package before pytest starts; the harness
states its checks as errors, not asserts, so nothing is lost by not rewriting it.)
"""

__version__ = "0.1.0"
