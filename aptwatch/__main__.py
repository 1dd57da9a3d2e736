from aptwatch.cli import main

main()
