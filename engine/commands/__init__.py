"""One module per `distill` subcommand: HELP, add_arguments(parser), run(args) -> int."""
