"""`python -m gateway.cli`: how `intake up` starts its children and how tests run the real command."""

from gateway.cli.main import main

main()
