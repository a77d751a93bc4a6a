"""``python -m mdembed ...``: the ``mdembed`` command (:mod:`mdembed.command`)."""

from mdembed.command import main

main()
