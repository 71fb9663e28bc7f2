from touchpoints.cli.main import cli

cli()
