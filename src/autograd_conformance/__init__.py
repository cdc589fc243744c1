"""autograd-conformance: probes of PyTorch autograd behaviour, a version-aware expectations table, and reports.

The modules, by layer (each imports only from its own layer and the layers above it, type-checking imports
included; one job per module). The README's Layout section is generated from this list.

Vocabulary and policy
    ``facts`` (fact names, value types, kinds and the kind policy: what is compared, what is wording, what
    fails a gate), ``devices`` (the device names, the reference device, availability), ``modes`` (the execution
    modes, eager and compile, and how ids name them), ``normalize`` (message clean-up), ``ids`` (probe ids and
    record keys), ``files`` (atomic writes, files committed together, directory locks), ``errors`` (``ConformanceError``, the base of every error the
    harness reports, ``ProbeError`` and ``StateLeak``), ``text`` (text helpers: shortening, joining, counting).
Probe-facing: what probe modules import
    ``observe`` (the ``Observation`` recorder and the probe context), ``isolation`` (torch's process-wide
    state: known before each probe, checked after it, put back), ``compiled`` (compile mode: a probe run
    under torch.compile, observed by a ``CompiledObservation``), ``dimensions`` (shared dtype and grad-mode
    parametrize lists), ``registry`` (ops with their declared autograd class), ``invariants`` (hypothesis
    properties inside probes), ``opdb`` (torch's OpInfo database, imported without side effects), ``samples``
    (our fixed values for OpInfo samples and the summaries that pin a tensor's values).
The table
    ``tablefile`` (TOML documents to and from disk), ``releases`` (torch versions, the releases a table
    describes and the nearest of them), ``keyindex`` (table keys and patterns, and the index that finds the keys
    of a probe id), ``links`` (the links blocks cite, registered in ``_links.toml``: what each is, the release
    that shipped it, what it touches; checked against the blocks and PyTorch's history), ``expectations`` (the
    table's rows and their meaning: resolution per probe id, torch
    version, device and mode), ``compact`` (folding rows into patterns, with its resolution check).
Judging
    ``verdict`` (comparing an observation with the expectation, the verdicts and their sentence), ``result``
    (``ProbeResult``, the typed record of one probe).
Outputs
    ``report`` (``RunInfo``/``Report``, the JSON record and its schema in ``schema/``, and the one rule for a
    report that is not a full baseline), ``stream`` (the result stream of a run in progress), ``diff``
    (cross-run diff), ``changelog`` (the changes the table states between described releases, and a probe's
    timeline), ``html`` + ``templates/`` (the pages), ``repro`` (repro snippets), ``synthetic`` (reports of any
    size for tests and benchmarks).
Recording: writing the table from what torch did
    ``record`` (the live-run ``Recorder`` and its ``RecordPolicy``, ``pytest --ac-record``), ``merge`` (the
    saved-runs recorder, ``autograd-conformance record``).
The end of a run
    ``outcome`` (``RunOutcome``, how a run ended), ``summary`` (the terminal summary and the verdict line,
    rendered from a ``RunOutcome``).
Entry points
    ``probes`` (probe suites and modules: where probes live, the ``obs`` fixture they get), ``options``
    (``RunOptions``, parsed once), ``session`` (one run: options to ``RunOutcome``), ``items`` (pytest items as
    probes), ``transport`` (how results ride on pytest's reports to the collecting process), ``runner`` (hooks
    of the processes that run probes), ``collector`` (hooks of the process that collects results and ends the
    run), ``schedule`` (xdist scheduling that keeps the ops family on one worker), ``plugin`` (pytest options,
    collection, and each process's roles), ``history`` (recording the table on every described torch release),
    ``accept`` (a candidate torch's differences stated in a team's own layer, ``autograd-conformance accept``),
    ``scaffold`` (``init``: a team's own suite), ``launch`` (``run``: pytest on the bundled suite),
    ``arguments`` (the command line's shared argument helpers), ``cli`` (the ``autograd-conformance`` command),
    ``direct`` (probes without pytest: the benchmark's floor).

(PYTEST_DONT_REWRITE: ``autograd-conformance run`` imports the package before pytest starts; the harness
states its checks as errors, not asserts, so nothing is lost by not rewriting it.)
"""

__version__ = "0.1.0"
