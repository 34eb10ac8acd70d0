from edgeship.cli.main import main

main()
