"""The ``mdembed`` console command: one word per job, each the same as its ``python -m`` form.

    mdembed run ...        python -m mdembed.run ...
    mdembed sweep ...      python -m mdembed.run -m ...
    mdembed eval RUN_DIR   evaluate a finished run's policy again (mdembed.rundir)
    mdembed resume RUN_DIR continue an interrupted run in its directory (mdembed.rundir)
    mdembed aggregate DIR  python -m mdembed.analysis.aggregate DIR
    mdembed plot DIR       python -m mdembed.plot DIR
    mdembed bench          python -m mdembed.bench

Each command's module is imported only when chosen, so ``mdembed --help``
answers at once.
"""

from __future__ import annotations

import sys

from mdembed.core.errors import command

COMMANDS = ("run", "sweep", "eval", "resume", "aggregate", "plot", "bench")


@command  # standard output closed (mdembed --help | head) or full: one line, not a traceback
def main() -> None:
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help", "help"):
        from mdembed.help import print_help

        print_help()
        return
    if args[0] in ("-V", "--version"):
        from mdembed import __version__

        print(f"mdembed {__version__}")
        return
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"mdembed: error: unknown command {name!r}; known: {', '.join(COMMANDS)} (mdembed --help)", file=sys.stderr)
        sys.exit(2)
    sys.argv = [f"mdembed {name}", *rest]
    if name in ("run", "sweep"):
        from mdembed.run import main as run_main

        if name == "sweep" and not {"-m", "--multirun"} & set(rest):
            sys.argv.insert(1, "-m")
        run_main()
    elif name in ("eval", "resume"):
        from mdembed.rundir import eval_main, resume_main

        (eval_main if name == "eval" else resume_main)()
    elif name == "aggregate":
        from mdembed.analysis.aggregate import main as aggregate_main

        aggregate_main()
    elif name == "plot":
        from mdembed.plot import main as plot_main

        plot_main()
    else:
        from mdembed.bench import main as bench_main

        bench_main()


if __name__ == "__main__":
    main()
