"""Allow ``python -m explore``."""

from explore.cli.main import main

# Fixed prog_name so messages say "explore", not "python -m explore".
main(prog_name="explore")
