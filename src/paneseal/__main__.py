from paneseal.cli.entry import main

main()
