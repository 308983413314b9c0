"""Allow ``python -m explore``."""

from explore.cli import main

# Fixed prog_name so messages say "explore", not "python -m explore".
main(prog_name="explore")
