"""`python -m worker` is `digestcast`."""

from worker.cli import main

main()
