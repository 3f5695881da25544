from paneseal.cli.main import main

main()
